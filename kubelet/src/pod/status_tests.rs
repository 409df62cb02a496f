use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use serde_json::json;

use super::phase;

fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
    let list = |names: &[&str]| names.iter().map(|n| json!({ "name": n, "image": "busybox" })).collect::<Vec<_>>();
    serde_json::from_value(json!({
        "metadata": { "name": "p" },
        "spec": { "restartPolicy": policy, "initContainers": list(init), "containers": list(containers) },
    }))
    .unwrap_or_default()
}

fn status(name: &str, state: serde_json::Value, last: serde_json::Value) -> ContainerStatus {
    serde_json::from_value(json!({
        "name": name, "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
        "state": state, "lastState": last,
    }))
    .unwrap_or_default()
}

fn running() -> serde_json::Value {
    json!({ "running": {} })
}
fn exited(code: i32) -> serde_json::Value {
    json!({ "terminated": { "exitCode": code } })
}
fn waiting() -> serde_json::Value {
    json!({ "waiting": { "reason": "ContainerCreating" } })
}

#[test]
fn phase_follows_upstreams_get_phase() {
    let none = json!({});
    for (what, policy, init, regular, want) in [
        ("a running container", "Always", vec![], vec![status("c", running(), none.clone())], "Running"),
        ("a waiting container", "Always", vec![], vec![status("c", waiting(), none.clone())], "Pending"),
        ("Never, exit 0", "Never", vec![], vec![status("c", exited(0), none.clone())], "Succeeded"),
        ("Never, exit 1", "Never", vec![], vec![status("c", exited(1), none.clone())], "Failed"),
        ("OnFailure, exit 1", "OnFailure", vec![], vec![status("c", exited(1), none.clone())], "Running"),
        ("Always, exit 0", "Always", vec![], vec![status("c", exited(0), none.clone())], "Running"),
        ("crash loop", "Always", vec![], vec![status("c", waiting(), exited(1))], "Running"),
        (
            "init running",
            "Always",
            vec![status("i", running(), none.clone())],
            vec![status("c", waiting(), none.clone())],
            "Pending",
        ),
        (
            "init failed, Never",
            "Never",
            vec![status("i", exited(1), none.clone())],
            vec![status("c", waiting(), none.clone())],
            "Failed",
        ),
        (
            "init crash loop, Always",
            "Always",
            vec![status("i", waiting(), exited(1))],
            vec![status("c", waiting(), none.clone())],
            "Pending",
        ),
    ] {
        let init_names: Vec<&str> = if init.is_empty() { vec![] } else { vec!["i"] };
        let p = pod(policy, &init_names, &["c"]);
        assert_eq!(phase(&p, &init, &regular, false), want, "{what}");
    }
}

#[test]
fn a_terminal_pod_succeeds_or_fails_whatever_its_restart_policy() {
    let p = pod("Always", &[], &["c"]);
    assert_eq!(phase(&p, &[], &[status("c", exited(0), json!({}))], true), "Succeeded");
    assert_eq!(phase(&p, &[], &[status("c", exited(2), json!({}))], true), "Failed");
}
