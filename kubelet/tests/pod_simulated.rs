//! Pod workers on the simulated runtime against an in-process API server:
//! pods run, finish, restart with back-off, pull images as their policy says,
//! run init containers in order, terminate gracefully and survive a kubelet restart.

mod pod_common;

use std::time::Duration;

use pod_common::{NODE, Node, condition, container, phase, wait_for, waiting};
use serde_json::json;
use skiff_kubelet::pod::PodManagerConfig;
use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::runtime::simulated::SimulatedRuntime;

fn pod(name: &str, policy: &str, annotations: serde_json::Value) -> serde_json::Value {
    json!({
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "restartPolicy": policy, "containers": [{ "name": "c", "image": "busybox:1.36" }] },
    })
}

#[tokio::test]
async fn a_pod_goes_running_with_its_conditions_and_container_status() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    node.create(pod("web", "Always", json!({}))).await;
    let running = node
        .wait_pod("web", "Running and Ready", |p| {
            phase(p) == "Running" && condition(p, "Ready").as_deref() == Some("True")
        })
        .await;
    for type_ in ["PodReadyToStartContainers", "Initialized", "ContainersReady"] {
        assert_eq!(condition(&running, type_).as_deref(), Some("True"), "{type_}");
    }
    let status = running.status.clone().expect("a status");
    assert!(status.pod_ip.as_deref().is_some_and(|ip| ip.starts_with("10.42.")), "{:?}", status.pod_ip);
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    let c = container(&running, "c").expect("a container status");
    assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
    assert!(c.container_id.as_deref().is_some_and(|id| id.starts_with("simulated://")), "{:?}", c.container_id);
    assert!(c.image_id.starts_with("sha256:"), "{}", c.image_id);
    assert!(c.state.and_then(|s| s.running).is_some());
    let events = node.events("web").await;
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
    for want in ["Pulled", "Created", "Started"] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }
    let pulled = events.iter().find(|e| e.reason.as_deref() == Some("Pulled")).and_then(|e| e.message.clone());
    assert_eq!(pulled.as_deref(), Some("Container image \"busybox:1.36\" already present on machine"));
}

#[tokio::test]
async fn never_pods_succeed_with_exit_code_0_and_fail_with_1() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let exits =
        |code: &str| json!({ "simulation.skiff.dev/exit-code": code, "simulation.skiff.dev/run-seconds": "0.2" });
    node.create(pod("ok", "Never", exits("0"))).await;
    node.create(pod("bad", "Never", exits("1"))).await;
    for (name, want, reason, code) in [("ok", "Succeeded", "Completed", 0), ("bad", "Failed", "Error", 1)] {
        let done = node.wait_pod(name, want, |p| phase(p) == want).await;
        let terminated = container(&done, "c").and_then(|c| c.state?.terminated).expect("terminated");
        assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (code, Some(reason)), "{name}");
        let ready = done.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let ready = ready.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some(if code == 0 { "PodCompleted" } else { "PodFailed" }));
    }
    // Terminal pods get their sandboxes stopped.
    wait_for("sandboxes stopped", async || {
        let sandboxes = node.runtime.list_pod_sandboxes(None).await.ok()?;
        sandboxes.iter().all(|s| s.state != 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_containers() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let annotations = json!({
        "simulation.skiff.dev/exit-code.first": "0", "simulation.skiff.dev/run-seconds.first": "0.3",
        "simulation.skiff.dev/exit-code.second": "0", "simulation.skiff.dev/run-seconds.second": "0.3",
    });
    node.create(json!({
        "metadata": { "name": "init", "annotations": annotations },
        "spec": {
            "initContainers": [{ "name": "first", "image": "busybox:1.36" }, { "name": "second", "image": "busybox:1.36" }],
            "containers": [{ "name": "c", "image": "busybox:1.36" }],
        },
    }))
    .await;
    let pending = node.wait_pod("init", "initializing", |p| container(p, "first").is_some()).await;
    assert_eq!(phase(&pending), "Pending");
    let running = node.wait_pod("init", "Running", |p| phase(p) == "Running").await;
    assert_eq!(condition(&running, "Initialized").as_deref(), Some("True"));
    let mut started = Vec::new();
    for c in node.runtime.list_containers(None).await.expect("list") {
        let status = node.runtime.container_status(&c.id).await.expect("status").expect("exists");
        let name = status.metadata.clone().map(|m| m.name).unwrap_or_default();
        started.push((status.started_at, status.finished_at, name));
    }
    started.sort();
    let names: Vec<&str> = started.iter().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(names, ["first", "second", "c"]);
    assert!(started[0].1 <= started[1].0 && started[1].1 <= started[2].0, "each starts after the one before finished");
}

#[tokio::test]
async fn a_crashing_container_goes_into_crash_loop_back_off() {
    let node = Node::start(SimulatedRuntime::new(), PodManagerConfig::default()).await;
    let crashing = json!({ "simulation.skiff.dev/exit-code": "1", "simulation.skiff.dev/run-seconds": "0.1" });
    let created = node.create(pod("crash", "Always", crashing)).await;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let backing_off = node
        .wait_pod("crash", "in CrashLoopBackOff", |p| waiting(p, "c").is_some_and(|(r, _)| r == "CrashLoopBackOff"))
        .await;
    let (_, message) = waiting(&backing_off, "c").unwrap_or_default();
    assert_eq!(message, format!("back-off 10s restarting failed container=c pod=crash_default({uid})"));
    let c = container(&backing_off, "c").expect("status");
    assert_eq!(c.restart_count, 1, "the first crash restarts at once");
    assert_eq!(c.last_state.and_then(|l| l.terminated).map(|t| t.exit_code), Some(1));
    assert_eq!(phase(&backing_off), "Running");
    let back_off = node.events("crash").await.into_iter().find(|e| e.reason.as_deref() == Some("BackOff"));
    assert_eq!(
        back_off.and_then(|e| e.message),
        Some(format!("Back-off restarting failed container c in pod crash_default({uid})"))
    );
}

#[tokio::test]
async fn crash_back_off_doubles_between_restarts() {
    let options = PodManagerConfig::default().crash_backoff(Duration::from_secs(1), Duration::from_secs(8));
    let node = Node::start(SimulatedRuntime::new(), options).await;
    let crashing = json!({ "simulation.skiff.dev/exit-code": "2", "simulation.skiff.dev/run-seconds": "0" });
    node.create(pod("loop", "OnFailure", crashing)).await;
    let mut seen = Vec::new();
    for want in ["1s", "2s", "4s"] {
        let p = node
            .wait_pod("loop", &format!("back-off {want}"), |p| {
                waiting(p, "c").is_some_and(|(_, m)| m.starts_with(&format!("back-off {want} ")))
            })
            .await;
        seen.push(container(&p, "c").map(|c| c.restart_count).unwrap_or_default());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "restarts between back-offs: {seen:?}");
}

#[tokio::test]
async fn a_missing_image_gives_err_image_pull_then_image_pull_back_off() {
    let runtime = SimulatedRuntime::new().with_images(["busybox:1.36"]);
    let node = Node::start(runtime, PodManagerConfig::default()).await;
    let mut missing = pod("missing", "Always", json!({}));
    missing["spec"]["containers"][0]["image"] = json!("example.com/nope:1");
    node.create(missing).await;
    let pull = node.wait_pod("missing", "ErrImagePull", |p| waiting(p, "c").is_some()).await;
    let (reason, message) = waiting(&pull, "c").unwrap_or_default();
    assert_eq!(reason, "ErrImagePull");
    assert!(
        message.starts_with("rpc error: code = Unknown desc = failed to pull and unpack image \"example.com/nope:1\""),
        "{message}"
    );
    let back_off = node
        .wait_pod("missing", "ImagePullBackOff", |p| waiting(p, "c").is_some_and(|(r, _)| r == "ImagePullBackOff"))
        .await;
    let (_, back_off_message) = waiting(&back_off, "c").unwrap_or_default();
    assert_eq!(back_off_message, format!("Back-off pulling image \"example.com/nope:1\": ErrImagePull: {message}"));
    assert_eq!(phase(&back_off), "Pending");
    let events = node.events("missing").await;
    let messages: Vec<(String, String)> =
        events.iter().map(|e| (e.reason.clone().unwrap_or_default(), e.message.clone().unwrap_or_default())).collect();
    for (reason, message) in [
        ("Pulling", "Pulling image \"example.com/nope:1\"".to_owned()),
        ("Failed", format!("Failed to pull image \"example.com/nope:1\": {message}")),
        ("Failed", "Error: ErrImagePull".to_owned()),
        ("BackOff", "Back-off pulling image \"example.com/nope:1\"".to_owned()),
    ] {
        assert!(messages.contains(&(reason.to_owned(), message.clone())), "{reason}: {message} in {messages:?}");
    }

    let mut never = pod("never", "Always", json!({}));
    never["spec"]["containers"][0]["image"] = json!("example.com/nope:1");
    never["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    node.create(never).await;
    let never = node.wait_pod("never", "ErrImageNeverPull", |p| waiting(p, "c").is_some()).await;
    assert_eq!(
        waiting(&never, "c"),
        Some((
            "ErrImageNeverPull".to_owned(),
            "Container image \"example.com/nope:1\" is not present with pull policy of Never".to_owned()
        ))
    );
}

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
    let _ = NODE;
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
