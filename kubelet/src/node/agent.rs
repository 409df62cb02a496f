//! [`NodeAgent`]: registers the Node, keeps its status current (computed
//! every 10 s, patched when it changed or every 5 min, as upstream does
//! with leases) and renews its Lease every 10 s; re-registers a Node that
//! was deleted under it.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeStatus, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::host::{self, FsStats, HostFacts};
use super::status::{self, EvictionThresholds, RuntimeFacts, StatusInputs};
use super::{lease, register};
use crate::config::KubeletConfig;
use crate::pod::events::Recorder;

/// Why a registration, status update or lease renewal failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("registering node {node}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading node {node}")]
    Read {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("updating the status of node {node}")]
    UpdateStatus {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("renewing the lease of node {node}")]
    RenewLease {
        node: String,
        #[source]
        source: kube::Error,
    },
}

/// A `Result` with [`NodeError`].
pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// How often things happen; `Default` is upstream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimings {
    /// How often the status is computed (nodeStatusUpdateFrequency, 10 s).
    pub status_update: Duration,
    /// How often an unchanged status is still patched (nodeStatusReportFrequency, 5 min).
    pub status_report: Duration,
    /// How often the Lease is renewed (a quarter of its 40 s, 10 s).
    pub lease_renew: Duration,
    /// The longest wait between registration attempts (7 s).
    pub register_backoff_max: Duration,
}

impl Default for NodeTimings {
    fn default() -> Self {
        Self {
            status_update: Duration::from_secs(10),
            status_report: Duration::from_secs(300),
            lease_renew: Duration::from_secs(10),
            register_backoff_max: Duration::from_secs(7),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The registered Node's UID (the Lease's owner).
    uid: Option<String>,
    /// When the status was last patched.
    last_report: Option<Instant>,
}

/// The kubelet's node half: registration, status and lease.
pub struct NodeAgent {
    client: kube::Client,
    config: KubeletConfig,
    timings: NodeTimings,
    thresholds: EvictionThresholds,
    recorder: Recorder,
    state: Mutex<State>,
}

impl std::fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgent").field("node", &self.config.node_name).finish_non_exhaustive()
    }
}

impl NodeAgent {
    /// A node agent for `config.node_name` talking to the API with `client`.
    pub fn new(client: kube::Client, config: KubeletConfig) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), &config.node_name),
            thresholds: config.eviction_hard,
            client,
            config,
            timings: NodeTimings::default(),
            state: Mutex::default(),
        }
    }

    /// Other intervals (tests).
    pub fn with_timings(mut self, timings: NodeTimings) -> Self {
        self.timings = timings;
        self
    }

    /// Other eviction thresholds.
    pub fn with_thresholds(mut self, thresholds: EvictionThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the Node, or brings an existing one's owned labels up to
    /// date, then reports its status at once.
    pub async fn register(&self) -> Result<Node> {
        let name = &self.config.node_name;
        let error = |source| NodeError::Register { node: name.clone(), source };
        let node = match self.nodes().create(&PostParams::default(), &register::initial_node(&self.config)).await {
            Ok(node) => {
                tracing::info!(node = %name, "registered the node");
                node
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = self.nodes().get(name).await.map_err(error)?;
                match register::reconcile_patch(&existing, &self.config) {
                    Some(patch) => {
                        self.nodes().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(error)?
                    }
                    None => existing,
                }
            }
            Err(source) => return Err(error(source)),
        };
        {
            let mut state = self.state();
            state.uid = node.metadata.uid.clone();
            state.last_report = None;
        }
        self.sync_status().await?;
        self.nodes().get(name).await.map_err(error)
    }

    /// Registers, retrying with back-off (0.1 s doubling to 7 s) until it works.
    async fn register_until_done(&self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.register().await {
                Ok(_) => return,
                Err(error) => tracing::warn!(error = %error_chain(&error), "node registration failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.timings.register_backoff_max);
        }
    }

    /// What the runtime reports this round (each failed call logged and left out).
    async fn runtime_facts(&self) -> (RuntimeFacts, FsStats, HostFacts) {
        let runtime = &self.config.runtime;
        let version = runtime.version().await.map_err(|e| tracing::debug!(error = %e, "runtime version")).ok();
        let status = Some(runtime.status().await.map_err(|e| e.to_string()));
        let images = runtime.list_images().await.map_err(|e| tracing::debug!(error = %e, "listing images")).ok();
        let image_mount = runtime
            .image_fs_info()
            .await
            .ok()
            .and_then(|fs| fs.into_iter().find_map(|u| u.fs_id.map(|id| id.mountpoint)))
            .filter(|m| !m.is_empty());
        let root_dir = self.config.root_dir.clone();
        let (host, image_fs) = tokio::task::spawn_blocking(move || {
            let host = host::read_host_facts(&root_dir);
            let image_fs = image_mount.map(|m| host::fs_stats(std::path::Path::new(&m))).unwrap_or(host.root_fs);
            (host, image_fs)
        })
        .await
        .unwrap_or_default();
        (RuntimeFacts { version, status, images }, image_fs, host)
    }

    /// Computes the status and patches it when it changed or the report
    /// interval passed; `Ok(true)` when it patched. A missing Node is
    /// registered again.
    pub async fn sync_status(&self) -> Result<bool> {
        let name = &self.config.node_name;
        let node = match self.nodes().get_opt(name).await {
            Ok(Some(node)) => node,
            Ok(None) => {
                tracing::warn!(node = %name, "the node was deleted; registering it again");
                Box::pin(self.register()).await?;
                return Ok(true);
            }
            Err(source) => return Err(NodeError::Read { node: name.clone(), source }),
        };
        let (runtime, image_fs, host) = self.runtime_facts().await;
        let previous = node.status.clone().unwrap_or_default();
        let now = Time(jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default());
        let inputs = StatusInputs {
            node_name: name,
            node_ip: self.config.node_ip,
            server_port: self.config.server_port,
            max_pods: self.config.max_pods,
            kubelet_version: crate::simulated::KUBELET_VERSION,
        };
        let pressure = self.thresholds.pressure(&host, &image_fs);
        let status = status::node_status(&previous, &inputs, &host, &runtime, pressure, &self.thresholds, &now);
        let due = {
            let mut state = self.state();
            state.uid = node.metadata.uid.clone();
            state.last_report.is_none_or(|at| at.elapsed() >= self.timings.status_report)
        };
        if !due && !status::status_changed(&previous, &status) {
            return Ok(false);
        }
        let events = status::condition_events(
            previous.conditions.as_deref().unwrap_or_default(),
            status.conditions.as_deref().unwrap_or_default(),
        );
        let old_boot = previous.node_info.as_ref().map(|i| i.boot_id.clone()).filter(|b| !b.is_empty());
        let rebooted = old_boot.is_some_and(|old| !host.boot_id.is_empty() && old != host.boot_id);
        self.patch_status(status).await?;
        self.state().last_report = Some(Instant::now());
        let node = self.node_reference();
        if rebooted {
            let message = format!("Node {name} has been rebooted, boot id: {}", host.boot_id);
            self.recorder.warning(&node, "Rebooted", message).await;
        }
        for event in events {
            self.recorder.normal(&node, event, format!("Node {name} status is now: {event}")).await;
        }
        Ok(true)
    }

    /// The Node as events name it (upstream uses the node's name as its UID there).
    fn node_reference(&self) -> ObjectReference {
        ObjectReference {
            kind: Some("Node".into()),
            name: Some(self.config.node_name.clone()),
            uid: Some(self.config.node_name.clone()),
            ..Default::default()
        }
    }

    async fn patch_status(&self, status: NodeStatus) -> Result<()> {
        let name = &self.config.node_name;
        let patch = json!({ "status": status });
        self.nodes()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(|source| NodeError::UpdateStatus { node: name.clone(), source })
    }

    /// Creates or renews the Lease (owned by the Node once its UID is known).
    pub async fn renew_lease(&self) -> Result<()> {
        let uid = self.state().uid.clone();
        let name = &self.config.node_name;
        match lease::renew(&self.client, name, uid.as_deref()).await {
            Ok(_) => Ok(()),
            Err(source) => Err(NodeError::RenewLease { node: name.clone(), source }),
        }
    }

    /// Registers the Node, then keeps its status and Lease current until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        self.recorder.normal(&self.node_reference(), "Starting", "Starting kubelet.").await;
        tokio::select! {
            () = self.register_until_done() => {}
            () = &mut shutdown => return,
        }
        let mut status = tokio::time::interval(self.timings.status_update);
        let mut renew = tokio::time::interval(self.timings.lease_renew);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        status.tick().await;
        loop {
            tokio::select! {
                _ = renew.tick() => {
                    if let Err(error) = self.renew_lease().await {
                        tracing::warn!(error = %error_chain(&error), "lease renewal failed");
                    }
                }
                _ = status.tick() => {
                    if let Err(error) = self.sync_status().await {
                        tracing::warn!(error = %error_chain(&error), "node status update failed");
                    }
                }
                () = &mut shutdown => return,
            }
        }
    }
}

/// An error with its sources, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
