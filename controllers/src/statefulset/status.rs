//! A StatefulSet's status (upstream's computeReplicaStatus, completeRollingUpdate,
//! inconsistentStatus and the status updater).

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::identity::{self, is_created, is_running_and_ready};
use crate::pods;

/// Counts `pods` into `status` (replicas, ready, available, current and updated).
pub fn count<'a>(
    status: &mut StatefulSetStatus,
    pods: impl IntoIterator<Item = &'a Pod>,
    min_ready_seconds: i32,
    now: Timestamp,
) {
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    let current_revision = status.current_revision.clone().unwrap_or_default();
    let update_revision = status.update_revision.clone().unwrap_or_default();
    for pod in pods {
        if is_created(pod) {
            replicas += 1;
        }
        if is_running_and_ready(pod) {
            ready += 1;
            if pods::is_available(pod, min_ready_seconds, now) {
                available += 1;
            }
        }
        if is_created(pod) && !pods::is_terminating(pod) {
            let revision = identity::revision_of(pod);
            current += i32::from(revision == current_revision);
            updated += i32::from(revision == update_revision);
        }
    }
    status.replicas = replicas;
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
}

/// A RollingUpdate whose pods are all updated and ready is complete: the update
/// revision becomes the current one.
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let rolling =
        set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|s| s.type_.as_deref()) != Some("OnDelete");
    let replicas = identity::replicas(set);
    if rolling
        && status.updated_replicas == Some(replicas)
        && status.ready_replicas == Some(replicas)
        && status.replicas == replicas
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}

/// The status differs from the set's in what the controller reports.
pub fn differs(set: &StatefulSet, status: &StatefulSetStatus) -> bool {
    let Some(old) = set.status.as_ref() else { return true };
    let zero = |v: Option<i32>| v.unwrap_or(0);
    status.observed_generation.unwrap_or(0) > old.observed_generation.unwrap_or(0)
        || status.replicas != old.replicas
        || zero(status.current_replicas) != zero(old.current_replicas)
        || zero(status.ready_replicas) != zero(old.ready_replicas)
        || zero(status.updated_replicas) != zero(old.updated_replicas)
        || zero(status.available_replicas) != zero(old.available_replicas)
        || status.current_revision != old.current_revision
        || status.update_revision != old.update_revision
        || zero(status.collision_count) != zero(old.collision_count)
}

/// Completes a finished rolling update and writes the status when it changed.
pub async fn write(
    client: &kube::Client,
    set: &StatefulSet,
    status: &mut StatefulSetStatus,
) -> Result<(), kube::Error> {
    complete_rolling_update(set, status);
    if !differs(set, status) {
        return Ok(());
    }
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), &set.namespace().unwrap_or_default());
    // Upstream omits these when zero (a merge patch removes them with null).
    let omitted_when_zero = |n: Option<i32>| n.filter(|n| *n != 0);
    let patch = json!({ "status": {
        "observedGeneration": status.observed_generation,
        "replicas": status.replicas,
        "readyReplicas": omitted_when_zero(status.ready_replicas),
        "currentReplicas": omitted_when_zero(status.current_replicas),
        "updatedReplicas": omitted_when_zero(status.updated_replicas),
        "availableReplicas": status.available_replicas,
        "currentRevision": status.current_revision,
        "updateRevision": status.update_revision,
        "collisionCount": status.collision_count,
    } });
    api.patch_status(&set.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop)
}
