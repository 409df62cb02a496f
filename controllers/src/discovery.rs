//! What the API server serves, as kube-controller-manager's discovery client
//! sees it: every group version's resources with their verbs and scope, the
//! preferred version of each resource, and the group versions that could not
//! be listed (a partial answer is still an answer, as upstream's
//! `ErrGroupDiscoveryFailed`). The garbage collector and the namespace
//! controller both start from it.

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::discovery::ApiResource;

/// One served resource (no subresources) of one group version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    pub api: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ServedResource {
    /// Whether discovery lists `verb` for it.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `resource.group` as upstream's messages print a GroupResource (`pods.`, `deployments.apps`).
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.api.plural, self.api.group)
    }
}

/// Everything discovery returned, in preference order: groups as the server
/// lists them (core first), each group's preferred version first.
#[derive(Debug, Clone, Default)]
pub struct ServerResources {
    pub resources: Vec<ServedResource>,
    /// Group versions whose resource list could not be fetched, with the error.
    pub failed: Vec<(String, String)>,
    /// Group version strings that do not parse.
    pub unparsable: Vec<String>,
}

impl ServerResources {
    /// Lists every group version. Fails only when the group lists themselves fail.
    pub async fn discover(client: &kube::Client) -> Result<Self, kube::Error> {
        let mut found = Self::default();
        let core = client.list_core_api_versions().await?;
        for version in &core.versions {
            match client.list_core_api_resources(version).await {
                Ok(list) => found.add(&list),
                Err(error) => found.failed.push((version.clone(), error.to_string())),
            }
        }
        let groups = client.list_api_groups().await?;
        for group in &groups.groups {
            let preferred = group.preferred_version.as_ref().map(|v| v.group_version.as_str());
            let mut versions: Vec<&str> = preferred.into_iter().collect();
            versions.extend(group.versions.iter().map(|v| v.group_version.as_str()).filter(|v| Some(*v) != preferred));
            for group_version in versions {
                match client.list_api_group_resources(group_version).await {
                    Ok(list) => found.add(&list),
                    Err(error) => found.failed.push((group_version.to_owned(), error.to_string())),
                }
            }
        }
        Ok(found)
    }

    /// Adds one group version's resources (subresources are skipped).
    pub fn add(&mut self, list: &APIResourceList) {
        let Some((group, version)) = parse_group_version(&list.group_version) else {
            self.unparsable.push(list.group_version.clone());
            return;
        };
        for resource in list.resources.iter().filter(|r| !r.name.contains('/')) {
            let group = resource.group.clone().unwrap_or_else(|| group.to_owned());
            let version = resource.version.clone().unwrap_or_else(|| version.to_owned());
            let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
            self.resources.push(ServedResource {
                api: ApiResource {
                    group,
                    version,
                    api_version,
                    kind: resource.kind.clone(),
                    plural: resource.name.clone(),
                },
                namespaced: resource.namespaced,
                verbs: resource.verbs.clone(),
            });
        }
    }

    /// Each resource once, at its group's most preferred version that serves it
    /// (client-go's `ServerPreferredResources`).
    pub fn preferred(&self) -> Vec<&ServedResource> {
        let mut seen = HashSet::new();
        self.resources.iter().filter(|r| seen.insert((r.api.group.as_str(), r.api.plural.as_str()))).collect()
    }

    /// The resource serving `kind` at `api_version` (any served version).
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<&ServedResource> {
        self.resources.iter().find(|r| r.api.api_version == api_version && r.api.kind == kind)
    }

    /// Upstream's `ErrGroupDiscoveryFailed` text, when some group versions failed.
    pub fn failure_message(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let mut groups: Vec<String> = self.failed.iter().map(|(gv, error)| format!("{gv}: {error}")).collect();
        groups.sort();
        Some(format!("unable to retrieve the complete list of server APIs: {}", groups.join(", ")))
    }
}

/// `group/version` or a core `version`; `None` for anything with more slashes or empty.
pub fn parse_group_version(group_version: &str) -> Option<(&str, &str)> {
    match group_version.split('/').collect::<Vec<_>>().as_slice() {
        [""] => None,
        [version] => Some(("", version)),
        [group, version] if !version.is_empty() => Some((group, version)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    use super::*;

    fn list(group_version: &str, resources: &[(&str, &str, bool, &[&str])]) -> APIResourceList {
        APIResourceList {
            group_version: group_version.into(),
            resources: resources
                .iter()
                .map(|(name, kind, namespaced, verbs)| APIResource {
                    name: (*name).into(),
                    kind: (*kind).into(),
                    namespaced: *namespaced,
                    verbs: verbs.iter().map(|v| (*v).to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn preferred_keeps_the_first_version_of_each_resource_and_skips_subresources() {
        let mut found = ServerResources::default();
        found.add(&list("autoscaling/v2", &[("horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["list"])]));
        found.add(&list(
            "autoscaling/v1",
            &[
                ("horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["list"]),
                ("horizontalpodautoscalers/status", "HorizontalPodAutoscaler", true, &["get"]),
                ("onlyinv1", "OnlyInV1", false, &["list"]),
            ],
        ));
        let preferred: Vec<_> =
            found.preferred().iter().map(|r| r.api.api_version.clone() + " " + &r.api.plural).collect();
        assert_eq!(preferred, ["autoscaling/v2 horizontalpodautoscalers", "autoscaling/v1 onlyinv1"]);
        assert!(found.find_kind("autoscaling/v1", "HorizontalPodAutoscaler").is_some());
        assert!(found.find_kind("autoscaling/v3", "HorizontalPodAutoscaler").is_none());
    }

    #[test]
    fn core_resources_have_a_bare_version() {
        let mut found = ServerResources::default();
        found.add(&list("v1", &[("pods", "Pod", true, &["list", "delete"])]));
        let pods = &found.resources[0];
        assert_eq!((pods.api.group.as_str(), pods.api.api_version.as_str()), ("", "v1"));
        assert!(pods.supports("delete") && !pods.supports("deletecollection"));
        assert_eq!(pods.group_resource(), "pods.");
    }

    #[test]
    fn failures_are_reported_sorted_as_upstream() {
        let mut found = ServerResources::default();
        assert_eq!(found.failure_message(), None);
        found.failed.push(("metrics.k8s.io/v1beta1".into(), "the server is currently unable".into()));
        found.failed.push(("custom.io/v1".into(), "boom".into()));
        assert_eq!(
            found.failure_message().as_deref(),
            Some(
                "unable to retrieve the complete list of server APIs: custom.io/v1: boom, metrics.k8s.io/v1beta1: the server is currently unable"
            )
        );
        found.add(&list("a/b/c", &[]));
        assert_eq!(found.unparsable, ["a/b/c"]);
    }
}
