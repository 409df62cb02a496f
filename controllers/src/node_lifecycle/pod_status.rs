//! Pod conditions as controllers set them (upstream's UpdatePodCondition):
//! the transition time moves only when the status changes.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::clock::api_time;

/// Sets a condition on the pod's status; whether anything changed.
pub fn set_condition(
    pod: &mut Pod,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    now: Timestamp,
) -> bool {
    let conditions = pod.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
    let (reason, message) = (reason.map(str::to_owned), message.map(str::to_owned));
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        None => {
            conditions.push(PodCondition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason,
                message,
                last_transition_time: Some(api_time(now)),
                ..PodCondition::default()
            });
            true
        }
        Some(existing) if existing.status != status => {
            existing.status = status.to_owned();
            existing.reason = reason;
            existing.message = message;
            existing.last_transition_time = Some(api_time(now));
            true
        }
        Some(existing) if existing.reason != reason || existing.message != message => {
            existing.reason = reason;
            existing.message = message;
            true
        }
        Some(_) => false,
    }
}

/// Sets an existing Ready condition to False, keeping its reason and
/// message (upstream's MarkPodsNotReady); whether it changed.
pub fn mark_not_ready(pod: &mut Pod, now: Timestamp) -> bool {
    let Some(ready) =
        pod.status.as_mut().and_then(|s| s.conditions.as_mut()).and_then(|c| c.iter_mut().find(|c| c.type_ == "Ready"))
    else {
        return false;
    };
    if ready.status == "False" {
        return false;
    }
    ready.status = "False".to_owned();
    ready.last_transition_time = Some(api_time(now));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let t1: Timestamp = "2026-01-01T00:01:00Z".parse().expect("time");
        let mut pod = Pod::default();
        assert!(set_condition(&mut pod, "DisruptionTarget", "True", Some("R"), Some("m"), t0));
        assert!(!set_condition(&mut pod, "DisruptionTarget", "True", Some("R"), Some("m"), t1));
        assert!(set_condition(&mut pod, "DisruptionTarget", "True", Some("S"), Some("m"), t1));
        let condition = &pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default()[0];
        assert_eq!(condition.last_transition_time.as_ref().map(|t| t.0), Some(t0));
        assert!(!mark_not_ready(&mut pod, t1), "no Ready condition");
        assert!(set_condition(&mut pod, "Ready", "True", None, None, t0));
        assert!(mark_not_ready(&mut pod, t1));
        assert!(!mark_not_ready(&mut pod, t1));
    }
}
