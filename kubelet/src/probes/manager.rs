//! The probe workers of every running container on the node and their
//! results, for the pod workers: they tell the manager which containers run
//! ([`ProbeManager::update`]), read started/ready/liveness from it, and are
//! woken through the [`ProbeUpdate`] channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::worker::{ContainerState, Reporter, Worker};
use super::{ProbeKind, ProbeResult, ProbeTarget, Prober};
use crate::runtime::Runtime;

/// Something a probe worker found: sent on every change of a result and on every run that
/// upstream records an event for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUpdate {
    pub pod_uid: String,
    pub container_name: String,
    pub container_id: String,
    pub kind: ProbeKind,
    /// The probe's new result, when it changed.
    pub changed: Option<ProbeResult>,
    /// The Warning event to record on the pod, as (reason, message):
    /// `("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")`.
    pub event: Option<(&'static str, String)>,
}

/// A container instance the pod worker has running.
#[derive(Debug, Clone)]
pub struct RunningContainer {
    /// The container's name in the pod spec.
    pub name: String,
    /// The runtime's container ID.
    pub id: String,
    /// When it started (initialDelaySeconds counts from here); see [`instant_from_unix_nanos`].
    pub started_at: Instant,
}

/// What the probes say about one container instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerProbeStatus {
    /// No startup probe, or it succeeded (ContainerStatus.started).
    pub started: bool,
    /// Started and no readiness probe or it succeeded (ContainerStatus.ready).
    pub ready: bool,
    /// The liveness probe failed failureThreshold times: the output of its last run. Restart.
    pub liveness_failed: Option<String>,
    /// The startup probe failed failureThreshold times: the output of its last run. Restart.
    pub startup_failed: Option<String>,
}

/// The probe workers of the node's running containers.
#[derive(Debug)]
pub struct ProbeManager {
    prober: Prober,
    updates: mpsc::UnboundedSender<ProbeUpdate>,
    pods: Mutex<HashMap<String, HashMap<String, ContainerProbes>>>,
}

#[derive(Debug)]
struct ContainerProbes {
    state: Arc<Mutex<ContainerState>>,
    tasks: Vec<(ProbeKind, JoinHandle<()>)>,
}

impl Drop for ContainerProbes {
    fn drop(&mut self) {
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

impl ProbeManager {
    /// A manager running exec probes on `runtime`, reporting to `updates`.
    pub fn new(runtime: Arc<dyn Runtime>, updates: mpsc::UnboundedSender<ProbeUpdate>) -> Self {
        Self::with_prober(Prober::new(runtime), updates)
    }

    /// A manager with a given prober.
    pub fn with_prober(prober: Prober, updates: mpsc::UnboundedSender<ProbeUpdate>) -> Self {
        Self { prober, updates, pods: Mutex::new(HashMap::new()) }
    }

    /// Sets the pod's running container instances: starts the probes of new ones, stops those
    /// of instances no longer listed. A pod being deleted gets its liveness and startup probes
    /// stopped (and counted as passing), as upstream does during graceful termination.
    pub fn update(&self, pod: &Pod, pod_ip: Option<&str>, running: &[RunningContainer]) {
        let Some(uid) = pod.metadata.uid.clone() else { return };
        let Ok(mut pods) = self.pods.lock() else { return };
        let containers = pods.entry(uid.clone()).or_default();
        containers.retain(|id, _| running.iter().any(|c| &c.id == id));
        let specs = pod
            .spec
            .as_ref()
            .map(|spec| spec.containers.iter().chain(spec.init_containers.iter().flatten()).collect::<Vec<_>>());
        for instance in running {
            if containers.contains_key(&instance.id) {
                continue;
            }
            let Some(spec) = specs.iter().flatten().find(|c| c.name == instance.name) else { continue };
            let kinds: Vec<ProbeKind> = [ProbeKind::Liveness, ProbeKind::Readiness, ProbeKind::Startup]
                .into_iter()
                .filter(|kind| kind.of(spec).is_some())
                .collect();
            let state = Arc::new(Mutex::new(ContainerState::new(
                kinds.contains(&ProbeKind::Liveness),
                kinds.contains(&ProbeKind::Readiness),
                kinds.contains(&ProbeKind::Startup),
            )));
            let reporter = Reporter {
                pod_uid: uid.clone(),
                container_name: instance.name.clone(),
                container_id: instance.id.clone(),
                updates: self.updates.clone(),
                state: Arc::clone(&state),
                started: Arc::new(Notify::new()),
            };
            let target = ProbeTarget {
                container: (*spec).clone(),
                container_id: instance.id.clone(),
                pod_ip: pod_ip.unwrap_or_default().to_owned(),
            };
            let tasks = kinds
                .into_iter()
                .filter_map(|kind| {
                    let worker = Worker {
                        kind,
                        probe: kind.of(spec)?.clone(),
                        target: target.clone(),
                        prober: self.prober.clone(),
                        started_at: instance.started_at,
                        reporter: reporter.clone(),
                    };
                    Some((kind, tokio::spawn(worker.run())))
                })
                .collect();
            containers.insert(instance.id.clone(), ContainerProbes { state, tasks });
        }
        if pod.metadata.deletion_timestamp.is_some() {
            for probes in containers.values_mut() {
                probes.stop_for_termination();
            }
        }
    }

    /// Stops every probe of the pod and forgets its results.
    pub fn remove(&self, pod_uid: &str) {
        if let Ok(mut pods) = self.pods.lock() {
            pods.remove(pod_uid);
        }
    }

    /// What the probes say about a container instance; `None` when it is not tracked.
    pub fn status(&self, pod_uid: &str, container_id: &str) -> Option<ContainerProbeStatus> {
        let pods = self.pods.lock().ok()?;
        let probes = pods.get(pod_uid)?.get(container_id)?;
        let state = probes.state.lock().ok()?;
        let started = state.started();
        let failed = |kind: ProbeKind| {
            (state.result(kind) == Some(ProbeResult::Failure))
                .then(|| state.last_failure[ContainerState::failure_index(kind)].clone().unwrap_or_default())
        };
        Some(ContainerProbeStatus {
            started,
            ready: started && state.readiness.is_none_or(|r| r == ProbeResult::Success),
            liveness_failed: failed(ProbeKind::Liveness),
            startup_failed: failed(ProbeKind::Startup),
        })
    }

    /// Whether the container instance counts as started (false when not tracked).
    pub fn started(&self, pod_uid: &str, container_id: &str) -> bool {
        self.status(pod_uid, container_id).is_some_and(|s| s.started)
    }

    /// Whether the container instance is ready (false when not tracked).
    pub fn ready(&self, pod_uid: &str, container_id: &str) -> bool {
        self.status(pod_uid, container_id).is_some_and(|s| s.ready)
    }

    /// The last output of a liveness probe that failed failureThreshold times in a row.
    pub fn liveness_failed(&self, pod_uid: &str, container_id: &str) -> Option<String> {
        self.status(pod_uid, container_id)?.liveness_failed
    }

    /// The last output of a startup probe that failed failureThreshold times in a row.
    pub fn startup_failed(&self, pod_uid: &str, container_id: &str) -> Option<String> {
        self.status(pod_uid, container_id)?.startup_failed
    }
}

impl ContainerProbes {
    fn stop_for_termination(&mut self) {
        for (kind, task) in &self.tasks {
            if *kind != ProbeKind::Readiness {
                task.abort();
            }
        }
        self.tasks.retain(|(kind, _)| *kind == ProbeKind::Readiness);
        if let Ok(mut state) = self.state.lock() {
            state.liveness = state.liveness.map(|_| ProbeResult::Success);
            if state.startup.is_some_and(|r| r == ProbeResult::Failure) {
                state.startup = Some(ProbeResult::Success);
            }
        }
    }
}

/// The `Instant` of a wall-clock time in nanoseconds since the epoch (a CRI `started_at`),
/// for containers that started before the kubelet did.
pub fn instant_from_unix_nanos(nanos: i64) -> Instant {
    let now = Instant::now();
    let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else { return now };
    let started = Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    now.checked_sub(since_epoch.saturating_sub(started)).unwrap_or(now)
}
