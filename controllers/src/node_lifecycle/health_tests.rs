use serde_json::json;

use super::*;

const GRACE: Grace = Grace { monitor: SignedDuration::from_secs(40), startup: SignedDuration::from_secs(60) };

fn at(secs: i64) -> Timestamp {
    "2026-01-01T00:00:00Z".parse::<Timestamp>().expect("time") + SignedDuration::from_secs(secs)
}

fn node(conditions: serde_json::Value) -> Node {
    serde_json::from_value(json!({
        "metadata": { "name": "n", "creationTimestamp": "2026-01-01T00:00:00Z" },
        "status": { "conditions": conditions },
    }))
    .expect("node")
}

fn ready(heartbeat: &str) -> serde_json::Value {
    json!([{ "type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat,
             "lastTransitionTime": "2026-01-01T00:00:00Z" },
           { "type": "MemoryPressure", "status": "False" }])
}

fn lease(renewed: &str) -> Lease {
    serde_json::from_value(json!({ "metadata": { "name": "n" }, "spec": { "renewTime": renewed } })).expect("lease")
}

fn status_of<'a>(status: &'a NodeStatus, type_: &str) -> &'a NodeCondition {
    status.conditions.iter().flatten().find(|c| c.type_ == type_).expect("the condition")
}

#[test]
fn a_node_silent_past_the_grace_period_turns_unknown() {
    let n = node(ready("2026-01-01T00:00:00Z"));
    let first = assess(&n, None, None, at(1), GRACE);
    assert_eq!((first.health.probe, first.update.is_none()), (at(1), true));
    let quiet = assess(&n, None, Some(&first.health), at(41), GRACE);
    assert!(quiet.update.is_none(), "40 s is within the grace period");
    let silent = assess(&n, None, Some(&first.health), at(42), GRACE);
    let status = silent.update.expect("an Unknown status");
    let ready = status_of(&status, "Ready");
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
    assert_eq!(ready.last_transition_time.as_ref().map(|t| t.0), Some(at(42)));
    assert_eq!(status_of(&status, "MemoryPressure").status, "Unknown");
    let never = status_of(&status, "PIDPressure");
    assert_eq!((never.status.as_str(), never.reason.as_deref()), ("Unknown", Some("NodeStatusNeverUpdated")));
    assert_eq!(silent.observed.status, "True");
    assert_eq!(silent.current.map(|c| c.status), Some("Unknown".to_owned()));
}

#[test]
fn a_renewed_lease_or_a_new_heartbeat_keeps_the_node_alive() {
    let n = node(ready("2026-01-01T00:00:00Z"));
    let first = assess(&n, Some(&lease("2026-01-01T00:00:00.000000Z")), None, at(1), GRACE);
    let renewed = assess(&n, Some(&lease("2026-01-01T00:00:30.000000Z")), Some(&first.health), at(30), GRACE);
    assert_eq!(renewed.health.probe, at(30));
    assert!(assess(&n, None, Some(&renewed.health), at(60), GRACE).update.is_none());
    let same_lease = assess(&n, Some(&lease("2026-01-01T00:00:30.000000Z")), Some(&renewed.health), at(71), GRACE);
    assert!(same_lease.update.is_some(), "the lease was not renewed again");
    let beat = node(ready("2026-01-01T00:01:00Z"));
    let heartbeat = assess(&beat, None, Some(&renewed.health), at(71), GRACE);
    assert!(heartbeat.update.is_none());
    assert_eq!(heartbeat.health.probe, at(71));
}

#[test]
fn a_node_that_never_posted_status_gets_the_startup_grace_from_its_creation() {
    let n = node(json!([]));
    let first = assess(&n, None, None, at(30), GRACE);
    assert!(first.update.is_none());
    assert_eq!(first.observed.status, "Unknown");
    let late = assess(&n, None, Some(&first.health), at(61), GRACE);
    let status = late.update.expect("never-updated conditions");
    assert_eq!(status_of(&status, "Ready").reason.as_deref(), Some("NodeStatusNeverUpdated"));
    assert_eq!(status_of(&status, "Ready").last_heartbeat_time.as_ref().map(|t| t.0), Some(at(0)));
}

#[test]
fn an_unknown_node_is_not_written_again() {
    let n = node(json!([{ "type": "Ready", "status": "Unknown", "lastHeartbeatTime": "2026-01-01T00:00:00Z" },
                       { "type": "MemoryPressure", "status": "Unknown" }, { "type": "DiskPressure", "status": "Unknown" },
                       { "type": "PIDPressure", "status": "Unknown" }]));
    let first = assess(&n, None, None, at(0), GRACE);
    assert!(assess(&n, None, Some(&first.health), at(100), GRACE).update.is_none());
}
