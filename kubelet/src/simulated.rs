//! Simulated nodes: registered like real ones (Ready, with capacity, labels
//! and taints from a template), whose bound pods are reported Running at
//! once and whose deleted pods are finalized, with no process behind them.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};

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

    /// Registers the nodes, then runs their pods until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), SimulatedError> {
        self.register().await?;
        let ours: Arc<HashSet<String>> = Arc::new(self.names.iter().cloned().collect());
        let pods: Api<Pod> = Api::all(self.client.clone());
        let mut events = std::pin::pin!(watcher::watcher(pods, watcher::Config::default()).default_backoff());
        let mut shutdown = std::pin::pin!(shutdown);
        let mut next_ip = 0usize;
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = &mut shutdown => return Ok(()),
            };
            let pod = match event {
                Some(Ok(Event::Apply(pod) | Event::InitApply(pod))) => pod,
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
            } else if pod.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running") {
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
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "containerID": format!("simulated://{}", c.name), "ready": true, "started": true,
                "restartCount": 0, "state": { "running": { "startedAt": now } },
            })
        })
        .collect();
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
    }
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
