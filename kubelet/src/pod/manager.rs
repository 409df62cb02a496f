//! The pod manager: watches the pods bound to this node, runs one worker per
//! pod UID, wakes workers on pod updates, probe results and runtime changes
//! (a PLEG relisting all containers and sandboxes every second), adopts what
//! the runtime already runs and removes sandboxes of pods that are gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Context;
use super::backoff::{CRASH_BACKOFF, IMAGE_BACKOFF};
use super::events::{Recorder, reference};
use super::worker::{PodUpdate, Worker};
use crate::config::KubeletConfig;
use crate::probes::{ProbeManager, ProbeUpdate};
use crate::runtime::labels;
use crate::volumes::VolumeManager;

/// Timings of the pod workers; `Default` gives upstream's.
#[derive(Debug, Clone)]
pub struct PodManagerConfig {
    /// Container restart back-off (initial, maximum): 10 s, 5 min.
    pub crash_backoff: (Duration, Duration),
    /// Image pull back-off (initial, maximum): 10 s, 5 min.
    pub image_backoff: (Duration, Duration),
    /// How often the runtime is relisted for changes (1 s).
    pub relist_period: Duration,
    /// How often a pod is synced when nothing happens (10 s).
    pub resync_period: Duration,
}

impl Default for PodManagerConfig {
    fn default() -> Self {
        Self {
            crash_backoff: CRASH_BACKOFF,
            image_backoff: IMAGE_BACKOFF,
            relist_period: Duration::from_secs(1),
            resync_period: Duration::from_secs(10),
        }
    }
}

impl PodManagerConfig {
    /// With this container restart back-off.
    pub fn crash_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.crash_backoff = (initial, max);
        self
    }

    /// With this image pull back-off.
    pub fn image_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.image_backoff = (initial, max);
        self
    }
}

/// Why the pod manager stopped.
#[derive(Debug, thiserror::Error)]
pub enum PodManagerError {
    #[error("the pod watch ended")]
    WatchEnded,
}

struct Handle {
    updates: watch::Sender<PodUpdate>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

/// Runs the pods bound to one node.
pub struct PodManager {
    client: kube::Client,
    config: Arc<KubeletConfig>,
    volumes: VolumeManager,
    options: PodManagerConfig,
}

impl std::fmt::Debug for PodManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodManager").field("node", &self.config.node_name).finish_non_exhaustive()
    }
}

/// A fingerprint of what the runtime runs for one pod: (id, state) of its sandboxes and containers.
type Fingerprint = BTreeMap<String, i32>;

impl PodManager {
    /// A manager for the node of `config`.
    pub fn new(client: kube::Client, config: Arc<KubeletConfig>, volumes: VolumeManager) -> Self {
        Self { client, config, volumes, options: PodManagerConfig::default() }
    }

    /// With other timings.
    pub fn with_options(mut self, options: PodManagerConfig) -> Self {
        self.options = options;
        self
    }

    /// Runs the pods until `shutdown` completes (containers keep running; a restarted manager adopts them).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), PodManagerError> {
        let runtime = self.config.runtime.clone();
        let runtime_name = match runtime.version().await {
            Ok(version) if !version.runtime_name.is_empty() => version.runtime_name,
            _ => "containerd".into(),
        };
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<ProbeUpdate>();
        let ctx = Arc::new(Context {
            client: self.client.clone(),
            config: self.config.clone(),
            runtime: runtime.clone(),
            volumes: self.volumes.clone(),
            events: Recorder::new(self.client.clone(), &self.config.node_name),
            probes: ProbeManager::new(runtime.clone(), probe_tx),
            runtime_name,
            host_resolv: super::dns::host_resolv_conf(),
            options: self.options.clone(),
        });
        let pods: Api<Pod> = Api::all(self.client.clone());
        let selector = format!("spec.nodeName={}", self.config.node_name);
        let stream = watcher::watcher(pods, watcher::Config::default().fields(&selector)).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut workers: HashMap<String, Handle> = HashMap::new();
        let mut listed: Option<HashSet<String>> = None;
        let mut fingerprints: HashMap<String, Fingerprint> = HashMap::new();
        let mut relist = tokio::time::interval(self.options.relist_period);
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(Event::Init)) => listed = Some(HashSet::new()),
                    Some(Ok(Event::InitApply(pod))) => {
                        if let (Some(listed), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                            listed.insert(uid);
                        }
                        dispatch(&ctx, &mut workers, pod, false);
                    }
                    Some(Ok(Event::InitDone)) => {
                        let listed = listed.take().unwrap_or_default();
                        for (uid, handle) in &workers {
                            if !listed.contains(uid) {
                                let pod = handle.updates.borrow().pod.clone();
                                handle.updates.send_replace(PodUpdate { pod, removed: true });
                            }
                        }
                        remove_orphans(&ctx, &listed, &workers).await;
                    }
                    Some(Ok(Event::Apply(pod))) => dispatch(&ctx, &mut workers, pod, false),
                    Some(Ok(Event::Delete(pod))) => dispatch(&ctx, &mut workers, pod, true),
                    Some(Err(error)) => tracing::debug!(%error, "pod watch error (retrying)"),
                    None => break Err(PodManagerError::WatchEnded),
                },
                _ = relist.tick() => pleg(&ctx, &workers, &mut fingerprints).await,
                Some(update) = probe_rx.recv() => {
                    if let Some(handle) = workers.get(&update.pod_uid) {
                        if let Some((event_reason, message)) = update.event {
                            let pod = handle.updates.borrow().pod.clone();
                            let field = super::sync::field_path(&pod, &update.container_name);
                            ctx.events.warning(&reference(&pod, Some(field)), event_reason, message).await;
                        }
                        if update.changed.is_some() {
                            handle.wake.notify_one();
                        }
                    }
                }
                _ = &mut shutdown => break Ok(()),
            }
            workers.retain(|_, handle| !handle.task.is_finished());
        };
        for handle in workers.values() {
            handle.task.abort();
        }
        result
    }
}

/// Hands a pod to its worker, starting one for a new UID.
fn dispatch(ctx: &Arc<Context>, workers: &mut HashMap<String, Handle>, pod: Pod, removed: bool) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    let update = PodUpdate { pod: Arc::new(pod), removed };
    if let Some(handle) = workers.get(&uid).filter(|h| !h.task.is_finished()) {
        // Status-only changes (the worker's own patches) do not wake the worker, as upstream's pod config.
        handle.updates.send_if_modified(|current| {
            let wake = removed || current.removed || differs_semantically(&current.pod, &update.pod);
            *current = update;
            wake
        });
        return;
    }
    if removed {
        return;
    }
    let span = tracing::info_span!(
        "pod",
        namespace = update.pod.metadata.namespace.as_deref().unwrap_or_default(),
        name = update.pod.metadata.name.as_deref().unwrap_or_default(),
        uid = uid.as_str(),
    );
    let (updates, receiver) = watch::channel(update);
    let wake = Arc::new(Notify::new());
    let worker = Worker::new(ctx.clone(), uid.clone());
    let task = tokio::spawn(worker.run(receiver, wake.clone()).instrument(span));
    workers.insert(uid, Handle { updates, wake, task });
}

/// Whether a pod changed in more than its status (and bookkeeping metadata).
fn differs_semantically(a: &Pod, b: &Pod) -> bool {
    let strip = |pod: &Pod| {
        let mut pod = pod.clone();
        pod.status = None;
        pod.metadata.resource_version = None;
        pod.metadata.managed_fields = None;
        pod
    };
    strip(a) != strip(b)
}

/// Relists the runtime and wakes the workers of pods whose sandboxes or containers changed.
async fn pleg(ctx: &Context, workers: &HashMap<String, Handle>, fingerprints: &mut HashMap<String, Fingerprint>) {
    let (containers, sandboxes) =
        match tokio::try_join!(ctx.runtime.list_containers(None), ctx.runtime.list_pod_sandboxes(None)) {
            Ok(lists) => lists,
            Err(error) => {
                tracing::debug!(%error, "relisting the runtime failed");
                return;
            }
        };
    let mut now: HashMap<String, Fingerprint> = HashMap::new();
    for (uid, id, state) in containers
        .iter()
        .map(|c| (c.labels.get(labels::POD_UID), &c.id, c.state))
        .chain(sandboxes.iter().map(|s| (s.labels.get(labels::POD_UID), &s.id, s.state + 100)))
    {
        if let Some(uid) = uid {
            now.entry(uid.clone()).or_default().insert(id.clone(), state);
        }
    }
    for (uid, handle) in workers {
        if fingerprints.get(uid) != now.get(uid) {
            handle.wake.notify_one();
        }
    }
    *fingerprints = now;
}

/// Removes the sandboxes (and files) of pods the runtime has but the API no longer binds here.
async fn remove_orphans(ctx: &Context, listed: &HashSet<String>, workers: &HashMap<String, Handle>) {
    let sandboxes = match ctx.runtime.list_pod_sandboxes(None).await {
        Ok(sandboxes) => sandboxes,
        Err(error) => {
            tracing::warn!(%error, "listing sandboxes for orphans failed");
            return;
        }
    };
    for sandbox in sandboxes {
        let Some(uid) = sandbox.labels.get(labels::POD_UID) else { continue };
        if listed.contains(uid) || workers.contains_key(uid) {
            continue;
        }
        tracing::info!(uid, sandbox = sandbox.id, "removing the sandbox of a pod that is gone");
        let _ = ctx.runtime.stop_pod_sandbox(&sandbox.id).await;
        if let Err(error) = ctx.runtime.remove_pod_sandbox(&sandbox.id).await {
            tracing::warn!(%error, "removing an orphaned sandbox failed");
            continue;
        }
        let _ = ctx.volumes.teardown(uid).await;
        let mut pod = Pod::default();
        pod.metadata.name = sandbox.metadata.as_ref().map(|m| m.name.clone());
        pod.metadata.namespace = sandbox.metadata.as_ref().map(|m| m.namespace.clone());
        super::terminate::remove_pod_files(&ctx.config, &pod, uid);
    }
}
