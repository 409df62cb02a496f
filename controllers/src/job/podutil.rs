//! What the Job controller reads from its pods: whether one failed, when it
//! finished, which active pods to delete first, and the tracking finalizer.

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;

use crate::pods;

/// The finalizer that keeps a pod until its result is counted in the Job's status.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// Failed, or (unless only failed pods are replaced) deleted before succeeding:
/// an orphaned or evicted pod may never reach the Failed phase (upstream's isPodFailed).
pub fn is_failed(pod: &Pod, only_replace_failed: bool) -> bool {
    match pods::phase(pod) {
        "Failed" => true,
        _ if only_replace_failed => false,
        phase => pod.metadata.deletion_timestamp.is_some() && phase != "Succeeded",
    }
}

/// Being deleted and not finished (counted in `status.terminating`).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(pods::phase(pod), "Succeeded" | "Failed")
}

/// When the pod finished: the last container's finish, else the Ready=False transition, else
/// its deletion (less the grace period), else its creation (upstream's getFinishedTime).
pub fn finished_time(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let from_containers = containers.iter().try_fold(None::<Timestamp>, |latest, c| {
        let at = c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()?.0;
        Some(Some(latest.map_or(at, |l| l.max(at))))
    });
    if let Some(Some(at)) = from_containers {
        return at;
    }
    let ready_false = pods::condition(pod, "Ready").filter(|c| c.status == "False");
    if let Some(at) = ready_false.and_then(|c| c.last_transition_time.as_ref()) {
        return at.0;
    }
    if let Some(deleted) = pod.metadata.deletion_timestamp.as_ref() {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return deleted.0 - SignedDuration::from_secs(grace);
    }
    pod.metadata.creation_timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pods::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn ready_since(pod: &Pod) -> Option<Timestamp> {
    pods::condition(pod, "Ready").filter(|c| c.status == "True")?.last_transition_time.as_ref().map(|t| t.0)
}

fn max_restarts(pod: &Pod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    statuses.iter().map(|c| c.restart_count).max().unwrap_or(0)
}

/// "a is after b, or a is unset" (upstream's afterOrZero).
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a > b,
        (a, _) => a.is_none(),
    }
}

/// Orders active pods so that the ones to delete first come first: unscheduled,
/// pending, not ready, ready for less time, restarted more, newer (upstream's ActivePods).
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let less = |a: &Pod, b: &Pod| -> Option<bool> {
        if pods::is_assigned(a) != pods::is_assigned(b) {
            return Some(!pods::is_assigned(a));
        }
        if phase_ordinal(a) != phase_ordinal(b) {
            return Some(phase_ordinal(a) < phase_ordinal(b));
        }
        if pods::is_ready(a) != pods::is_ready(b) {
            return Some(!pods::is_ready(a));
        }
        if pods::is_ready(a) && ready_since(a) != ready_since(b) {
            return Some(after_or_zero(ready_since(a), ready_since(b)));
        }
        if max_restarts(a) != max_restarts(b) {
            return Some(max_restarts(a) > max_restarts(b));
        }
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if created(a) != created(b) {
            return Some(after_or_zero(created(a), created(b)));
        }
        None
    };
    match less(a, b) {
        Some(true) => Ordering::Less,
        Some(false) => Ordering::Greater,
        None => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a pod")
    }

    #[test]
    fn deleted_pods_count_as_failed_unless_only_failed_pods_are_replaced() {
        let deleted = pod(json!({ "metadata": { "deletionTimestamp": "2024-01-01T00:00:00Z" },
            "status": { "phase": "Running" } }));
        assert!(is_failed(&deleted, false));
        assert!(!is_failed(&deleted, true));
        assert!(is_terminating(&deleted));
        let succeeded = pod(json!({ "metadata": { "deletionTimestamp": "2024-01-01T00:00:00Z" },
            "status": { "phase": "Succeeded" } }));
        assert!(!is_failed(&succeeded, false) && !is_terminating(&succeeded));
        assert!(is_failed(&pod(json!({ "status": { "phase": "Failed" } })), true));
    }

    #[test]
    fn the_finish_time_prefers_containers_then_readiness_then_deletion() {
        let containers = pod(json!({ "status": { "containerStatuses": [
            { "name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
              "state": { "terminated": { "exitCode": 1, "finishedAt": "2024-01-01T00:00:05Z" } } },
            { "name": "b", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
              "state": { "terminated": { "exitCode": 1, "finishedAt": "2024-01-01T00:00:09Z" } } }],
            "conditions": [{ "type": "Ready", "status": "False", "lastTransitionTime": "2024-01-01T00:00:01Z" }] } }));
        assert_eq!(finished_time(&containers).to_string(), "2024-01-01T00:00:09Z");
        let ready = pod(json!({ "status": {
            "conditions": [{ "type": "Ready", "status": "False", "lastTransitionTime": "2024-01-01T00:00:01Z" }] } }));
        assert_eq!(finished_time(&ready).to_string(), "2024-01-01T00:00:01Z");
        let deleted = pod(json!({ "metadata": { "deletionTimestamp": "2024-01-01T00:01:00Z",
            "deletionGracePeriodSeconds": 30, "creationTimestamp": "2024-01-01T00:00:00Z" } }));
        assert_eq!(finished_time(&deleted).to_string(), "2024-01-01T00:00:30Z");
    }

    #[test]
    fn unscheduled_pending_and_unready_pods_are_deleted_first() {
        let unscheduled = pod(json!({ "status": { "phase": "Pending" } }));
        let pending = pod(json!({ "spec": { "nodeName": "n", "containers": [] }, "status": { "phase": "Pending" } }));
        let running = pod(json!({ "spec": { "nodeName": "n", "containers": [] }, "status": { "phase": "Running" } }));
        let ready = |since: &str| {
            pod(json!({ "spec": { "nodeName": "n", "containers": [] }, "status": { "phase": "Running",
                "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": since }] } }))
        };
        let (young, old) = (ready("2024-01-01T00:10:00Z"), ready("2024-01-01T00:00:00Z"));
        let mut all = [&old, &running, &young, &pending, &unscheduled];
        all.sort_by(|a, b| deletion_order(a, b));
        let expected = [&unscheduled, &pending, &running, &young, &old];
        assert!(all.iter().zip(expected).all(|(a, b)| std::ptr::eq(*a, b)));
    }
}
