//! printPod: READY, STATUS, RESTARTS as `kubectl get pods` shows them.

use jiff::Timestamp;
use serde_json::Value;

use super::access::{boolean, condition, get, has, int, list, name, opt_bool, string, time};
use super::duration::since;

/// The later of two optional timestamps (Go: `if last.Before(&t) { last = t }` with zero times).
fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(c), Some(t)) if c < t => Some(t),
        (None, t) => t,
        (c, _) => c,
    }
}

/// The `finishedAt` of a container status's last termination, if any.
fn last_terminated_at(status: &Value) -> Option<Timestamp> {
    time(status, &["lastState", "terminated", "finishedAt"])
}

/// "Signal:N" or "ExitCode:N" for a terminated state without a reason.
fn exit_text(terminated: &Value) -> String {
    let signal = int(terminated, &["signal"]);
    if signal != 0 { format!("Signal:{signal}") } else { format!("ExitCode:{}", int(terminated, &["exitCode"])) }
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    condition(pod, &["status", "conditions"], kind).is_some_and(|c| string(c, &["status"]) == "True")
}

/// The row of a pod: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node, Readiness Gates.
pub(super) fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let containers = list(pod, &["spec", "containers"]);
    let init_specs = list(pod, &["spec", "initContainers"]);
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_restart: Option<Timestamp> = None;

    let phase = string(pod, &["status", "phase"]);
    let mut reason = phase.to_string();
    let status_reason = string(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for cond in list(pod, &["status", "conditions"]) {
        if string(cond, &["type"]) == "PodScheduled" && string(cond, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }

    let is_restartable = |container_name: &str| {
        init_specs
            .iter()
            .find(|c| string(c, &["name"]) == container_name)
            .is_some_and(|c| string(c, &["restartPolicy"]) == "Always")
    };
    total += init_specs.iter().filter(|c| string(c, &["restartPolicy"]) == "Always").count();

    let mut initializing = false;
    for (i, status) in list(pod, &["status", "initContainerStatuses"]).iter().enumerate() {
        let restart_count = int(status, &["restartCount"]);
        restarts += restart_count;
        last_restart = later(last_restart, last_terminated_at(status));
        let restartable = is_restartable(string(status, &["name"]));
        if restartable {
            restartable_restarts += restart_count;
            last_restartable_restart = later(last_restartable_restart, last_terminated_at(status));
        }
        let terminated = get(status, &["state", "terminated"]);
        let waiting_reason = string(status, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int(t, &["exitCode"]) == 0) {
            continue;
        }
        if restartable && opt_bool(status, &["started"]) == Some(true) {
            if boolean(status, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(terminated) = terminated {
            let terminated_reason = string(terminated, &["reason"]);
            if terminated_reason.is_empty() {
                format!("Init:{}", exit_text(terminated))
            } else {
                format!("Init:{terminated_reason}")
            }
        } else if has(status, &["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for status in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(status, &["restartCount"]);
            last_restart = later(last_restart, last_terminated_at(status));
            let waiting_reason = string(status, &["state", "waiting", "reason"]);
            let terminated = get(status, &["state", "terminated"]);
            if has(status, &["state", "waiting"]) && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(terminated) = terminated {
                let terminated_reason = string(terminated, &["reason"]);
                reason =
                    if terminated_reason.is_empty() { exit_text(terminated) } else { terminated_reason.to_string() };
            } else if boolean(status, &["ready"]) && has(status, &["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }

    let deleting = has(pod, &["metadata", "deletionTimestamp"]);
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(at), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = list(pod, &["status", "podIPs"]).first().map(|ip| string(ip, &["ip"])).unwrap_or_default();
    let gates = list(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let satisfied = gates.iter().filter(|gate| condition_true(pod, string(gate, &["conditionType"]))).count();
        format!("{satisfied}/{}", gates.len())
    };

    vec![
        name(pod).into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        since(time(pod, &["metadata", "creationTimestamp"]), now).into(),
        or_none(pod_ip).into(),
        or_none(string(pod, &["spec", "nodeName"])).into(),
        or_none(string(pod, &["status", "nominatedNodeName"])).into(),
        readiness_gates.into(),
    ]
}

/// The row conditions upstream attaches to a pod row (`Completed` for terminal phases).
pub(super) fn pod_conditions(pod: &Value) -> Vec<Value> {
    let (reason, message) = match string(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![serde_json::json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// `s`, or "<none>" when empty.
pub(super) fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}
