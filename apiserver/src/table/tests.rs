//! Ages, quantities, selectors and pods.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{columns, human_duration, labels, quantity, row_cells, row_conditions, short_human_duration};

pub(super) fn now() -> Timestamp {
    "2025-01-01T12:00:00Z".parse().unwrap()
}

/// The RFC 3339 time `secs` seconds before `now()`.
pub(super) fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The cells as plain strings (integers and booleans rendered), for compact expectations.
pub(super) fn texts(cells: &[Value]) -> Vec<String> {
    cells
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

pub(super) fn row(group: &str, resource: &str, object: Value) -> Vec<String> {
    let cells = row_cells(group, resource, &object, now());
    assert_eq!(cells.len(), columns(group, resource).len(), "one cell per column for {group}/{resource}");
    texts(&cells)
}

#[test]
fn human_duration_follows_upstream_thresholds() {
    let cases: &[(i64, &str)] = &[
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (300, "5m"),
        (312, "5m12s"),
        (599, "9m59s"),
        (600, "10m"),
        (659, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 4 * 60 + 5, "3h4m"),
        (8 * 3600 - 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (53 * 3600, "2d5h"),
        (8 * 86400 - 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
        (10 * 365 * 86400 + 100 * 86400, "10y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(SignedDuration::from_secs(*secs)), *want, "{secs}s");
    }
    assert_eq!(human_duration(SignedDuration::from_millis(1500)), "1s");
    assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
}

#[test]
fn short_human_duration_keeps_one_unit() {
    let cases: &[(i64, &str)] = &[
        (-2, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (86400, "1d"),
        (364 * 86400, "364d"),
        (365 * 86400, "1y"),
        (800 * 86400, "2y"),
    ];
    for (secs, want) in cases {
        assert_eq!(short_human_duration(SignedDuration::from_secs(*secs)), *want, "{secs}s");
    }
}

#[test]
fn ages_of_a_very_old_object_saturate_like_go_durations() {
    let cells = row_cells(
        "",
        "namespaces",
        &json!({"metadata": {"name": "x", "creationTimestamp": "1600-01-01T00:00:00Z"}}),
        now(),
    );
    assert_eq!(cells[2], json!("292y"));
}

#[test]
fn quantities_print_canonically() {
    let cases = [
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("0.5Ki", "512"),
        ("1000Mi", "1000Mi"),
        ("500Ki", "500Ki"),
        ("1023", "1023"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("2000m", "2"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("100m", "100m"),
        ("5G", "5G"),
        ("1e3", "1e3"),
        ("0", "0"),
        ("0Gi", "0"),
        ("-1.5", "-1500m"),
    ];
    for (input, want) in cases {
        assert_eq!(quantity::canonical(input).unwrap(), want, "{input}");
    }
    assert!(quantity::canonical("abc").is_err());
    assert_eq!(quantity::quantity_string(Some(&json!("1.2.3"))), "1.2.3");
    assert_eq!(quantity::quantity_string(Some(&json!(2048))), "2048");
    assert_eq!(quantity::quantity_string(None), "0");
    assert_eq!(quantity::optional_quantity_string(None), "<nil>");
}

#[test]
fn label_selectors_print_sorted_requirements() {
    let cases = [
        (json!({"matchLabels": {"tier": "fe", "app": "web"}}), "app=web,tier=fe"),
        (
            json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}),
            "env in (dev,prod)",
        ),
        (json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["qa"]}]}), "env notin (qa)"),
        (
            json!({"matchLabels": {"b": "1"}, "matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "c", "operator": "DoesNotExist"}]}),
            "a,b=1,!c",
        ),
        (json!({}), "<none>"),
        (json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}), "<error>"),
        (json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}), "<error>"),
        (json!({"matchLabels": {"bad key": "x"}}), "<error>"),
    ];
    for (selector, want) in cases {
        assert_eq!(labels::format_label_selector(Some(&selector)), want, "{selector}");
    }
    assert_eq!(labels::format_label_selector(None), "<none>");
    assert_eq!(labels::format_labels(None), "<none>");
}

fn pod(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "web", "creationTimestamp": ago(312)}, "spec": spec, "status": status})
}

fn app() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx"}]})
}

#[test]
fn pods_print_ready_status_and_restarts_like_kubectl() {
    let cases: Vec<(&str, Value, [&str; 4])> = vec![
        (
            "running",
            pod(
                json!({"containers": [{"name": "app"}], "nodeName": "node-1"}),
                json!({"phase": "Running", "podIPs": [{"ip": "10.244.0.5"}], "podIP": "10.244.0.5",
                       "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(300)}}}]}),
            ),
            ["1/1", "Running", "0", "5m12s"],
        ),
        (
            "crash loop with three restarts",
            pod(
                app(),
                json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(45)}}}]}),
            ),
            ["0/1", "CrashLoopBackOff", "3 (45s ago)", "5m12s"],
        ),
        (
            "second init container running",
            pod(
                json!({"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}],
                    "initContainerStatuses": [
                        {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                        {"name": "b", "restartCount": 0, "state": {"running": {}}}],
                    "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            ),
            ["0/1", "Init:1/2", "0", "5m12s"],
        ),
        (
            "init container crash looping",
            pod(
                json!({"initContainers": [{"name": "a"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "a", "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]}),
            ),
            ["0/1", "Init:CrashLoopBackOff", "2 (30s ago)", "5m12s"],
        ),
        (
            "init container failed",
            pod(
                json!({"initContainers": [{"name": "a"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
            ),
            ["0/1", "Init:Error", "0", "5m12s"],
        ),
        (
            "init container killed",
            pod(
                json!({"initContainers": [{"name": "a"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
            ),
            ["0/1", "Init:Signal:9", "0", "5m12s"],
        ),
        (
            "init done, app starting",
            pod(
                json!({"initContainers": [{"name": "a"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                    "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            ),
            ["0/1", "PodInitializing", "0", "5m12s"],
        ),
        (
            "container creating",
            pod(
                app(),
                json!({"phase": "Pending", "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
            ),
            ["0/1", "ContainerCreating", "0", "5m12s"],
        ),
        ("pending without statuses", pod(app(), json!({"phase": "Pending"})), ["0/1", "Pending", "0", "5m12s"]),
        (
            "scheduling gated",
            pod(
                app(),
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
            ),
            ["0/1", "SchedulingGated", "0", "5m12s"],
        ),
        (
            "completed",
            pod(
                app(),
                json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
            ),
            ["0/1", "Completed", "0", "5m12s"],
        ),
        (
            "exit code without reason",
            pod(
                app(),
                json!({"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 2}}}]}),
            ),
            ["0/1", "ExitCode:2", "0", "5m12s"],
        ),
        (
            "one container completed, another running, pod not ready",
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "state": {"running": {}}}]}),
            ),
            ["1/2", "NotReady", "0", "5m12s"],
        ),
        (
            "sidecar counts as a container and its restarts count",
            pod(
                json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}),
                json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                    "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(130)}}}],
                    "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
            ),
            ["2/2", "Running", "1 (2m10s ago)", "5m12s"],
        ),
    ];
    for (what, object, want) in cases {
        let cells = row("", "pods", object);
        assert_eq!(cells[0], "web", "{what}");
        assert_eq!(&cells[1..5], &want, "{what}");
    }
}

#[test]
fn deleting_pods_print_terminating_unless_terminal_or_lost() {
    let mut terminating = pod(app(), json!({"phase": "Running"}));
    terminating["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(row("", "pods", terminating)[2], "Terminating");

    let mut done = pod(app(), json!({"phase": "Succeeded"}));
    done["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(row("", "pods", done)[2], "Succeeded");

    let mut lost = pod(app(), json!({"phase": "Running", "reason": "NodeLost"}));
    lost["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(row("", "pods", lost)[2], "Unknown");
}

#[test]
fn pod_wide_columns_show_ip_node_nominated_node_and_readiness_gates() {
    let bare = row("", "pods", pod(app(), json!({"phase": "Pending", "podIP": "10.0.0.1"})));
    assert_eq!(&bare[5..], ["<none>", "<none>", "<none>", "<none>"]);

    let full = row(
        "",
        "pods",
        pod(
            json!({"containers": [{"name": "app"}], "nodeName": "n1", "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]}),
            json!({"phase": "Running", "nominatedNodeName": "n2", "podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}],
                   "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]}),
        ),
    );
    assert_eq!(&full[5..], ["fd00::1", "n1", "n2", "1/2"]);
}

#[test]
fn finished_pods_carry_a_completed_row_condition() {
    let done = pod(app(), json!({"phase": "Succeeded"}));
    assert_eq!(row_conditions("", "pods", &done)[0]["reason"], "Succeeded");
    assert!(row_conditions("", "pods", &pod(app(), json!({"phase": "Running"}))).is_empty());
}

#[test]
fn a_pod_without_creation_timestamp_has_unknown_age() {
    assert_eq!(row("", "pods", json!({"metadata": {"name": "x"}}))[4], "<unknown>");
}
