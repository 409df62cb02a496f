//! What a request path names: a resource, maybe a namespace, a name and a subresource.

use crate::registry::{Registry, Resource};
use crate::status::{ApiError, ApiResult};

/// The object or collection a resource path names.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    /// Parses `/api/v1/...` or `/apis/<group>/<version>/...` (the part after
    /// the group/version is `rest`).
    pub fn parse(registry: &Registry, group: &str, version: &str, rest: &[&str]) -> ApiResult<Self> {
        let lookup = |plural: &str| registry.get(group, version, plural).cloned().ok_or_else(ApiError::no_such_path);
        let (namespace, rest) = match rest {
            // `namespaces/<ns>/<resource>...`, unless it is a namespace's own subresource.
            ["namespaces", ns, resource, ..] if !(group.is_empty() && matches!(*resource, "status" | "finalize")) => {
                (Some((*ns).to_owned()), &rest[2..])
            }
            _ => (None, rest),
        };
        let target = match rest {
            [plural] => Target { resource: lookup(plural)?, namespace, name: None, subresource: None },
            [plural, name] => {
                Target { resource: lookup(plural)?, namespace, name: Some((*name).to_owned()), subresource: None }
            }
            [plural, name, sub] => {
                let resource = lookup(plural)?;
                if !resource.subresources.contains(sub) {
                    return Err(ApiError::no_such_path());
                }
                Target { resource, namespace, name: Some((*name).to_owned()), subresource: Some((*sub).to_owned()) }
            }
            _ => return Err(ApiError::no_such_path()),
        };
        if target.namespace.is_some() && !target.resource.namespaced {
            return Err(ApiError::no_such_path());
        }
        Ok(target)
    }

    /// The namespace for the store: only for namespaced resources.
    pub fn ns(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|_| self.resource.namespaced)
    }

    /// The object's name, or 405 for a collection path.
    pub fn name(&self) -> ApiResult<&str> {
        self.name.as_deref().ok_or_else(ApiError::method_not_allowed)
    }
}
