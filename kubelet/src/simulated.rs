//! Simulated nodes: registered like real ones (Ready, with capacity, labels
//! and taints from a template, a Lease renewed every 10 s), whose bound pods
//! are reported Running at once and whose deleted pods are finalized, with
//! no process behind them.
//!
//! A pod can be told to exit: the annotation [`EXIT_CODE_ANNOTATION`] makes
//! its containers terminate with that code after [`RUN_SECONDS_ANNOTATION`]
//! seconds (default 0). With restartPolicy Never, or OnFailure and code 0,
//! the pod then Succeeds or Fails; otherwise its containers restart (the
//! restart count grows) and exit again after the same time.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};

/// Pod annotation: the exit code of the pod's containers on simulated nodes.
pub const EXIT_CODE_ANNOTATION: &str = "simulation.skiff.dev/exit-code";
/// Pod annotation: how long (seconds, fractions allowed) the containers run before exiting.
pub const RUN_SECONDS_ANNOTATION: &str = "simulation.skiff.dev/run-seconds";
/// How often simulated nodes renew their Leases (the kubelet's default).
pub const LEASE_RENEW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// The Lease duration they declare (the kubelet's default).
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// The kubelet version simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0+skiff";

/// Why simulated nodes could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatedError {
    #[error("reading the node template {path}: {source}")]
    ReadTemplate { path: String, source: std::io::Error },
    #[error("the node template {path} is not a Node: {source}")]
    ParseTemplate { path: String, source: serde_yaml::Error },
    #[error("registering node {node}: {source}")]
    Register { node: String, source: kube::Error },
}

/// A set of simulated nodes.
pub struct SimulatedNodes {
    client: kube::Client,
    names: Vec<String>,
    template: Node,
}

impl std::fmt::Debug for SimulatedNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNodes").field("nodes", &self.names.len()).finish_non_exhaustive()
    }
}

/// The default template: 32 CPUs, 256 GiB, 110 pods, linux/amd64.
pub fn default_template() -> Node {
    serde_json::from_value(json!({
        "metadata": { "labels": { "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" } },
        "status": { "capacity": { "cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti" } },
    }))
    .unwrap_or_default()
}

/// A template read from a YAML (or JSON) Node manifest.
pub fn read_template(path: &std::path::Path) -> Result<Node, SimulatedError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| SimulatedError::ReadTemplate { path: display.clone(), source })?;
    serde_yaml::from_str(&text).map_err(|source| SimulatedError::ParseTemplate { path: display, source })
}

impl SimulatedNodes {
    /// `count` nodes named `<prefix>-<n>` from `template` (its name is ignored).
    pub fn new(client: kube::Client, prefix: &str, count: usize, template: Node) -> Self {
        let width = count.saturating_sub(1).to_string().len();
        let names = (0..count).map(|i| format!("{prefix}-{i:0width$}")).collect();
        Self { client, names, template }
    }

    /// The node names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The Node object of simulated node `index`.
    fn node(&self, index: usize, name: &str) -> Node {
        let mut node = self.template.clone();
        node.metadata = kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some({
                let mut labels = self.template.metadata.labels.clone().unwrap_or_default();
                labels.insert("kubernetes.io/hostname".into(), name.to_owned());
                labels.insert("node.kubernetes.io/simulated".into(), "true".into());
                labels
            }),
            annotations: self.template.metadata.annotations.clone(),
            ..Default::default()
        };
        let mut status = node.status.take().unwrap_or_default();
        if status.allocatable.is_none() {
            status.allocatable = status.capacity.clone();
        }
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let condition = |type_: &str, value: &str, reason: &str, message: &str| {
            json!({ "type": type_, "status": value, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": now })
        };
        let extra: Value = json!({
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                { "type": "InternalIP", "address": simulated_ip(44, index) },
                { "type": "Hostname", "address": name },
            ],
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64", "containerRuntimeVersion": "simulated://1.0", "kernelVersion": "",
                "osImage": "skiff simulated node", "machineID": "", "systemUUID": "", "bootID": "",
            },
        });
        if let Ok(extra) = serde_json::from_value::<k8s_openapi::api::core::v1::NodeStatus>(extra) {
            status.conditions = extra.conditions;
            status.addresses = extra.addresses;
            status.node_info = extra.node_info;
        }
        node.status = Some(status);
        node
    }

    /// Registers the nodes (creating or refreshing them).
    pub async fn register(&self) -> Result<(), SimulatedError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        for (index, name) in self.names.iter().enumerate() {
            let node = self.node(index, name);
            let registered = match nodes.create(&PostParams::default(), &node).await {
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                other => other.map(drop),
            };
            registered.map_err(|source| SimulatedError::Register { node: name.clone(), source })?;
            let status = json!({ "status": node.status });
            nodes
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .map_err(|source| SimulatedError::Register { node: name.clone(), source })?;
        }
        Ok(())
    }

    /// Creates or renews each node's Lease in kube-node-lease (holder: the node).
    pub async fn renew_leases(&self) {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "kube-node-lease");
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        for name in &self.names {
            let patch = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": { "name": name, "ownerReferences": [] },
                "spec": { "holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now },
            });
            let renewed = leases.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await;
            let result = match renewed {
                Err(kube::Error::Api(status)) if status.code == 404 => match serde_json::from_value::<Lease>(patch) {
                    Ok(lease) => leases.create(&PostParams::default(), &lease).await.map(drop),
                    Err(error) => {
                        tracing::debug!(%error, "simulated nodes: building a lease failed");
                        Ok(())
                    }
                },
                other => other.map(drop),
            };
            if let Err(error) = result {
                tracing::debug!(%error, node = name, "simulated nodes: renewing the lease failed");
            }
        }
    }

    /// Registers the nodes, then runs their pods and renews their leases until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), SimulatedError> {
        self.register().await?;
        let ours: Arc<HashSet<String>> = Arc::new(self.names.iter().cloned().collect());
        let mut renew = tokio::time::interval(LEASE_RENEW_INTERVAL);
        let mut started: HashSet<String> = HashSet::new();
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut events = std::pin::pin!(watcher::watcher(pods, watcher::Config::default()).default_backoff());
        let mut shutdown = std::pin::pin!(shutdown);
        let mut next_ip = 0usize;
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = renew.tick() => {
                    self.renew_leases().await;
                    continue;
                }
                _ = &mut shutdown => return Ok(()),
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
                None => return Ok(()),
            };
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| ours.contains(n)) else {
                continue;
            };
            let client = self.client.clone();
            if pod.metadata.deletion_timestamp.is_some() {
                tokio::spawn(async move { finalize(client, pod).await });
            } else if matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), None | Some("Pending"))
                && started.insert(pod.metadata.uid.clone().unwrap_or_default())
            {
                next_ip += 1;
                let index = self.names.iter().position(|n| *n == node).unwrap_or(0);
                let (pod_ip, host_ip) = (simulated_ip(42, next_ip), simulated_ip(44, index));
                tokio::spawn(async move { start(client, pod, pod_ip, host_ip).await });
            }
        }
    }
}

/// An address in 10.<second>.0.0/16 for a simulated node or pod (never contacted).
fn simulated_ip(second: u8, index: usize) -> String {
    let index = index % 65_534 + 1;
    format!("10.{second}.{}.{}", index / 256, index % 256)
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
