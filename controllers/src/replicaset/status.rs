//! A ReplicaSet's status from the pods it owns (upstream's calculateStatus).

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::clock::api_time;
use crate::pods;

/// The condition reporting failed creations or deletions.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The status `owned` (the set's active pods) gives; `failure` is the
/// (reason, message) of a failed create or delete in this sync.
pub fn calculate(
    set: &ReplicaSet,
    owned: &[Arc<Pod>],
    failure: Option<&(&str, String)>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let spec = set.spec.as_ref();
    let template_labels =
        spec.and_then(|s| s.template.as_ref()).and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone());
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| i32::try_from(owned.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX);
    let fully_labeled = count(&|p: &Pod| {
        let labels = p.labels();
        template_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v))
    });
    let mut conditions = set.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some((reason, message)) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.to_owned(),
            status: "True".to_owned(),
            reason: Some((*reason).to_owned()),
            message: Some(message.clone()),
            last_transition_time: Some(api_time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(count(&pods::is_ready)),
        available_replicas: Some(count(&|p: &Pod| pods::is_available(p, min_ready, now))),
        observed_generation: set.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: set.status.as_ref().and_then(|s| s.terminating_replicas),
    }
}

/// Writes the status when it changed (a ReplicationController's has the same fields).
pub(super) async fn update(
    client: &kube::Client,
    flavor: super::Flavor,
    set: &ReplicaSet,
    status: ReplicaSetStatus,
) -> Result<(), kube::Error> {
    if set.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let namespace = set.namespace().unwrap_or_default();
    let mut patch = json!({ "status": status });
    // A merge patch: absent conditions must be cleared explicitly.
    if status.conditions.is_none() {
        patch["status"]["conditions"] = serde_json::Value::Null;
    }
    let params = PatchParams::default();
    match flavor {
        super::Flavor::ReplicaSet => {
            let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &namespace);
            api.patch_status(&set.name_any(), &params, &Patch::Merge(&patch)).await.map(drop)
        }
        super::Flavor::ReplicationController => {
            let api: Api<ReplicationController> = Api::namespaced(client.clone(), &namespace);
            api.patch_status(&set.name_any(), &params, &Patch::Merge(&patch)).await.map(drop)
        }
    }
}
