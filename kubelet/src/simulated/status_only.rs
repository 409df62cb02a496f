//! Status-only pods for simulated nodes (as kwok does): bound pods are
//! reported Running at once and deleted ones are finalized, by status writes
//! alone, with no pod worker behind them. For controller and scheduler tests
//! that write pods' statuses themselves, which a kubelet would overwrite.
//! Pods told to exit (see the parent module) finish or restart at once, with
//! no back-off.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};

use super::{EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, node_ip, pod_network};

/// Runs the pods bound to `nodes` until `shutdown` completes.
pub(super) async fn run(client: kube::Client, nodes: Vec<String>, shutdown: impl std::future::Future<Output = ()>) {
    let mut started: HashSet<String> = HashSet::new();
    let pods: Api<Pod> = Api::all(client.clone());
    let mut events = std::pin::pin!(watcher::watcher(pods, watcher::Config::default()).default_backoff());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_ip = 0u32;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = &mut shutdown => return,
        };
        let pod = match event {
            Some(Ok(Event::Apply(pod) | Event::InitApply(pod))) => pod,
            Some(Ok(Event::Delete(pod))) => {
                started.remove(pod.metadata.uid.as_deref().unwrap_or_default());
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                tracing::debug!(%error, "simulated nodes: pod watch error (retrying)");
                continue;
            }
            None => return,
        };
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let Some(index) = node.and_then(|node| nodes.iter().position(|n| n == node)) else { continue };
        let client = client.clone();
        if pod.metadata.deletion_timestamp.is_some() {
            tokio::spawn(async move { finalize(client, pod).await });
        } else if matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), None | Some("Pending"))
            && started.insert(pod.metadata.uid.clone().unwrap_or_default())
        {
            next_ip = next_ip % 254 + 1;
            let pod_ip = Ipv4Addr::from(u32::from(pod_network(index)) + next_ip).to_string();
            let host_ip = node_ip(index).to_string();
            tokio::spawn(async move { start(client, pod, pod_ip, host_ip).await });
        }
    }
}

/// Reports a bound pod Running with all its containers ready.
async fn start(client: kube::Client, pod: Pod, pod_ip: String, host_ip: String) {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let running = containers_status(&pod, 0, json!({ "running": { "startedAt": now } }), None);
    let containers = &running["status"]["containerStatuses"];
    let condition =
        |type_: &str| json!({ "type": type_, "status": "True", "lastProbeTime": null, "lastTransitionTime": now });
    let status = json!({ "status": {
        "phase": "Running", "podIP": pod_ip, "podIPs": [{ "ip": pod_ip }], "hostIP": host_ip,
        "hostIPs": [{ "ip": host_ip }], "startTime": now,
        "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"),
                       condition("ContainersReady"), condition("PodScheduled")],
        "containerStatuses": containers, "qosClass": "BestEffort",
    } });
    let pods: Api<Pod> = Api::namespaced(client, pod.metadata.namespace.as_deref().unwrap_or("default"));
    let name = pod.metadata.name.clone().unwrap_or_default();
    if let Err(error) = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await {
        tracing::debug!(%error, pod = name, "simulated nodes: reporting a pod Running failed");
        return;
    }
    if let Some(exit) = Exit::of(&pod) {
        exit.run(&pods, &pod).await;
    }
}

/// What a pod told to exit does (see the module doc).
#[derive(Debug, Clone, Copy)]
struct Exit {
    code: i32,
    after: std::time::Duration,
}

impl Exit {
    fn of(pod: &Pod) -> Option<Self> {
        let annotations = pod.metadata.annotations.as_ref()?;
        let code = annotations.get(EXIT_CODE_ANNOTATION)?.trim().parse().ok()?;
        let seconds: f64 = annotations.get(RUN_SECONDS_ANNOTATION).and_then(|s| s.trim().parse().ok()).unwrap_or(0.0);
        let after = std::time::Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default();
        Some(Self { code, after })
    }

    /// Lets the containers run, then reports them terminated (and restarted, where the policy says so).
    async fn run(self, pods: &Api<Pod>, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
        let restarts = policy == "Always" || (policy == "OnFailure" && self.code != 0);
        let mut restart_count = 0;
        loop {
            tokio::time::sleep(self.after).await;
            let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let reason = if self.code == 0 { "Completed" } else { "Error" };
            let terminated = json!({ "exitCode": self.code, "reason": reason, "startedAt": now, "finishedAt": now });
            let status = if restarts {
                restart_count += 1;
                containers_status(pod, restart_count, json!({ "running": { "startedAt": now } }), Some(&terminated))
            } else {
                let phase = if self.code == 0 { "Succeeded" } else { "Failed" };
                let not_ready = |type_: &str| {
                    json!({ "type": type_, "status": "False", "reason": "PodCompleted",
                    "lastProbeTime": null, "lastTransitionTime": now })
                };
                let mut status = containers_status(pod, 0, json!({ "terminated": terminated }), None);
                status["status"]["phase"] = json!(phase);
                status["status"]["conditions"] = json!([not_ready("Ready"), not_ready("ContainersReady")]);
                status
            };
            if let Err(error) = pods.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status)).await {
                tracing::debug!(%error, pod = name, "simulated nodes: reporting an exit failed");
                return;
            }
            if !restarts {
                return;
            }
        }
    }
}

/// A status patch setting every container to `state` (with `last` as its last termination).
fn containers_status(pod: &Pod, restart_count: i32, state: Value, last: Option<&Value>) -> Value {
    let running = state.get("running").is_some();
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "containerID": format!("simulated://{}", c.name), "ready": running, "started": running,
                "restartCount": restart_count, "state": state,
                "lastState": last.map(|t| json!({ "terminated": t })).unwrap_or_else(|| json!({})),
            })
        })
        .collect();
    json!({ "status": { "containerStatuses": containers } })
}

/// Completes the deletion of a pod on a simulated node (its containers "stopped" at once).
async fn finalize(client: kube::Client, pod: Pod) {
    let pods: Api<Pod> = Api::namespaced(client, pod.metadata.namespace.as_deref().unwrap_or("default"));
    let name = pod.metadata.name.clone().unwrap_or_default();
    let params = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    if let Err(error) = pods.delete(&name, &params).await {
        tracing::debug!(%error, pod = name, "simulated nodes: finalizing a deleted pod failed");
    }
}
