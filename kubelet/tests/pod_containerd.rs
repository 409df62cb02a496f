//! Pod workers on a real containerd (skiff_kubelet::testing::TestContainerd):
//! a pod's echo reaches its log file, a crashing container goes through
//! CrashLoopBackOff, init containers run in order, and graceful deletion
//! runs the preStop hook.

#![cfg(feature = "testing")]

mod pod_common;

use std::time::Duration;

use pod_common::{Node, container, phase, wait_for, waiting};
use serde_json::json;
use skiff_kubelet::pod::PodManagerConfig;
use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::runtime::cri::CriRuntime;
use skiff_kubelet::testing::{BUSYBOX_IMAGE, TestContainerd};

async fn node(test: &TestContainerd) -> Node<CriRuntime> {
    let cgroup_root = test.cgroup_root();
    Node::start_with(test.runtime(), PodManagerConfig::default(), move |mut config| {
        config.cgroup_root = cgroup_root;
        config
    })
    .await
}

fn busybox(name: &str, command: &[&str]) -> serde_json::Value {
    json!({ "name": name, "image": BUSYBOX_IMAGE, "command": command })
}

fn log_file(
    node: &Node<CriRuntime>,
    pod: &k8s_openapi::api::core::v1::Pod,
    container: &str,
    attempt: u32,
) -> std::path::PathBuf {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    node.config
        .pod_log_dir("default", pod.metadata.name.as_deref().unwrap_or_default(), &uid)
        .join(container)
        .join(format!("{attempt}.log"))
}

#[tokio::test]
async fn a_pod_runs_echo_and_its_log_file_holds_the_line() {
    let Some(test) = TestContainerd::start().await else { return };
    let node = node(&test).await;
    let pod = node
        .create(json!({
            "metadata": { "name": "echo" },
            "spec": { "restartPolicy": "Never", "containers": [busybox("c", &["sh", "-c", "echo hello-from-pod"])] },
        }))
        .await;
    let done = node.wait_pod("echo", "Succeeded", |p| phase(p) == "Succeeded").await;
    let c = container(&done, "c").expect("a status");
    assert!(c.container_id.as_deref().is_some_and(|id| id.starts_with("containerd://")), "{:?}", c.container_id);
    assert!(done.status.as_ref().and_then(|s| s.pod_ip.clone()).is_some_and(|ip| ip.starts_with("10.123.")));
    let log = std::fs::read_to_string(log_file(&node, &pod, "c", 0)).expect("the log file");
    assert!(log.lines().any(|l| l.ends_with(" stdout F hello-from-pod")), "{log}");
}

#[tokio::test]
async fn a_crashing_container_goes_through_crash_loop_back_off() {
    let Some(test) = TestContainerd::start().await else { return };
    let node = node(&test).await;
    node.create(json!({
        "metadata": { "name": "crash" },
        "spec": { "containers": [busybox("c", &["sh", "-c", "echo dying; exit 3"])] },
    }))
    .await;
    let backing_off = node
        .wait_pod("crash", "CrashLoopBackOff", |p| waiting(p, "c").is_some_and(|(r, _)| r == "CrashLoopBackOff"))
        .await;
    let c = container(&backing_off, "c").expect("a status");
    assert!(c.restart_count >= 1);
    let last = c.last_state.and_then(|l| l.terminated).expect("a last termination");
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    // The previous instance is kept for logs --previous.
    let uid = backing_off.metadata.uid.clone().unwrap_or_default();
    let filter = skiff_kubelet::runtime::api::ContainerFilter {
        label_selector: [(skiff_kubelet::runtime::labels::POD_UID.to_owned(), uid)].into(),
        ..Default::default()
    };
    let kept = node.runtime.list_containers(Some(filter)).await.expect("list");
    assert!((1..=2).contains(&kept.len()), "{} containers kept", kept.len());
}

#[tokio::test]
async fn init_containers_run_in_order_on_containerd() {
    let Some(test) = TestContainerd::start().await else { return };
    let node = node(&test).await;
    node.create(json!({
        "metadata": { "name": "init" },
        "spec": {
            "initContainers": [busybox("one", &["sh", "-c", "sleep 0.3"]), busybox("two", &["sh", "-c", "sleep 0.3"])],
            "containers": [busybox("c", &["sleep", "3600"])],
            "terminationGracePeriodSeconds": 1,
        },
    }))
    .await;
    node.wait_pod("init", "Running", |p| phase(p) == "Running").await;
    let mut started = Vec::new();
    for c in node.runtime.list_containers(None).await.expect("list") {
        let status = node.runtime.container_status(&c.id).await.expect("status").expect("exists");
        started.push((status.started_at, status.finished_at, status.metadata.map(|m| m.name).unwrap_or_default()));
    }
    started.sort();
    let names: Vec<&str> = started.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(names, ["one", "two", "c"]);
    assert!(started[0].1 <= started[1].0 && started[1].1 <= started[2].0, "{started:?}");
}

#[tokio::test]
async fn graceful_deletion_runs_the_pre_stop_hook() {
    let Some(test) = TestContainerd::start().await else { return };
    let node = node(&test).await;
    let mut c = busybox("c", &["sleep", "3600"]);
    c["lifecycle"] = json!({ "preStop": { "exec": { "command": ["sh", "-c", "echo pre-stop-ran > /proc/1/fd/1"] } } });
    let pod = node
        .create(json!({
            "metadata": { "name": "bye" },
            "spec": { "containers": [c], "terminationGracePeriodSeconds": 5 },
        }))
        .await;
    node.wait_pod("bye", "Running", |p| phase(p) == "Running").await;
    node.pods().delete("bye", &Default::default()).await.expect("delete");
    let log = log_file(&node, &pod, "c", 0);
    // sleep (PID 1) ignores SIGTERM: the container runs on for the grace period after the hook.
    wait_for("the preStop hook's line in the log", async || {
        std::fs::read_to_string(&log).ok().filter(|l| l.contains("pre-stop-ran")).map(drop)
    })
    .await;
    let pods = node.pods();
    wait_for("the pod removed", async || pods.get_opt("bye").await.ok().filter(Option::is_none)).await;
    let sandboxes = node.runtime.list_pod_sandboxes(None).await.expect("list");
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    let _ = Duration::ZERO;
}
