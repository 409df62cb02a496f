//! Pod lifecycle on the simulated runtime against an in-process API server:
//! graceful deletion, a kubelet restart adopting what runs, activeDeadlineSeconds,
//! probes and postStart hooks.

mod pod_common;

use std::time::Duration;

use pod_common::{Node, condition, container, phase, pod, wait_for};
use serde_json::json;
use skiff_kubelet::pod::PodManagerConfig;
use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::runtime::simulated::SimulatedRuntime;

#[tokio::test]
async fn graceful_deletion_stops_the_containers_and_removes_the_pod() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let created = node.create(pod("doomed", "Always", json!({}))).await;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    node.wait_pod("doomed", "Running", |p| phase(p) == "Running").await;
    node.pods().delete("doomed", &Default::default()).await.expect("delete");
    let pods = node.pods();
    wait_for("the pod object removed", async || pods.get_opt("doomed").await.ok().filter(Option::is_none)).await;
    let containers = node.runtime.list_containers(None).await.expect("list");
    let sandboxes = node.runtime.list_pod_sandboxes(None).await.expect("list");
    assert!(containers.is_empty() && sandboxes.is_empty(), "{containers:?} {sandboxes:?}");
    assert!(!node.config.pod_dir(&uid).exists());
    let killing = node.events("doomed").await.into_iter().find(|e| e.reason.as_deref() == Some("Killing"));
    assert_eq!(killing.and_then(|e| e.message).as_deref(), Some("Stopping container c"));
}

#[tokio::test]
async fn a_restarted_kubelet_adopts_running_containers_without_starting_them_again() {
    let mut node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    node.create(pod("keep", "Always", json!({}))).await;
    let running = node.wait_pod("keep", "Running", |p| phase(p) == "Running").await;
    let id = container(&running, "c").and_then(|c| c.container_id);
    node.stop_manager().await;
    // A pod removed while the kubelet was down: its sandbox is removed on start.
    let orphan = skiff_kubelet::runtime::api::PodSandboxConfig {
        labels: [(skiff_kubelet::runtime::labels::POD_UID.to_owned(), "gone".to_owned())].into(),
        ..Default::default()
    };
    node.runtime.run_pod_sandbox(orphan).await.expect("an orphan sandbox");
    node.start_manager(PodManagerConfig::default());
    wait_for("the orphan removed", async || {
        let sandboxes = node.runtime.list_pod_sandboxes(None).await.ok()?;
        (sandboxes.len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let containers = node.runtime.list_containers(None).await.expect("list");
    assert_eq!(containers.len(), 1, "nothing started twice");
    let after = node.pods().get("keep").await.expect("get");
    let c = container(&after, "c").expect("status");
    assert_eq!((c.container_id, c.restart_count), (id, 0));
    assert_eq!(node.runtime.list_pod_sandboxes(None).await.expect("list").len(), 1);
}

#[tokio::test]
async fn a_pod_past_its_active_deadline_fails_with_deadline_exceeded() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let mut p = pod("late", "Always", json!({}));
    p["spec"]["activeDeadlineSeconds"] = json!(1);
    node.create(p).await;
    let failed = node.wait_pod("late", "Failed", |p| phase(p) == "Failed").await;
    let status = failed.status.clone().expect("a status");
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(status.message.as_deref(), Some("Pod was active on the node longer than the specified deadline"));
    let terminated = container(&failed, "c").and_then(|c| c.state?.terminated);
    assert!(terminated.is_some(), "the container was stopped");
}

#[tokio::test]
async fn failing_probes_make_a_pod_unready_and_restart_its_container() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let exec = json!({ "exec": { "command": ["check"] }, "periodSeconds": 1, "failureThreshold": 1 });
    let mut unready = pod("unready", "Always", json!({ "simulation.skiff.dev/exec-exit-code": "1" }));
    unready["spec"]["containers"][0]["readinessProbe"] = exec.clone();
    node.create(unready).await;
    let p = node
        .wait_pod("unready", "Running and not ready", |p| {
            phase(p) == "Running" && condition(p, "ContainersReady").as_deref() == Some("False")
        })
        .await;
    assert!(!container(&p, "c").expect("status").ready);

    let mut dying = pod("dying", "Always", json!({ "simulation.skiff.dev/exec-exit-code": "1" }));
    dying["spec"]["containers"][0]["livenessProbe"] = exec;
    node.create(dying).await;
    node.wait_pod("dying", "restarted", |p| container(p, "c").is_some_and(|c| c.restart_count >= 1)).await;
    let killing = node.events("dying").await.into_iter().filter_map(|e| e.message).collect::<Vec<_>>();
    assert!(killing.iter().any(|m| m == "Container c failed liveness probe, will be restarted"), "{killing:?}");
    assert!(killing.iter().any(|m| m.starts_with("Liveness probe failed")), "{killing:?}");
}

#[tokio::test]
async fn a_failed_post_start_hook_kills_the_container() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let mut p = pod("hooked", "Always", json!({ "simulation.skiff.dev/exec-exit-code": "1" }));
    p["spec"]["containers"][0]["lifecycle"] = json!({ "postStart": { "exec": { "command": ["setup"] } } });
    node.create(p).await;
    node.wait_pod("hooked", "restarted", |p| container(p, "c").is_some_and(|c| c.restart_count >= 1)).await;
    let events = node.events("hooked").await;
    assert!(events.iter().any(|e| e.reason.as_deref() == Some("FailedPostStartHook")));
}
