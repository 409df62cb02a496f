//! One pod's worker: woken by pod updates, runtime changes and timers, it
//! syncs the pod (see [`super::sync`]) and reports its status when it
//! changed (upstream's status manager: merge patch of pods/status, never
//! leaving a terminal phase).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::{Notify, watch};

use super::Context;
use super::backoff::Backoff;
use super::runtime_pod::{RuntimePod, is_running};
use super::status::{self, KUBELET_CONDITIONS, StatusInputs};

/// The latest pod object a worker works towards.
#[derive(Debug, Clone)]
pub struct PodUpdate {
    pub pod: Arc<Pod>,
    /// The pod is gone from the API (deleted without grace): only clean up.
    pub removed: bool,
}

/// What a sync asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sync again after this long (or sooner when woken).
    After(Duration),
    /// The pod is gone: the worker ends.
    Done,
}

/// The state one pod's worker keeps between syncs (everything else is read from the runtime).
pub(crate) struct Worker {
    pub(super) ctx: Arc<Context>,
    pub(super) uid: String,
    pub(super) crash_backoff: Backoff,
    pub(super) image_backoff: Backoff,
    /// Waiting reasons and messages by container name.
    pub(super) waiting: HashMap<String, (String, String)>,
    /// Termination messages by container ID, read once the container exited.
    pub(super) messages: HashMap<String, String>,
    pub(super) last_sent: Option<PodStatus>,
    /// The pod is done: nothing restarts any more.
    pub(super) terminal: bool,
    /// A phase decided by the worker (phase, reason, message).
    pub(super) forced: Option<(String, String, String)>,
}

impl Worker {
    pub(super) fn new(ctx: Arc<Context>, uid: String) -> Self {
        let (crash, image) = (ctx.options.crash_backoff, ctx.options.image_backoff);
        Self {
            ctx,
            uid,
            crash_backoff: Backoff::new(crash),
            image_backoff: Backoff::new(image),
            waiting: HashMap::new(),
            messages: HashMap::new(),
            last_sent: None,
            terminal: false,
            forced: None,
        }
    }

    /// Runs until the pod is gone.
    pub(super) async fn run(mut self, mut updates: watch::Receiver<PodUpdate>, wake: Arc<Notify>) {
        loop {
            let update = updates.borrow_and_update().clone();
            let next = match self.sync(&update.pod, update.removed).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "syncing the pod failed (retrying)");
                    Next::After(Duration::from_secs(1))
                }
            };
            let Next::After(after) = next else { return };
            let after = after.min(self.ctx.options.resync_period);
            tokio::select! {
                changed = updates.changed() => if changed.is_err() { return },
                _ = wake.notified() => {}
                _ = tokio::time::sleep(after) => {}
            }
        }
    }

    /// The pod's status now, from the runtime's view.
    pub(super) fn status(&self, pod: &Pod, runtime: &RuntimePod) -> PodStatus {
        let mut base = pod.clone();
        if let Some(sent) = &self.last_sent {
            let mut old = pod.status.clone().unwrap_or_default();
            let theirs = old.conditions.take().unwrap_or_default();
            // Ours from what we sent, the others' (PodScheduled, readiness gates) from the API.
            let ours = sent.conditions.iter().flatten().filter(|c| KUBELET_CONDITIONS.contains(&c.type_.as_str()));
            let mut conditions: Vec<_> = ours.cloned().collect();
            conditions.extend(theirs.into_iter().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())));
            old.conditions = Some(conditions);
            old.start_time = old.start_time.or_else(|| sent.start_time.clone());
            if old.phase.as_deref().is_none_or(|p| !matches!(p, "Succeeded" | "Failed")) {
                old.phase = sent.phase.clone();
            }
            base.status = Some(old);
        }
        let probes = |id: &str| match &self.ctx.probes.status(&self.uid, id) {
            Some(s) => (s.started, s.ready),
            // Not probed (yet): a running container without probes is started and ready.
            None => (true, runtime.containers.iter().any(|c| c.id == id && is_running(c))),
        };
        let forced = self.forced.as_ref().map(|(p, r, m)| (p.as_str(), r.as_str(), m.as_str()));
        let node_ip = self.ctx.config.node_ip.to_string();
        status::generate(&StatusInputs {
            pod: &base,
            runtime,
            waiting: &self.waiting,
            messages: &self.messages,
            probes: &probes,
            runtime_name: &self.ctx.runtime_name,
            node_ip: &node_ip,
            terminal: self.terminal,
            forced,
            now: jiff::Timestamp::now(),
        })
    }

    /// Patches pods/status when the status changed since it was last sent.
    pub(super) async fn report(&mut self, pod: &Pod, status: PodStatus) {
        if self.last_sent.as_ref() == Some(&status) {
            return;
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let patch = serde_json::json!({ "status": status });
        match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => self.last_sent = Some(status),
            Err(kube::Error::Api(e)) if e.code == 404 => self.last_sent = Some(status),
            Err(error) => tracing::debug!(%error, "patching the pod's status failed (retrying)"),
        }
    }
}
