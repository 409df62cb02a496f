//! What controllers ask of a pod: is it active, ready, available, and
//! which controller owns it (upstream's podutil and controller helpers).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodCondition};

/// The pod's phase (`Pending` when it has none yet).
pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

/// Not finished (Succeeded/Failed) and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted (has a deletionTimestamp).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's condition of this type.
pub fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// The Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Ready for at least `min_ready_seconds` at `now` (upstream's IsPodAvailable).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c.status == "True") else { return false };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready
        .last_transition_time
        .as_ref()
        .is_some_and(|since| since.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now)
}

/// When a pod that is ready now becomes available (`None`: not ready, or already available).
pub fn available_at(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Timestamp> {
    let ready = condition(pod, "Ready").filter(|c| c.status == "True")?;
    let at = ready.last_transition_time.as_ref()?.0 + SignedDuration::from_secs(i64::from(min_ready_seconds));
    (at > now).then_some(at)
}

/// The pod was scheduled to a node.
pub fn is_assigned(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a pod")
    }

    #[test]
    fn availability_waits_min_ready_seconds_after_the_ready_transition() {
        let ready = pod(serde_json::json!({ "status": { "phase": "Running", "conditions": [
            { "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z" }] } }));
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        assert!(is_ready(&ready) && is_active(&ready));
        assert!(is_available(&ready, 0, at("2026-01-01T00:00:00Z")));
        assert!(!is_available(&ready, 10, at("2026-01-01T00:00:09Z")));
        assert!(is_available(&ready, 10, at("2026-01-01T00:00:10Z")));
        assert_eq!(available_at(&ready, 10, at("2026-01-01T00:00:05Z")), Some(at("2026-01-01T00:00:10Z")));
        let pending = pod(serde_json::json!({}));
        assert!(!is_ready(&pending) && !is_available(&pending, 0, at("2026-01-01T00:00:00Z")));
        let done = pod(serde_json::json!({ "status": { "phase": "Succeeded" } }));
        assert!(!is_active(&done));
    }
}
