//! The resource registry: every served kind described once, as data, and
//! looked up by the handlers (by path), discovery and storage.

mod builtin;

/// Verbs of a resource that supports everything (most kinds).
pub const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// One served resource: a kind in a group/version, its names and how it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group; "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural name used in paths, e.g. "deployments".
    pub plural: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Subresources served under `<name>/<subresource>`; "status" splits status writes off.
    pub subresources: &'static [&'static str],
    /// The store key prefix, as kube-apiserver lays it out in etcd (e.g. "/registry/minions" for nodes).
    pub storage_prefix: &'static str,
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_owned() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The singular name: the kind in lower case, as upstream derives it.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The kind of a list of these, e.g. "DeploymentList".
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `deployments.apps`, or `pods` for the core group: how messages name the resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() { self.plural.to_owned() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// Whether the kind has a status that only the status subresource writes.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether objects of the kind are answered, not stored (the review APIs).
    pub fn is_review(&self) -> bool {
        self.storage_prefix.is_empty()
    }

    /// The warning kube-apiserver sends with every request for a deprecated resource.
    pub fn deprecation_warning(&self) -> Option<&'static str> {
        match (self.group, self.version, self.plural) {
            ("", "v1", "endpoints") => {
                Some("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
            }
            _ => None,
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{ns}/{name}", self.storage_prefix),
            _ => format!("{}/{name}", self.storage_prefix),
        }
    }

    /// The store prefix of all objects (in one namespace, or in all).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{ns}/", self.storage_prefix),
            _ => format!("{}/", self.storage_prefix),
        }
    }
}

/// All served resources, indexed for the lookups requests make.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<Resource>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The built-in Kubernetes resources skiff serves.
    pub fn builtin() -> Self {
        Self { resources: builtin::resources() }
    }

    /// The resource at `/apis/<group>/<version>/<plural>` (group "" for `/api/v1`).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        // A scan: a few dozen entries, cheaper than hashing three strings.
        self.resources.iter().find(|r| r.plural == plural && r.group == group && r.version == version)
    }

    /// Every resource, in registration order.
    pub fn all(&self) -> &[Resource] {
        &self.resources
    }

    /// The groups and their versions, in the order discovery lists them (core first).
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut seen = Vec::new();
        for r in &self.resources {
            if !seen.contains(&(r.group, r.version)) {
                seen.push((r.group, r.version));
            }
        }
        seen
    }

    /// The resources of one group/version.
    pub fn in_group_version<'a>(&'a self, group: &'a str, version: &'a str) -> impl Iterator<Item = &'a Resource> {
        self.resources.iter().filter(move |r| r.group == group && r.version == version)
    }
}
