//! The CronJob controller, as kube-controller-manager's cronjob-controller
//! (v2): at each time its schedule names it creates a Job from the CronJob's
//! template (named `<cronjob>-<minutes since the epoch>`, so a scheduled time
//! never gets two Jobs), applies the concurrency policy (Allow, Forbid,
//! Replace), the starting deadline and suspension, keeps `status.active`,
//! `lastScheduleTime` and `lastSuccessfulTime`, and trims finished Jobs to the
//! history limits.
//!
//! Time comes from the context's clock. A reconcile requeues itself for the
//! next schedule (100 ms after it, as upstream) on real time; and since a
//! clock may move differently from real time (a test's `FakeClock` being
//! advanced, the system clock being stepped), every CronJob is also
//! re-checked whenever the clock jumps (`clock::jumps`, polled every 200 ms).

mod schedule;
mod sync;
mod times;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Api;
use kube::runtime::controller::{
    Action, Config, ReconcileReason, ReconcileRequest, applier, trigger_owners, trigger_self,
};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::clock::{self, Clock};
use crate::events::Events;
use crate::manager::Context;

pub use schedule::{Schedule, load_location, parse_go_duration};

/// Its name in the controller manager (kube-controller-manager's `--controllers` name).
pub const NAME: &str = "cronjob";
/// The component its events are reported by.
pub const COMPONENT: &str = "cronjob-controller";

/// How often the clock is compared with real time, and by how much they may differ.
const CLOCK_CHECK: Duration = Duration::from_millis(200);
const CLOCK_TOLERANCE: Duration = Duration::from_millis(500);

/// Why a CronJob reconcile failed (retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading or writing through the API: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Sync(String),
}

/// What every reconcile shares.
pub(crate) struct State {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    events: Events,
    /// Every Job, to find each CronJob's children.
    jobs: Store<Job>,
    /// The zone of schedules without a time zone (Go's `time.Local` upstream).
    local: jiff::tz::TimeZone,
    /// Consecutive failures per CronJob, for the error back-off.
    failures: Mutex<HashMap<ObjectRef<CronJob>, u32>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// Starts the CronJob controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (cronjobs, cronjob_writer) = reflector::store::<CronJob>();
    let (jobs, job_writer) = reflector::store::<Job>();
    let config = watcher::Config::default();
    let cronjob_events =
        reflector::reflector(cronjob_writer, watcher(Api::<CronJob>::all(client.clone()), config.clone()))
            .default_backoff()
            .applied_objects();
    let job_events = reflector::reflector(job_writer, watcher(Api::<Job>::all(client.clone()), config))
        .default_backoff()
        .touched_objects();
    let all = cronjobs.clone();
    let clock_jumps = clock::jumps(ctx.clock.clone(), CLOCK_CHECK, CLOCK_TOLERANCE).flat_map(move |()| {
        let requests: Vec<Result<ReconcileRequest<CronJob>, watcher::Error>> = all
            .state()
            .iter()
            .map(|cj| {
                Ok(ReconcileRequest { obj_ref: ObjectRef::from_obj(cj.as_ref()), reason: ReconcileReason::Unknown })
            })
            .collect();
        stream::iter(requests)
    });
    let queue = stream::select(
        stream::select(trigger_self(cronjob_events, ()), trigger_owners::<CronJob, _>(job_events, (), ())),
        clock_jumps,
    );
    let state = Arc::new(State {
        events: Events::new(client.clone(), COMPONENT),
        client,
        clock: ctx.clock.clone(),
        jobs,
        local: jiff::tz::TimeZone::system(),
        failures: Mutex::default(),
    });
    applier(reconcile, error_policy, state, cronjobs, queue, Config::default())
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "cronjob reconcile");
            }
        })
        .await;
}

fn reconcile(cronjob: Arc<CronJob>, state: Arc<State>) -> BoxFuture<'static, Result<Action, Error>> {
    Box::pin(async move {
        let key = ObjectRef::from_obj(cronjob.as_ref());
        let span = tracing::info_span!("cronjob", namespace = key.namespace.as_deref(), name = %key.name);
        let result = tracing::Instrument::instrument(sync::sync(&state, &cronjob), span).await;
        if result.is_ok() {
            state.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        }
        result
    })
}

/// Retries with upstream's default controller back-off (5 ms doubling, at most 1000 s).
fn error_policy(cronjob: Arc<CronJob>, error: &Error, state: Arc<State>) -> Action {
    let key = ObjectRef::from_obj(cronjob.as_ref());
    let mut failures = state.failures.lock().unwrap_or_else(|p| p.into_inner());
    let count = failures.entry(key).or_default();
    *count = count.saturating_add(1);
    let delay = Duration::from_millis(5).saturating_mul(1 << (*count - 1).min(20)).min(Duration::from_secs(1000));
    tracing::debug!(%error, ?delay, "cronjob sync failed; retrying");
    Action::requeue(delay)
}
