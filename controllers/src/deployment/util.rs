//! The arithmetic of rollouts (upstream's deployment util): surge and
//! unavailability from the strategy, how far the new ReplicaSet may grow,
//! proportions when scaling mid-rollout, revisions and the annotations
//! carried from the Deployment to its ReplicaSets, and the template hash.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Label on a ReplicaSet's pods (and selector) naming its template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations never copied to ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

pub fn replicas(set: &ReplicaSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn desired(deployment: &Deployment) -> i32 {
    deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn available(set: &ReplicaSet) -> i32 {
    set.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

pub fn is_rolling(deployment: &Deployment) -> bool {
    let strategy = deployment.spec.as_ref().and_then(|s| s.strategy.as_ref());
    strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
}

/// An int-or-percent of `total`, rounded up or down.
fn scaled(value: Option<&IntOrString>, total: i32, default: &str, round_up: bool) -> i32 {
    match value {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => percent(s, total, round_up),
        None => percent(default, total, round_up),
    }
}

fn percent(text: &str, total: i32, round_up: bool) -> i32 {
    let Some(number) = text.strip_suffix('%').and_then(|n| n.parse::<i64>().ok()) else { return 0 };
    let product = number * i64::from(total);
    let value = if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) };
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// (maxSurge, maxUnavailable) for `desired` pods; both zero becomes unavailable 1 (upstream's ResolveFenceposts).
pub fn fenceposts(deployment: &Deployment, desired: i32) -> (i32, i32) {
    let rolling = deployment.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), desired, "25%", true);
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), desired, "25%", false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

pub fn max_surge(deployment: &Deployment) -> i32 {
    if !is_rolling(deployment) {
        return 0;
    }
    fenceposts(deployment, desired(deployment)).0
}

pub fn max_unavailable(deployment: &Deployment) -> i32 {
    let desired = desired(deployment);
    if !is_rolling(deployment) || desired == 0 {
        return 0;
    }
    fenceposts(deployment, desired).1.min(desired)
}

/// The size the new ReplicaSet may grow to now (upstream's NewRSNewReplicas).
pub fn new_set_replicas(deployment: &Deployment, all: &[&ReplicaSet], new_replicas: i32) -> i32 {
    let desired = desired(deployment);
    if !is_rolling(deployment) {
        return desired;
    }
    let current: i32 = all.iter().map(|s| replicas(s)).sum();
    let max_total = desired + max_surge(deployment);
    if current >= max_total {
        return new_replicas;
    }
    let up = (max_total - current).min(desired - new_replicas);
    new_replicas + up.max(0)
}

/// A template's identity without the hash label.
fn without_hash(template: &PodTemplateSpec) -> serde_json::Value {
    let mut value = serde_json::to_value(template).unwrap_or_default();
    if let Some(labels) = value.pointer_mut("/metadata/labels").and_then(|l| l.as_object_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty() {
            value["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    value
}

/// Whether two templates are the same apart from the pod-template-hash label.
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// The template's hash (without its hash label) and the collision count,
/// as ControllerRevisions hash theirs ([`crate::history::hash_data`]).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    crate::history::hash_data(&without_hash(template), collision_count)
}

pub fn revision(annotations: Option<&BTreeMap<String, String>>) -> i64 {
    annotations.and_then(|a| a.get(REVISION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

pub fn set_revision(set: &ReplicaSet) -> i64 {
    revision(set.metadata.annotations.as_ref())
}

/// The annotations a ReplicaSet should carry: the Deployment's (but for
/// the ones kept apart), its revision (the old one added to the history
/// when it comes back), and on creation the replica counts.
pub fn set_annotations(
    deployment: &Deployment,
    existing: Option<&BTreeMap<String, String>>,
    new_revision: i64,
    creating: bool,
) -> BTreeMap<String, String> {
    let mut annotations = existing.cloned().unwrap_or_default();
    for (key, value) in deployment.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&key.as_str()) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    let old = revision(existing);
    if old < new_revision {
        if old > 0 && !creating {
            let history = annotations.get(REVISION_HISTORY).filter(|h| !h.is_empty());
            let history = match history {
                Some(h) => format!("{h},{old}"),
                None => old.to_string(),
            };
            annotations.insert(REVISION_HISTORY.to_owned(), history);
        }
        annotations.insert(REVISION.to_owned(), new_revision.to_string());
    }
    if creating {
        annotations.insert(DESIRED_REPLICAS.to_owned(), desired(deployment).to_string());
        annotations.insert(MAX_REPLICAS.to_owned(), (desired(deployment) + max_surge(deployment)).to_string());
    }
    annotations
}

/// How many replicas `set` gains (or loses, negative) of `to_add` when a
/// Deployment is scaled mid-rollout (upstream's GetProportion).
pub fn proportion(set: &ReplicaSet, deployment: &Deployment, to_add: i32, added: i32) -> i32 {
    if replicas(set) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(set, deployment);
    let allowed = to_add - added;
    if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
}

fn fraction(set: &ReplicaSet, deployment: &Deployment) -> i32 {
    let desired = desired(deployment);
    if desired == 0 {
        return -replicas(set);
    }
    let total = desired + max_surge(deployment);
    let annotated = set
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MAX_REPLICAS))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| deployment.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(replicas(set)) * f64::from(total) / f64::from(annotated);
    size.round() as i32 - replicas(set)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(replicas: i32, surge: serde_json::Value, unavailable: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({ "metadata": { "name": "d" }, "spec": {
            "replicas": replicas, "selector": {}, "template": {},
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": surge, "maxUnavailable": unavailable } } } }))
        .expect("a deployment")
    }

    fn set(replicas: i32, annotations: serde_json::Value) -> ReplicaSet {
        serde_json::from_value(json!({ "metadata": { "name": "s", "annotations": annotations },
            "spec": { "replicas": replicas, "selector": {} } }))
        .expect("a replica set")
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailability_down() {
        assert_eq!(fenceposts(&deployment(10, json!("25%"), json!("25%")), 10), (3, 2));
        assert_eq!(fenceposts(&deployment(10, json!(0), json!(0)), 10), (0, 1), "both zero: one may be unavailable");
        assert_eq!(fenceposts(&deployment(1, json!("25%"), json!("25%")), 1), (1, 0));
        assert_eq!(max_unavailable(&deployment(2, json!(1), json!(5))), 2, "capped at the replicas");
        let recreate: Deployment =
            serde_json::from_value(json!({ "spec": { "replicas": 3, "selector": {}, "template": {},
            "strategy": { "type": "Recreate" } } }))
            .expect("a deployment");
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
    }

    #[test]
    fn the_new_set_grows_within_the_surge() {
        let d = deployment(10, json!(3), json!(2));
        let (old, new) = (set(10, json!({})), set(0, json!({})));
        assert_eq!(new_set_replicas(&d, &[&old, &new], 0), 3);
        let (old, new) = (set(8, json!({})), set(3, json!({})));
        assert_eq!(new_set_replicas(&d, &[&old, &new], 3), 5);
        let (old, new) = (set(10, json!({})), set(3, json!({})));
        assert_eq!(new_set_replicas(&d, &[&old, &new], 3), 3, "already at 13 = 10 + 3");
    }

    #[test]
    fn scaling_mid_rollout_is_proportional_to_each_sets_share() {
        // Upstream's example: 10 replicas with surge 3 (max-replicas 13), sets of 8 and 5, scaled to 20 (+ 3 surge = 23).
        let d = deployment(20, json!(3), json!(2));
        let (a, b) = (set(8, json!({ MAX_REPLICAS: "13" })), set(5, json!({ MAX_REPLICAS: "13" })));
        let first = proportion(&a, &d, 10, 0);
        assert_eq!(first, 6);
        assert_eq!(proportion(&b, &d, 10, first), 4);
    }

    #[test]
    fn hashes_ignore_the_hash_label_and_change_with_collisions() {
        let a: PodTemplateSpec =
            serde_json::from_value(json!({ "metadata": { "labels": { "app": "x" } } })).expect("t");
        let b: PodTemplateSpec =
            serde_json::from_value(json!({ "metadata": { "labels": { "app": "x", POD_TEMPLATE_HASH: "abc" } } }))
                .expect("t");
        assert!(equal_ignoring_hash(&a, &b));
        assert_eq!(template_hash(&a, None), template_hash(&b, None));
        assert_ne!(template_hash(&a, None), template_hash(&a, Some(1)));
        assert!(template_hash(&a, None).chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn annotations_carry_the_revision_and_its_history() {
        let d: Deployment = serde_json::from_value(json!({ "metadata": { "annotations": {
            "kubernetes.io/change-cause": "v2", REVISION: "9", "kubectl.kubernetes.io/last-applied-configuration": "{}" } },
            "spec": { "replicas": 4, "selector": {}, "template": {} } }))
        .expect("a deployment");
        let created = set_annotations(&d, None, 1, true);
        assert_eq!(created.get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(created.get("kubernetes.io/change-cause").map(String::as_str), Some("v2"));
        assert_eq!(created.get(DESIRED_REPLICAS).map(String::as_str), Some("4"));
        assert_eq!(created.get(MAX_REPLICAS).map(String::as_str), Some("5"));
        assert!(!created.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        let back = set_annotations(&d, Some(&created), 3, false);
        assert_eq!(
            (back.get(REVISION).map(String::as_str), back.get(REVISION_HISTORY).map(String::as_str)),
            (Some("3"), Some("1"))
        );
    }
}
