//! The selectors of the objects that group pods — services, and the
//! replication controllers, replica sets and stateful sets that own them —
//! from which PodTopologySpread builds the selector of its cluster default
//! constraints (upstream's `helper.DefaultSelector`).

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::PodInfo;
use super::selectors::{Labels, validate_selector};

/// The kinds whose selectors count, as (apiVersion, kind) of a controller owner reference.
pub const REPLICATION_CONTROLLER: (&str, &str) = ("v1", "ReplicationController");
pub const REPLICA_SET: (&str, &str) = ("apps/v1", "ReplicaSet");
pub const STATEFUL_SET: (&str, &str) = ("apps/v1", "StatefulSet");
/// Services are not owners, only selectors.
pub const SERVICE: (&str, &str) = ("v1", "Service");

/// One object's selector, as the scheduler keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerSelector {
    /// (apiVersion, kind): one of the constants above.
    pub kind: (&'static str, &'static str),
    pub namespace: String,
    pub name: String,
    /// `None`: a service without a selector (it selects no pod).
    pub selector: Option<LabelSelector>,
}

impl OwnerSelector {
    /// The key the snapshot keeps it under, unique per kind.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Selectors of services by namespace, and of the owning kinds by (kind, namespace, name).
#[derive(Debug, Clone, Default)]
pub struct Owners {
    services: HashMap<String, HashMap<String, Labels>>,
    controllers: HashMap<(&'static str, String, String), LabelSelector>,
}

impl Owners {
    /// Records (or replaces) an object's selector.
    pub fn set(&mut self, owner: OwnerSelector) {
        if owner.kind == SERVICE {
            let services = self.services.entry(owner.namespace).or_default();
            match owner.selector {
                Some(selector) => services.insert(owner.name, selector.match_labels.unwrap_or_default()),
                None => services.remove(&owner.name),
            };
            return;
        }
        let key = (owner.kind.1, owner.namespace, owner.name);
        match owner.selector {
            Some(selector) => self.controllers.insert(key, selector),
            None => self.controllers.remove(&key),
        };
    }

    /// Forgets an object.
    pub fn remove(&mut self, kind: (&'static str, &'static str), namespace: &str, name: &str) {
        if kind == SERVICE {
            if let Some(services) = self.services.get_mut(namespace) {
                services.remove(name);
            }
            return;
        }
        self.controllers.remove(&(kind.1, namespace.to_owned(), name.to_owned()));
    }

    /// Forgets the objects of `kind` whose key ([`OwnerSelector::key`]) `keep` refuses.
    pub fn retain(&mut self, kind: (&'static str, &'static str), keep: impl Fn(&str) -> bool) {
        if kind == SERVICE {
            for (namespace, services) in &mut self.services {
                services.retain(|name, _| keep(&format!("{namespace}/{name}")));
            }
            return;
        }
        self.controllers.retain(|(k, namespace, name), _| *k != kind.1 || keep(&format!("{namespace}/{name}")));
    }

    /// The selector of the pods grouped with `pod`: the labels of every
    /// service of its namespace that selects it, and the selector of its
    /// controlling replication controller, replica set or stateful set.
    /// `None` when that comes to no requirement at all.
    pub fn default_selector(&self, pod: &PodInfo) -> Option<LabelSelector> {
        let mut labels = Labels::new();
        for selector in self.services.get(&pod.namespace).into_iter().flat_map(HashMap::values) {
            if selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v)) {
                labels.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut requirements = Vec::new();
        let owner = pod.pod.metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true));
        if let Some(owner) = owner {
            let kind = [REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET]
                .into_iter()
                .find(|(version, kind)| owner.api_version == *version && owner.kind == *kind);
            let selector = kind.and_then(|(_, kind)| {
                self.controllers.get(&(kind, pod.namespace.clone(), owner.name.clone())).map(|s| (kind, s))
            });
            match selector {
                Some((kind, selector)) if kind == REPLICATION_CONTROLLER.1 => {
                    labels.extend(selector.match_labels.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
                }
                Some((_, selector)) if validate_selector(selector).is_ok() => {
                    requirements.extend(as_requirements(selector))
                }
                _ => {}
            }
        }
        if labels.is_empty() && requirements.is_empty() {
            return None;
        }
        Some(LabelSelector {
            match_labels: Some(labels).filter(|l| !l.is_empty()),
            match_expressions: Some(requirements).filter(|r| !r.is_empty()),
        })
    }
}

/// A label selector as a list of requirements (matchLabels become `In` with one value).
fn as_requirements(selector: &LabelSelector) -> Vec<LabelSelectorRequirement> {
    let by_label = selector.match_labels.iter().flatten().map(|(k, v)| LabelSelectorRequirement {
        key: k.clone(),
        operator: "In".to_owned(),
        values: Some(vec![v.clone()]),
    });
    by_label.chain(selector.match_expressions.iter().flatten().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::plugins::testing::pod;

    fn owner(kind: (&'static str, &'static str), namespace: &str, name: &str, selector: Value) -> OwnerSelector {
        OwnerSelector {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            selector: serde_json::from_value(selector).expect("selector"),
        }
    }

    /// A pod of the default namespace labelled app=web, tier=front, controlled by `owner_ref`.
    fn web_pod(owner_refs: Value) -> PodInfo {
        pod("web-1", json!({ "labels": { "app": "web", "tier": "front" }, "ownerReferences": owner_refs }))
    }

    fn controller(api_version: &str, kind: &str, name: &str) -> Value {
        json!([{ "apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": true }])
    }

    #[test]
    fn services_selecting_the_pod_in_its_namespace_merge_their_labels() {
        let mut owners = Owners::default();
        owners.set(owner(SERVICE, "default", "web", json!({ "matchLabels": { "app": "web" } })));
        owners.set(owner(SERVICE, "default", "front", json!({ "matchLabels": { "tier": "front" } })));
        owners.set(owner(SERVICE, "default", "other", json!({ "matchLabels": { "app": "db" } })));
        owners.set(owner(SERVICE, "elsewhere", "all", json!({ "matchLabels": { "env": "prod" } })));
        owners.set(owner(SERVICE, "default", "headless", Value::Null));
        let selector = owners.default_selector(&web_pod(json!([]))).expect("grouped");
        let labels: Labels = [("app", "web"), ("tier", "front")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_eq!(selector.match_labels, Some(labels));
        assert_eq!(selector.match_expressions, None);

        owners.remove(SERVICE, "default", "web");
        owners.retain(SERVICE, |key| key != "default/front");
        assert_eq!(owners.default_selector(&web_pod(json!([]))), None, "no service left selects it");
    }

    #[test]
    fn the_controlling_replica_set_or_stateful_set_adds_its_selector_as_requirements() {
        let mut owners = Owners::default();
        let selector =
            json!({ "matchLabels": { "app": "web" }, "matchExpressions": [{ "key": "tier", "operator": "Exists" }] });
        owners.set(owner(REPLICA_SET, "default", "web-abc", selector.clone()));
        owners.set(owner(STATEFUL_SET, "default", "web", selector));
        for (version, kind, name) in [("apps/v1", "ReplicaSet", "web-abc"), ("apps/v1", "StatefulSet", "web")] {
            let got = owners.default_selector(&web_pod(controller(version, kind, name))).expect(kind);
            assert_eq!(got.match_labels, None);
            let keys: Vec<(&str, &str)> =
                got.match_expressions.iter().flatten().map(|r| (r.key.as_str(), r.operator.as_str())).collect();
            assert_eq!(keys, [("app", "In"), ("tier", "Exists")], "{kind}");
        }
        // Not the controller, another API version, an unknown name: no grouping.
        let not_controller = json!([{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "u" }]);
        for refs in [
            not_controller,
            controller("extensions/v1beta1", "ReplicaSet", "web-abc"),
            controller("apps/v1", "ReplicaSet", "gone"),
            controller("apps/v1", "Deployment", "web"),
        ] {
            assert_eq!(owners.default_selector(&web_pod(refs.clone())), None, "{refs}");
        }
    }

    #[test]
    fn a_replication_controller_merges_its_labels_with_the_services() {
        let mut owners = Owners::default();
        owners.set(owner(SERVICE, "default", "web", json!({ "matchLabels": { "app": "web" } })));
        owners.set(owner(REPLICATION_CONTROLLER, "default", "web", json!({ "matchLabels": { "tier": "front" } })));
        let got = owners.default_selector(&web_pod(controller("v1", "ReplicationController", "web"))).expect("grouped");
        assert_eq!(got.match_labels.map(|l| l.len()), Some(2));
        owners.retain(REPLICATION_CONTROLLER, |_| false);
        let got = owners.default_selector(&web_pod(controller("v1", "ReplicationController", "web"))).expect("service");
        assert_eq!(got.match_labels.map(|l| l.len()), Some(1));
    }

    #[test]
    fn an_owner_selector_upstream_cannot_convert_is_left_out() {
        let mut owners = Owners::default();
        let bad = json!({ "matchExpressions": [{ "key": "app", "operator": "Exists", "values": ["web"] }] });
        owners.set(owner(REPLICA_SET, "default", "web-abc", bad));
        assert_eq!(owners.default_selector(&web_pod(controller("apps/v1", "ReplicaSet", "web-abc"))), None);
    }
}
