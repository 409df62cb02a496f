//! The scheduler as a client of the API server: watches keep the snapshot
//! and the queue current; one loop schedules a pod at a time and binds it
//! in the background (the pod counts on its node from then on: "assumed").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher::Event;
use tokio::sync::mpsc;

mod watches;

use crate::cycle;
use crate::framework::{PodInfo, Snapshot};
use crate::plugins::volume_binding;
use crate::profile::Profile;
use crate::queue::{Queue, QueuedPod};
use crate::report::Reporter;
use watches::Input;

/// The scheduler: its profiles (one per scheduler name), over a client of the API server.
pub struct Scheduler {
    client: kube::Client,
    profiles: Vec<Profile>,
    attempts: Option<Arc<AttemptLog>>,
}

/// How long each scheduling attempt took, and how many pods were bound (for benchmarks).
#[derive(Debug, Default)]
pub struct AttemptLog {
    durations: std::sync::Mutex<Vec<std::time::Duration>>,
    bound: std::sync::atomic::AtomicUsize,
}

impl AttemptLog {
    fn record(&self, took: std::time::Duration) {
        self.durations.lock().unwrap_or_else(|p| p.into_inner()).push(took);
    }

    /// The durations recorded so far (the log is emptied).
    pub fn take(&self) -> Vec<std::time::Duration> {
        std::mem::take(&mut *self.durations.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Pods bound so far.
    pub fn bound(&self) -> usize {
        self.bound.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.profiles.iter().map(|p| p.scheduler_name.as_str()).collect();
        f.debug_struct("Scheduler").field("profiles", &names).finish_non_exhaustive()
    }
}

/// The loop's own state.
struct State {
    attempts: Option<Arc<AttemptLog>>,
    profiles: Vec<Profile>,
    /// Events and conditions, per scheduler name.
    reporters: HashMap<String, Reporter>,
    snapshot: Snapshot,
    queue: Queue,
    /// Node of every assigned pod the snapshot counts.
    pod_nodes: HashMap<String, String>,
    /// Pods on nodes the snapshot does not know yet.
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Pods bound by this scheduler that the pod watch has not shown bound yet.
    assumed: HashSet<String>,
    next_start: usize,
    /// Objects seen since a watch (re)started listing, by kind.
    relisting: HashMap<&'static str, HashSet<String>>,
    /// Kinds whose first list is complete.
    synced: HashSet<&'static str>,
    /// Bounds the API requests in flight (binds, events, status updates):
    /// thousands at once would each hold a connection and its buffers.
    api_slots: Arc<tokio::sync::Semaphore>,
}

/// At most this many API requests of the scheduler are in flight at once.
const API_REQUESTS_IN_FLIGHT: usize = 64;

fn uid_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

impl Scheduler {
    /// A scheduler for `profiles` (at least one; see `config` for reading them from a file).
    pub fn new(client: kube::Client, profiles: Vec<Profile>) -> Self {
        let profiles = if profiles.is_empty() { vec![Profile::default_profile()] } else { profiles };
        Self { client, profiles, attempts: None }
    }

    /// Records every attempt's duration in `log`.
    pub fn with_attempt_log(mut self, log: Arc<AttemptLog>) -> Self {
        self.attempts = Some(log);
        self
    }

    /// Schedules until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (inputs, mut received) = mpsc::channel(1024);
        let watches = watches::spawn(&self.client, &inputs);
        let reporters = self
            .profiles
            .iter()
            .map(|p| (p.scheduler_name.clone(), Reporter::new(self.client.clone(), &p.scheduler_name)))
            .collect();
        let mut state = State {
            attempts: self.attempts,
            profiles: self.profiles,
            reporters,
            snapshot: Snapshot::default(),
            queue: Queue::default(),
            pod_nodes: HashMap::new(),
            orphans: HashMap::new(),
            assumed: HashSet::new(),
            next_start: 0,
            relisting: HashMap::new(),
            synced: HashSet::new(),
            api_slots: Arc::new(tokio::sync::Semaphore::new(API_REQUESTS_IN_FLIGHT)),
        };
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            while let Ok(input) = received.try_recv() {
                state.apply(input);
            }
            if state.synced.len() == watches::WATCHED_KINDS
                && let Some(pod) = state.queue.pop(Instant::now())
            {
                state.schedule(pod, &self.client, &inputs);
                continue;
            }
            let wake = state.queue.next_backoff();
            tokio::select! {
                input = received.recv() => match input {
                    Some(input) => state.apply(input),
                    None => break,
                },
                _ = sleep_until(wake) => {}
                _ = &mut shutdown => break,
            }
        }
        for watch in watches {
            watch.abort();
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl State {
    /// The profile of the scheduler name a pod asks for (`None`: another scheduler's pod).
    fn profile_index(&self, pod: &Pod) -> Option<usize> {
        let wanted = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or(crate::profile::DEFAULT_SCHEDULER_NAME);
        self.profiles.iter().position(|p| p.scheduler_name == wanted)
    }

    fn reporter(&self, pod: &Pod) -> Option<Reporter> {
        let index = self.profile_index(pod)?;
        self.reporters.get(&self.profiles[index].scheduler_name).cloned()
    }

    /// Tracks which objects a relist saw; at its end, forgets the others (deleted meanwhile).
    fn relist<T>(&mut self, kind: &'static str, event: &Event<T>, key: impl Fn(&T) -> String) -> Option<Vec<String>> {
        match event {
            Event::Init => {
                self.relisting.insert(kind, HashSet::new());
                None
            }
            Event::InitApply(object) => {
                self.relisting.entry(kind).or_default().insert(key(object));
                None
            }
            Event::InitDone => {
                self.synced.insert(kind);
                let seen = self.relisting.remove(kind).unwrap_or_default();
                Some(seen.into_iter().collect())
            }
            _ => None,
        }
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        if let Some(seen) = self.relist("pods", &event, |p| uid_of(&p.metadata)) {
            let seen: HashSet<String> = seen.into_iter().collect();
            let gone: Vec<String> = self
                .pod_nodes
                .keys()
                .filter(|uid| !seen.contains(*uid) && !self.assumed.contains(*uid))
                .cloned()
                .collect();
            for uid in gone {
                self.forget_pod(&uid);
            }
            return;
        }
        match event {
            Event::Apply(pod) | Event::InitApply(pod) => self.pod_applied(Arc::new(pod)),
            Event::Delete(pod) => {
                self.forget_pod(&uid_of(&pod.metadata));
                self.queue.move_all_unschedulable();
            }
            Event::Init | Event::InitDone => {}
        }
    }

    fn pod_applied(&mut self, pod: Arc<Pod>) {
        let uid = uid_of(&pod.metadata);
        self.unnominate(&uid);
        let nominated = pod.status.as_ref().and_then(|s| s.nominated_node_name.clone()).filter(|n| !n.is_empty());
        if let Some(node) = nominated.filter(|_| node_name(&pod).is_none() && pod.metadata.deletion_timestamp.is_none())
        {
            self.snapshot.nominated.entry(node).or_default().push(Arc::new(PodInfo::new(Arc::clone(&pod))));
        }
        match node_name(&pod) {
            Some(_) if is_terminal(&pod) => {
                self.forget_pod(&uid);
                self.queue.move_all_unschedulable();
            }
            Some(node) => {
                self.queue.remove(&uid);
                self.assumed.remove(&uid);
                let node = node.to_owned();
                let info = Arc::new(PodInfo::new(Arc::clone(&pod)));
                let known = self.pod_nodes.get(&uid) == Some(&node);
                self.remove_from_node(&uid);
                self.add_to_node(&node, info);
                if !known {
                    self.queue.move_all_unschedulable();
                }
            }
            None => {
                let ours = self.profile_index(&pod).is_some();
                let gated = pod.spec.as_ref().and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty());
                let deleting = pod.metadata.deletion_timestamp.is_some();
                if ours && !gated && !deleting && !self.assumed.contains(&uid) {
                    self.queue.add_or_update(pod);
                } else {
                    self.queue.remove(&uid);
                }
            }
        }
    }

    fn add_to_node(&mut self, node: &str, info: Arc<PodInfo>) {
        self.pod_nodes.insert(info.uid.clone(), node.to_owned());
        match self.snapshot.node_mut(node) {
            Some(node_info) => node_info.add_pod(info),
            None => self.orphans.entry(node.to_owned()).or_default().push(info),
        }
    }

    fn remove_from_node(&mut self, uid: &str) {
        let Some(node) = self.pod_nodes.remove(uid) else { return };
        if let Some(node_info) = self.snapshot.node_mut(&node) {
            node_info.remove_pod(uid);
        } else if let Some(orphans) = self.orphans.get_mut(&node) {
            orphans.retain(|p| p.uid != uid);
        }
    }

    fn forget_pod(&mut self, uid: &str) {
        self.queue.remove(uid);
        self.assumed.remove(uid);
        self.remove_from_node(uid);
        self.unnominate(uid);
    }

    /// Drops the pod's nomination (it was bound, changed or deleted).
    fn unnominate(&mut self, uid: &str) {
        self.snapshot.nominated.retain(|_, pods| {
            pods.retain(|p| p.uid != uid);
            !pods.is_empty()
        });
    }

    fn node_event(&mut self, event: Event<Node>) {
        let name = |n: &Node| n.metadata.name.clone().unwrap_or_default();
        if let Some(seen) = self.relist("nodes", &event, name) {
            let seen: HashSet<String> = seen.into_iter().collect();
            let gone: Vec<String> =
                self.snapshot.nodes.iter().map(|n| n.name.clone()).filter(|n| !seen.contains(n)).collect();
            for node in gone {
                self.node_removed(&node);
            }
            return;
        }
        match event {
            Event::Apply(node) | Event::InitApply(node) => {
                let node_name = name(&node);
                self.snapshot.upsert_node(Arc::new(node));
                for pod in self.orphans.remove(&node_name).unwrap_or_default() {
                    if let Some(node_info) = self.snapshot.node_mut(&node_name) {
                        node_info.add_pod(pod);
                    }
                }
                self.queue.move_all_unschedulable();
            }
            Event::Delete(node) => self.node_removed(&name(&node)),
            Event::Init | Event::InitDone => {}
        }
    }

    fn node_removed(&mut self, node: &str) {
        let pods = self.snapshot.remove_node(node);
        if !pods.is_empty() {
            self.orphans.insert(node.to_owned(), pods);
        }
    }

    /// One scheduling attempt; binding goes on in the background.
    fn schedule(&mut self, queued: QueuedPod, client: &kube::Client, inputs: &mpsc::Sender<Input>) {
        let (Some(index), Some(reporter)) = (self.profile_index(&queued.pod), self.reporter(&queued.pod)) else {
            return;
        };
        let started = Instant::now();
        let profile = &self.profiles[index];
        let info = PodInfo::new(Arc::clone(&queued.pod));
        let span = tracing::debug_span!("schedule", pod = %format!("{}/{}", info.namespace, info.name));
        let _entered = span.enter();
        match cycle::schedule(profile, &self.snapshot, &info, &mut self.next_start) {
            Ok((placement, _)) => {
                tracing::debug!(node = placement.node, feasible = placement.feasible, "assumed");
                self.assumed.insert(info.uid.clone());
                let mut bound = (*queued.pod).clone();
                if let Some(spec) = bound.spec.as_mut() {
                    spec.node_name = Some(placement.node.clone());
                }
                let waiting = volume_binding::waiting_claims(&self.snapshot, &info);
                let volumes = match self.snapshot.node(&placement.node) {
                    Some(node) if !waiting.is_empty() => {
                        volume_binding::choose(&self.snapshot.volumes, &waiting, node).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                for (claim, volume) in &volumes {
                    let claim_key = (
                        claim.metadata.namespace.clone().unwrap_or_default(),
                        claim.metadata.name.clone().unwrap_or_default(),
                    );
                    self.snapshot.volumes.assumed.insert(volume.metadata.name.clone().unwrap_or_default(), claim_key);
                }
                self.add_to_node(&placement.node, Arc::new(PodInfo::new(Arc::new(bound))));
                if let Some(log) = &self.attempts {
                    log.record(started.elapsed());
                }
                let (client, inputs, node) = (client.clone(), inputs.clone(), placement.node);
                let slots = Arc::clone(&self.api_slots);
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let mut result = Ok(());
                    for (claim, volume) in &volumes {
                        if result.is_ok() {
                            result = crate::volumes::bind(&client, claim, volume).await;
                        }
                    }
                    for claim in
                        waiting.iter().filter(|c| !volumes.iter().any(|(b, _)| b.metadata.uid == c.metadata.uid))
                    {
                        if result.is_ok() {
                            result = crate::volumes::select_node(&client, claim, &node).await;
                        }
                    }
                    if result.is_ok() {
                        result = bind(&client, &queued.pod, &node).await;
                    }
                    let _ = inputs.send(Input::Bound { pod: queued, node, result }).await;
                });
            }
            Err(mut error) => {
                let preemption = match profile.preemption {
                    true => Some(crate::preemption::preempt(profile, &self.snapshot, &info, &error.diagnosis)),
                    false => None,
                };
                let candidate = match preemption {
                    Some(Ok(candidate)) => Some(candidate),
                    Some(Err(message)) => {
                        error.diagnosis.post_filter_message = Some(message);
                        None
                    }
                    None => None,
                };
                let message = error.to_string();
                tracing::debug!(%message, "unschedulable");
                if let Some(log) = &self.attempts {
                    log.record(started.elapsed());
                }
                let pod = Arc::clone(&queued.pod);
                let slots = Arc::clone(&self.api_slots);
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    if let Some(candidate) = candidate {
                        tracing::debug!(node = candidate.node, victims = candidate.victims.len(), "preempting");
                        for victim in &candidate.victims {
                            reporter.preempt(&victim.pod, &pod, &candidate.node).await;
                        }
                        reporter.nominate(&pod, &candidate.node).await;
                    }
                    reporter.unschedulable(&pod, message).await;
                });
                self.queue.failed(queued, true, Instant::now());
            }
        }
    }

    fn bound(&mut self, pod: QueuedPod, node: String, result: Result<(), String>) {
        let Some(reporter) = self.reporter(&pod.pod) else { return };
        match result {
            Ok(()) => {
                if let Some(log) = &self.attempts {
                    log.bound.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let slots = Arc::clone(&self.api_slots);
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    reporter.scheduled(&pod.pod, &node).await
                });
            }
            Err(error) => {
                tracing::debug!(%error, "binding failed");
                self.assumed.remove(&pod.uid);
                self.remove_from_node(&pod.uid);
                let info = PodInfo::new(Arc::clone(&pod.pod));
                let claims: Vec<String> = volume_binding::waiting_claims(&self.snapshot, &info)
                    .iter()
                    .filter_map(|c| c.metadata.name.clone())
                    .collect();
                self.snapshot.volumes.assumed.retain(|_, (ns, claim)| *ns != info.namespace || !claims.contains(claim));
                let message = format!("Binding rejected: {error}");
                let failed = Arc::clone(&pod.pod);
                let slots = Arc::clone(&self.api_slots);
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    reporter.unschedulable(&failed, message).await
                });
                self.queue.failed(pod, false, Instant::now());
            }
        }
    }
}

/// POSTs the pod's Binding to `node`.
async fn bind(client: &kube::Client, pod: &Pod, node: &str) -> Result<(), String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.clone().unwrap_or_default();
    let binding = Binding {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.clone()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference { kind: Some("Node".into()), name: Some(node.to_owned()), ..Default::default() },
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create_subresource::<_, kube::core::Status>("binding", &name, &PostParams::default(), &binding)
        .await
        .map(drop)
        .map_err(|e| match e {
            kube::Error::Api(status) => status.message,
            other => other.to_string(),
        })
}
