//! The Job controller, as kube-controller-manager's job-controller: runs a
//! Job's pods to completion (parallelism, completions, NonIndexed and Indexed
//! completion modes), replaces failed pods with an exponential back-off,
//! fails the Job on backoffLimit, backoffLimitPerIndex/maxFailedIndexes, the
//! pod failure policy or activeDeadlineSeconds, succeeds it on completions or
//! the success policy, suspends and resumes it, and keeps its status.
//!
//! Pods carry the `batch.kubernetes.io/job-tracking` finalizer until their
//! result is counted: a finished pod's UID goes first into
//! `status.uncountedTerminatedPods`, then its finalizer is removed, then it
//! moves into `succeeded`/`failed` (upstream's two-step accounting), so no
//! result is counted twice or lost when the controller restarts.
//!
//! Finished Jobs with `ttlSecondsAfterFinished` are deleted once it expires
//! (upstream's separate ttl-after-finished controller, run here, see [`ttl`]).
//! Orphaned pods (their Job gone or finished) lose the finalizer ([`orphans`]).
//!
//! Time comes from the context's clock; since timed requeues run on real
//! time, every Job is re-checked whenever the clock jumps (`clock::jumps`).

mod backoff;
mod indexes;
mod manage;
mod orphans;
mod podutil;
mod policy;
mod status;
mod sync;
mod tracking;
mod ttl;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Action, Config, ReconcileReason, ReconcileRequest, applier};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use crate::clock::{self, Clock};
use crate::events::Events;
use crate::expectations::Expectations;
use crate::manager::Context;
use crate::ownership::{controller_of, selector};

pub use backoff::set_pod_failure_backoff;
pub use indexes::{COMPLETION_INDEX_ANNOTATION, COMPLETION_INDEX_ENV, Intervals};
pub use podutil::TRACKING_FINALIZER;

/// Its name in the controller manager (kube-controller-manager's `--controllers` name).
pub const NAME: &str = "job";
/// The component its events are reported by.
pub const COMPONENT: &str = "job-controller";

const CLOCK_CHECK: Duration = Duration::from_millis(200);
const CLOCK_TOLERANCE: Duration = Duration::from_millis(500);

/// Why a Job reconcile failed (retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading or writing through the API: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Sync(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What every reconcile shares: the caches, expectations and back-off records.
pub(crate) struct State {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    events: Events,
    jobs: Store<Job>,
    pods: Store<Pod>,
    /// Pods created or deleted that the pod cache does not show yet, per Job key.
    expectations: Expectations,
    /// UIDs of pods whose tracking finalizer was removed but the cache still shows it, per Job key.
    finalizer_removals: Mutex<HashMap<String, HashSet<String>>>,
    backoff: backoff::Store,
    /// Consecutive failures per Job, for the error back-off.
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// `namespace/name`, the key of expectations and back-off records.
fn key_of(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Starts the Job controller (with the TTL-after-finished handling and the orphan pod cleanup).
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (jobs, job_writer) = reflector::store::<Job>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let state = Arc::new(State {
        events: Events::new(client.clone(), COMPONENT),
        client: client.clone(),
        clock: ctx.clock.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
        expectations: Expectations::default(),
        finalizer_removals: Mutex::default(),
        backoff: backoff::Store::default(),
        failures: Mutex::default(),
    });
    let (orphan_tx, orphan_rx) = unbounded::<ObjectRef<Pod>>();
    let config = watcher::Config::default();
    let job_events = {
        let (state, orphan_tx) = (state.clone(), orphan_tx.clone());
        reflector::reflector(job_writer, watcher(Api::<Job>::all(client.clone()), config.clone()))
            .default_backoff()
            .flat_map(move |event| stream::iter(route_job_event(&state, &orphan_tx, event)))
    };
    let pod_events = {
        let state = state.clone();
        reflector::reflector(pod_writer, watcher(Api::<Pod>::all(client.clone()), config))
            .default_backoff()
            .flat_map(move |event| stream::iter(route_pod_event(&state, &orphan_tx, event)))
    };
    let clock_jumps = {
        let jobs = jobs.clone();
        clock::jumps(ctx.clock.clone(), CLOCK_CHECK, CLOCK_TOLERANCE).flat_map(move |()| {
            let requests: Vec<_> =
                jobs.state().iter().map(|job| Ok(request(ObjectRef::from_obj(job.as_ref())))).collect();
            stream::iter(requests)
        })
    };
    let queue = stream::select(stream::select(job_events, pod_events), clock_jumps);
    let main =
        applier(reconcile, error_policy, state.clone(), jobs, queue, Config::default()).for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "job reconcile");
            }
        });
    let orphan_queue = orphan_rx.map(|pod| Ok::<_, std::convert::Infallible>(request(pod)));
    let orphans = applier(orphans::reconcile, orphans::error_policy, state, pods, orphan_queue, Config::default())
        .for_each(|_| async {});
    futures::join!(main, orphans);
}

fn request<K: kube::Resource>(obj_ref: ObjectRef<K>) -> ReconcileRequest<K> {
    ReconcileRequest { obj_ref, reason: ReconcileReason::Unknown }
}

type Requests = Vec<std::result::Result<ReconcileRequest<Job>, watcher::Error>>;

/// A Job changed: sync it; a finished or deleted Job's pods that still carry the
/// finalizer go to the orphan cleanup (upstream's updateJob/deleteJob).
fn route_job_event(
    state: &State,
    orphans: &UnboundedSender<ObjectRef<Pod>>,
    event: std::result::Result<watcher::Event<Job>, watcher::Error>,
) -> Requests {
    match event {
        Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => {
            if status::is_finished(&job) {
                send_pods_with_finalizer(state, orphans, &job);
            }
            vec![Ok(request(ObjectRef::from_obj(&job)))]
        }
        Ok(watcher::Event::Delete(job)) => {
            let key = key_of(&job.namespace().unwrap_or_default(), &job.name_any());
            state.expectations.forget(&key);
            state.finalizer_removals.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
            state.backoff.remove(&key);
            send_pods_with_finalizer(state, orphans, &job);
            Vec::new()
        }
        Ok(_) => Vec::new(),
        Err(error) => vec![Err(error)],
    }
}

fn send_pods_with_finalizer(state: &State, orphans: &UnboundedSender<ObjectRef<Pod>>, job: &Job) {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    for pod in state.pods.state() {
        let owned = controller_of(&pod.metadata).is_some_and(|r| r.uid == uid);
        if owned && podutil::has_tracking_finalizer(&pod) {
            let _ = orphans.unbounded_send(ObjectRef::from_obj(pod.as_ref()));
        }
    }
}

/// A pod changed: sync its Job (or, for an orphan, the Jobs whose selector matches it,
/// which may adopt it); a pod with the finalizer and no live Job goes to the orphan cleanup.
fn route_pod_event(
    state: &State,
    orphans: &UnboundedSender<ObjectRef<Pod>>,
    event: std::result::Result<watcher::Event<Pod>, watcher::Error>,
) -> Requests {
    let (pod, deleted) = match event {
        Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => (pod, false),
        Ok(watcher::Event::Delete(pod)) => (pod, true),
        Ok(_) => return Vec::new(),
        Err(error) => return vec![Err(error)],
    };
    let namespace = pod.namespace().unwrap_or_default();
    let has_finalizer = podutil::has_tracking_finalizer(&pod);
    match controller_of(&pod.metadata) {
        Some(owner) if owner.kind == "Job" && owner.api_version == "batch/v1" => {
            let job = state.jobs.get(&ObjectRef::new(&owner.name).within(&namespace));
            let live = job.as_ref().filter(|j| j.metadata.uid.as_deref() == Some(owner.uid.as_str()));
            match live {
                Some(job) if !status::is_finished(job) => vec![Ok(request(ObjectRef::from_obj(job.as_ref())))],
                _ => {
                    if has_finalizer && !deleted {
                        let _ = orphans.unbounded_send(ObjectRef::from_obj(&pod));
                    }
                    Vec::new()
                }
            }
        }
        Some(_) => Vec::new(),
        None => {
            if has_finalizer && !deleted {
                let _ = orphans.unbounded_send(ObjectRef::from_obj(&pod));
            }
            if deleted || pod.metadata.deletion_timestamp.is_some() {
                return Vec::new();
            }
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            state
                .jobs
                .state()
                .iter()
                .filter(|job| job.metadata.namespace.as_deref() == Some(namespace.as_str()))
                .filter(|job| {
                    let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref()).and_then(selector);
                    selector.is_some_and(|s| !labels.is_empty() && crate::ownership::selects(&s, &labels))
                })
                .map(|job| Ok(request(ObjectRef::from_obj(job.as_ref()))))
                .collect()
        }
    }
}

fn reconcile(job: Arc<Job>, state: Arc<State>) -> BoxFuture<'static, Result<Action>> {
    Box::pin(async move {
        let key = key_of(&job.namespace().unwrap_or_default(), &job.name_any());
        let span = tracing::info_span!("job", key = %key);
        let result = tracing::Instrument::instrument(sync::sync(&state, &job), span).await;
        if result.is_ok() {
            state.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        }
        result
    })
}

/// Retries with upstream's Job API back-off: 1 s doubling, at most a minute.
fn error_policy(job: Arc<Job>, error: &Error, state: Arc<State>) -> Action {
    let key = key_of(&job.namespace().unwrap_or_default(), &job.name_any());
    let mut failures = state.failures.lock().unwrap_or_else(|p| p.into_inner());
    let count = failures.entry(key).or_default();
    *count = count.saturating_add(1);
    let delay = Duration::from_secs(1).saturating_mul(1 << (*count - 1).min(6)).min(Duration::from_secs(60));
    tracing::debug!(%error, ?delay, "job sync failed; retrying");
    Action::requeue(delay)
}
