//! Simulated nodes: registered like real ones (Ready, with capacity, labels
//! and taints from a template, a Lease renewed every 10 s), each running the
//! real pod workers over a [`SimulatedRuntime`]: pods bound to them go
//! through the kubelet's whole life cycle (volumes, probes, restarts with
//! back-off, graceful deletion, events) with no process behind them.
//!
//! A pod can be told to exit: the annotation [`EXIT_CODE_ANNOTATION`] makes
//! its containers terminate with that code after [`RUN_SECONDS_ANNOTATION`]
//! seconds (default 0); the restart policy then decides, as on a real node.
//! The runtime's module doc lists the other annotations. Nodes' addresses
//! are loopback ones (127.44.0.0/16), so that nothing the API server sends to
//! a simulated kubelet leaves the host; pods get IPs from 10.64.0.0/10, one
//! /24 per node, that are never contacted.
//!
//! [`SimulatedNodes::status_only`] runs no pod workers (for controller and
//! scheduler tests that write pods' statuses themselves).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::config::KubeletConfig;
use crate::pod::{PodManager, PodManagerConfig};
use crate::runtime::simulated::SimulatedRuntime;
use crate::volumes::VolumeManager;

mod status_only;

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
    #[error("making a directory for the simulated nodes' pods: {0}")]
    PodsDir(std::io::Error),
}

/// A set of simulated nodes.
pub struct SimulatedNodes {
    client: kube::Client,
    names: Vec<String>,
    template: Node,
    root_dir: Option<PathBuf>,
    pod_options: PodManagerConfig,
    start_delay: Duration,
    status_only: bool,
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
        Self {
            client,
            names,
            template,
            root_dir: None,
            pod_options: PodManagerConfig::default(),
            start_delay: Duration::ZERO,
            status_only: false,
        }
    }

    /// Runs no pod workers: bound pods are reported Running at once by a status write, deleted
    /// ones are finalized, and statuses written by others stay (see `status_only`'s doc).
    pub fn status_only(mut self) -> Self {
        self.status_only = true;
        self
    }

    /// Keeps the nodes' pods' files (volumes) under `dir/<node>`; by default a temporary
    /// directory removed when they stop.
    pub fn with_root_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root_dir = Some(dir.into());
        self
    }

    /// With other pod worker timings (container restart back-off, say) than upstream's.
    pub fn with_pod_options(mut self, options: PodManagerConfig) -> Self {
        self.pod_options = options;
        self
    }

    /// Containers take `delay` to start (pods go Running that much after their sandbox).
    pub fn with_start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
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
        if node.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_none() {
            let cidr = format!("{}/24", pod_network(index));
            let spec = node.spec.get_or_insert_default();
            spec.pod_cidr = Some(cidr.clone());
            spec.pod_cidrs = Some(vec![cidr]);
        }
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
                { "type": "InternalIP", "address": node_ip(index).to_string() },
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

    /// The pod workers of node `index`, over a runtime of its own, keeping files under `root/<name>`.
    fn pod_manager(&self, index: usize, name: &str, root: &std::path::Path) -> PodManager {
        let network = pod_network(index);
        let runtime = SimulatedRuntime::new().with_pod_network(network, 24).with_start_delay(self.start_delay);
        let mut config = KubeletConfig::new(name, root.join(name), Arc::new(runtime));
        config.node_ip = node_ip(index).into();
        config.pod_cidr = Some(format!("{network}/24"));
        let volumes = VolumeManager::new(self.client.clone(), config.root_dir.join("pods")).simulated();
        PodManager::new(self.client.clone(), Arc::new(config), volumes).with_options(self.pod_options.clone())
    }

    /// Registers the nodes, then runs their pods and renews their leases until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), SimulatedError> {
        self.register().await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        let mut temporary = None;
        if self.status_only {
            tasks.spawn(status_only::run(self.client.clone(), self.names.clone(), until_stopped()));
        } else {
            if self.root_dir.is_none() {
                let dir = tempfile::Builder::new().prefix("skiff-simulated-").tempdir();
                temporary = Some(dir.map_err(SimulatedError::PodsDir)?);
            }
            let root = self.root_dir.clone().or_else(|| temporary.as_ref().map(|t| t.path().to_owned()));
            let root = root.unwrap_or_default();
            for (index, name) in self.names.iter().enumerate() {
                let pods = self.pod_manager(index, name, &root);
                let until_stopped = until_stopped();
                tasks.spawn(async move {
                    if let Err(error) = pods.run(until_stopped).await {
                        tracing::warn!(%error, "a simulated node's pods stopped");
                    }
                });
            }
        }
        let mut renew = tokio::time::interval(LEASE_RENEW_INTERVAL);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = renew.tick() => self.renew_leases().await,
                _ = &mut shutdown => break,
            }
        }
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
        drop(temporary);
        Ok(())
    }
}

/// The InternalIP of simulated node `index`: a loopback address in 127.44.0.0/16.
fn node_ip(index: usize) -> Ipv4Addr {
    let index = u32::try_from(index % 65_534 + 1).unwrap_or(1);
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 44, 0, 0)) + index)
}

/// The pod network (a /24 in 10.64.0.0/10) of simulated node `index`.
fn pod_network(index: usize) -> Ipv4Addr {
    let index = u32::try_from(index % (1 << 14)).unwrap_or(0);
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 64, 0, 0)) + (index << 8))
}
