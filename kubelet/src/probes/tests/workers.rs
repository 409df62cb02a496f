//! Probe workers in paused time: delays, periods, thresholds, startup gating, holds.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::runtime::{Reply, ScriptedRuntime};
use crate::probes::{ProbeKind, ProbeManager, ProbeResult, ProbeUpdate, RunningContainer};

const UID: &str = "uid-1";
const ID: &str = "container-1";

fn exec(command: &str, settings: serde_json::Value) -> serde_json::Value {
    let mut probe = json!({"exec": {"command": [command]}});
    probe.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    probe
}

fn pod(probes: serde_json::Value) -> Pod {
    let mut container = json!({"name": "app", "image": "busybox", "env": [{"name": "WHO", "value": "me"}]});
    container.as_object_mut().unwrap().extend(probes.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {"containers": [container]},
    }))
    .unwrap()
}

struct Harness {
    runtime: Arc<ScriptedRuntime>,
    manager: ProbeManager,
    updates: mpsc::UnboundedReceiver<ProbeUpdate>,
    start: Instant,
    events: Vec<String>,
}

impl Harness {
    fn start(pod: &Pod, runtime: ScriptedRuntime) -> Self {
        let runtime = Arc::new(runtime);
        let (tx, updates) = mpsc::unbounded_channel();
        let manager = ProbeManager::new(runtime.clone(), tx);
        let start = Instant::now();
        manager.update(
            pod,
            Some("10.42.0.5"),
            &[RunningContainer { name: "app".into(), id: ID.into(), started_at: start }],
        );
        Self { runtime, manager, updates, start, events: Vec::new() }
    }

    /// Waits for the next change of `kind`'s result; returns it and the virtual seconds elapsed.
    async fn next_change(&mut self, kind: ProbeKind) -> (ProbeResult, u64) {
        loop {
            let update = tokio::time::timeout(Duration::from_secs(3600), self.updates.recv())
                .await
                .expect("no probe update within an hour")
                .expect("updates channel open");
            assert_eq!((update.pod_uid.as_str(), update.container_id.as_str()), (UID, ID));
            if let Some((_, message)) = update.event {
                self.events.push(message);
            }
            if let (true, Some(result)) = (update.kind == kind, update.changed) {
                return (result, (Instant::now() - self.start).as_secs());
            }
        }
    }

    fn ready(&self) -> bool {
        self.manager.ready(UID, ID)
    }

    fn calls(&self, command: &str) -> Vec<u64> {
        self.runtime.call_times(command, self.start)
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_false_until_success_threshold_runs_and_turns_false_after_failure_threshold() {
    let pod = pod(
        json!({"readinessProbe": exec("ready", json!({"periodSeconds": 10, "successThreshold": 2, "failureThreshold": 3}))}),
    );
    let mut h = Harness::start(&pod, ScriptedRuntime::default());
    assert!(!h.ready());
    assert_eq!(h.next_change(ProbeKind::Readiness).await, (ProbeResult::Success, 10));
    assert!(h.ready());
    h.runtime.script("ready", [Reply::Exit(1, "not yet")]);
    assert_eq!(h.next_change(ProbeKind::Readiness).await, (ProbeResult::Failure, 40));
    assert!(!h.ready());
    assert_eq!(h.calls("ready"), [0, 10, 20, 30, 40]);
    assert_eq!(h.events, ["Readiness probe failed: not yet"; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_container_without_probes_is_started_and_ready() {
    let h = Harness::start(&pod(json!({})), ScriptedRuntime::default());
    let status = h.manager.status(UID, ID).unwrap();
    assert!(status.started && status.ready && status.liveness_failed.is_none());
    assert!(h.manager.status(UID, "other").is_none());
}

#[tokio::test(start_paused = true)]
async fn liveness_fails_after_failure_threshold_and_then_holds() {
    let pod = pod(json!({"livenessProbe": exec("live", json!({"periodSeconds": 5, "failureThreshold": 3}))}));
    let mut h = Harness::start(&pod, ScriptedRuntime::default());
    h.runtime.script("live", [Reply::Exit(0, ""), Reply::Exit(1, "boom")]);
    assert_eq!(h.manager.liveness_failed(UID, ID), None);
    assert_eq!(h.next_change(ProbeKind::Liveness).await, (ProbeResult::Failure, 15));
    assert_eq!(h.manager.liveness_failed(UID, ID).as_deref(), Some("boom"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.calls("live"), [0, 5, 10, 15], "no probing after the verdict until a new container");
    assert_eq!(h.events, ["Liveness probe failed: boom"; 3]);
}

#[tokio::test(start_paused = true)]
async fn the_first_probe_waits_for_the_initial_delay() {
    let pod = pod(json!({"livenessProbe": exec("live", json!({"initialDelaySeconds": 15, "periodSeconds": 10}))}));
    let h = Harness::start(&pod, ScriptedRuntime::default());
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(h.calls("live"), [20, 30, 40]);
}

#[tokio::test(start_paused = true)]
async fn the_startup_probe_gates_liveness_and_readiness() {
    let pod = pod(json!({
        "startupProbe": exec("startup", json!({"periodSeconds": 1, "failureThreshold": 10})),
        "livenessProbe": exec("live", json!({"periodSeconds": 4})),
        "readinessProbe": exec("ready", json!({"periodSeconds": 30})),
    }));
    let runtime = ScriptedRuntime::default();
    runtime.script(
        "startup",
        [Reply::Exit(1, "starting"), Reply::Exit(1, "starting"), Reply::Exit(1, "starting"), Reply::Exit(0, "")],
    );
    let mut h = Harness::start(&pod, runtime);
    assert!(!h.manager.started(UID, ID) && !h.ready());
    assert_eq!(h.next_change(ProbeKind::Startup).await, (ProbeResult::Success, 3));
    assert!(h.manager.started(UID, ID));
    assert_eq!(h.next_change(ProbeKind::Readiness).await, (ProbeResult::Success, 3), "readiness runs at once");
    assert!(h.ready());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.calls("startup"), [0, 1, 2, 3], "startup stops once it passed");
    assert_eq!(h.calls("live"), [4, 8, 12]);
    assert_eq!(h.calls("ready"), [3]);
}

#[tokio::test(start_paused = true)]
async fn a_startup_probe_that_keeps_failing_asks_for_a_restart() {
    let pod = pod(json!({
        "startupProbe": exec("startup", json!({"periodSeconds": 2, "failureThreshold": 3})),
        "livenessProbe": exec("live", json!({"periodSeconds": 1})),
    }));
    let runtime = ScriptedRuntime::default();
    runtime.script("startup", [Reply::Exit(7, "not up")]);
    let mut h = Harness::start(&pod, runtime);
    assert_eq!(h.next_change(ProbeKind::Startup).await, (ProbeResult::Failure, 4));
    assert_eq!(h.manager.startup_failed(UID, ID).as_deref(), Some("not up"));
    assert!(!h.manager.started(UID, ID));
    assert!(h.calls("live").is_empty());
}

#[tokio::test(start_paused = true)]
async fn errored_runs_are_reported_but_do_not_count() {
    let pod = pod(json!({"livenessProbe": exec("live", json!({"periodSeconds": 1, "failureThreshold": 1}))}));
    let runtime = ScriptedRuntime::default();
    runtime.script("live", [Reply::Error("container is not running"), Reply::Error("x"), Reply::Exit(0, "")]);
    let h = Harness::start(&pod, runtime);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(h.manager.liveness_failed(UID, ID), None);
    let mut h = h;
    h.updates.close();
    let mut events = Vec::new();
    while let Some(update) = h.updates.recv().await {
        events.extend(update.event.map(|(reason, message)| format!("{reason}: {message}")));
    }
    assert_eq!(
        events,
        [
            "Unhealthy: Liveness probe errored and resulted in unknown state: ExecSync: container is not running",
            "Unhealthy: Liveness probe errored and resulted in unknown state: ExecSync: x",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_exec_that_times_out_fails_with_upstreams_message() {
    let pod = pod(json!({"livenessProbe": exec("live", json!({"periodSeconds": 1, "failureThreshold": 1}))}));
    let runtime = ScriptedRuntime::default();
    runtime.script("live", [Reply::Error("rpc error: code = DeadlineExceeded desc = context deadline exceeded")]);
    let mut h = Harness::start(&pod, runtime);
    assert_eq!(h.next_change(ProbeKind::Liveness).await, (ProbeResult::Failure, 0));
    assert_eq!(h.events, ["Liveness probe failed: command \"live\" timed out"]);
}

#[tokio::test(start_paused = true)]
async fn exec_commands_expand_the_containers_literal_env() {
    let mut probe = exec("ready", json!({}));
    probe["exec"]["command"] = json!(["ready", "$(WHO)", "$(NOPE)"]);
    let mut h = Harness::start(&pod(json!({"readinessProbe": probe})), ScriptedRuntime::default());
    h.next_change(ProbeKind::Readiness).await;
    assert_eq!(h.runtime.commands()[0], ["ready", "me", "$(NOPE)"]);
}

#[tokio::test(start_paused = true)]
async fn replaced_containers_and_deleted_pods_stop_their_probes() {
    let mut pod = pod(json!({"livenessProbe": exec("live", json!({"periodSeconds": 1, "failureThreshold": 1}))}));
    let h = Harness::start(&pod, ScriptedRuntime::default());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    pod.metadata.deletion_timestamp = Some(serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap());
    h.runtime.script("live", [Reply::Exit(1, "dying")]);
    let running = [RunningContainer { name: "app".into(), id: ID.into(), started_at: h.start }];
    h.manager.update(&pod, Some("10.42.0.5"), &running);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.calls("live"), [0, 1, 2], "liveness stops while the pod terminates");
    assert_eq!(h.manager.liveness_failed(UID, ID), None);
    h.manager.update(&pod, Some("10.42.0.5"), &[]);
    assert!(h.manager.status(UID, ID).is_none());
}
