//! Which pods a ReplicaSet deletes first when it has too many (upstream's
//! ActivePodsWithRanks): unscheduled before scheduled, Pending before
//! Unknown before Running, not ready before ready, lower
//! `controller.kubernetes.io/pod-deletion-cost` first, pods doubled up on a
//! node before lone ones, ready for less time, more restarts, newer first.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::pods;

/// The annotation that orders deletions among otherwise equal pods.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn phase_rank(pod: &Pod) -> u8 {
    match pods::phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    let annotations = pod.metadata.annotations.as_ref();
    annotations.and_then(|a| a.get(POD_DELETION_COST)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn ready_since(pod: &Pod) -> Option<Timestamp> {
    pods::condition(pod, "Ready")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn restarts(pod: &Pod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.into_iter().flatten().map(|c| c.restart_count).max().unwrap_or(0)
}

/// `Less` when `a` should be deleted before `b`; `rank` is the number of
/// related pods on each pod's node (more first).
fn delete_first(a: &Pod, b: &Pod, rank_a: usize, rank_b: usize) -> Ordering {
    // Unassigned before assigned.
    let assigned = pods::is_assigned(a).cmp(&pods::is_assigned(b));
    // Pending < Unknown < Running.
    let phase = phase_rank(a).cmp(&phase_rank(b));
    // Not ready before ready.
    let ready = pods::is_ready(a).cmp(&pods::is_ready(b));
    // Lower deletion cost first.
    let cost = deletion_cost(a).cmp(&deletion_cost(b));
    // More pods on the node first.
    let doubled = rank_b.cmp(&rank_a);
    // Ready for less time first (both ready): the later transition first.
    let ready_time = match (pods::is_ready(a), ready_since(a), ready_since(b)) {
        (true, Some(x), Some(y)) => y.cmp(&x),
        _ => Ordering::Equal,
    };
    // More restarts first.
    let restarted = restarts(b).cmp(&restarts(a));
    // Newer first; no creation time before any.
    let created = match (&a.metadata.creation_timestamp, &b.metadata.creation_timestamp) {
        (Some(x), Some(y)) => y.0.cmp(&x.0),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    assigned.then(phase).then(ready).then(cost).then(doubled).then(ready_time).then(restarted).then(created)
}

/// The `count` pods of `candidates` to delete first; `related` are all the
/// active pods of the owner's family (for the per-node ranks).
pub fn pods_to_delete(candidates: &[Arc<Pod>], related: &[Arc<Pod>], count: usize) -> Vec<Arc<Pod>> {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for pod in related {
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let rank = |pod: &Pod| -> usize {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        // A pod is not doubled up with itself; unassigned pods rank 0.
        per_node.get(node).map_or(0, |n| n.saturating_sub(1))
    };
    let mut ranked: Vec<(usize, &Arc<Pod>)> = candidates.iter().map(|p| (rank(p), p)).collect();
    ranked.sort_by(|(ra, a), (rb, b)| delete_first(a, b, *ra, *rb));
    ranked.into_iter().take(count).map(|(_, p)| Arc::clone(p)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: Option<&str>, extra: Value) -> Arc<Pod> {
        let conditions = match ready {
            Some(since) => json!([{ "type": "Ready", "status": "True", "lastTransitionTime": since }]),
            None => json!([]),
        };
        let mut value = json!({
            "metadata": { "name": name, "creationTimestamp": "2026-01-01T00:00:00Z" },
            "spec": { "nodeName": node, "containers": [] },
            "status": { "phase": phase, "conditions": conditions },
        });
        if let (Some(target), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                match (target.get_mut(k), v) {
                    (Some(Value::Object(t)), Value::Object(v)) => t.extend(v.clone()),
                    _ => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Arc::new(serde_json::from_value(value).expect("a pod"))
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
    }

    const T0: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn unscheduled_pending_and_unready_pods_go_first() {
        let pods = vec![
            pod("running-ready", Some("n1"), "Running", Some(T0), json!({})),
            pod("unscheduled", None, "Pending", None, json!({})),
            pod("pending", Some("n2"), "Pending", None, json!({})),
            pod("running-unready", Some("n3"), "Running", None, json!({})),
            pod("unknown", Some("n4"), "Unknown", None, json!({})),
        ];
        let order = names(&pods_to_delete(&pods, &pods, 5));
        assert_eq!(order, ["unscheduled", "pending", "unknown", "running-unready", "running-ready"]);
    }

    #[test]
    fn among_ready_pods_cost_doubling_up_readiness_age_restarts_and_age_decide() {
        let cheap = json!({ "metadata": { "annotations": { POD_DELETION_COST: "-10" } } });
        let restarted = json!({ "status": { "containerStatuses": [{ "name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 3 }] } });
        let newer = json!({ "metadata": { "creationTimestamp": "2026-01-02T00:00:00Z" } });
        let pods = vec![
            pod("old", Some("a"), "Running", Some(T0), json!({})),
            pod("cheap", Some("b"), "Running", Some(T0), cheap),
            pod("doubled-1", Some("c"), "Running", Some(T0), json!({})),
            pod("doubled-2", Some("c"), "Running", Some(T0), json!({})),
            pod("recently-ready", Some("d"), "Running", Some("2026-01-01T01:00:00Z"), json!({})),
            pod("restarted", Some("e"), "Running", Some(T0), restarted),
            pod("newer", Some("f"), "Running", Some(T0), newer),
        ];
        let order = names(&pods_to_delete(&pods, &pods, 7));
        assert_eq!(order, ["cheap", "doubled-1", "doubled-2", "recently-ready", "restarted", "newer", "old"]);
        assert_eq!(pods_to_delete(&pods, &pods, 2).len(), 2);
    }
}
