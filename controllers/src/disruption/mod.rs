//! The disruption controller (kube-controller-manager's `disruption`): the
//! status of each PodDisruptionBudget (expected, healthy and desired pods,
//! disruptions allowed, the DisruptionAllowed condition, evictions pending
//! in disruptedPods), which the eviction subresource of the API server
//! consumes; and stale DisruptionTarget conditions on pods that were not
//! deleted after all.

mod finders;
mod stale;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use self::status::Counts;
use crate::clock::Clock;
use crate::events::Events;
use crate::ownership::selector;
use crate::{Context, Error};

/// What every reconcile shares.
struct State {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    events: Events,
    pods: Store<Pod>,
}

/// Runs the controller until the future is dropped.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client;
    let config = watcher::Config::default();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (suspects, stale_pods) = futures::channel::mpsc::unbounded::<ObjectRef<Pod>>();
    let pod_events = watcher(Api::<Pod>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(pod_writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event
                && stale::has_disruption_target(pod)
            {
                let _ = suspects.unbounded_send(ObjectRef::from_obj(pod));
            }
        })
        .touched_objects();
    let controller = Controller::new(Api::<PodDisruptionBudget>::all(client.clone()), config);
    let budgets = controller.store();
    let events = Events::new(client.clone(), "controllermanager");
    let state = Arc::new(State {
        client: client.clone(),
        clock: Arc::clone(&ctx.clock),
        events: events.clone(),
        pods: pods.clone(),
    });
    let main = controller
        .watches_stream(pod_events, move |pod| budgets_for(&pod, &budgets))
        .run(reconcile, error_policy, state)
        .for_each(|_| std::future::ready(()));
    let cleanup = stale::run(client, ctx.clock, pods, stale_pods);
    futures::join!(main, cleanup);
}

/// The budgets whose selectors select the pod (in its namespace).
fn budgets_for(pod: &Pod, budgets: &Store<PodDisruptionBudget>) -> Vec<ObjectRef<PodDisruptionBudget>> {
    budgets
        .state_filter(|b| b.metadata.namespace == pod.metadata.namespace && selects(b, pod))
        .iter()
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

fn selects(budget: &PodDisruptionBudget, pod: &Pod) -> bool {
    let Some(wanted) = budget.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return false };
    selector(wanted).is_some_and(|s| crate::ownership::selects(&s, pod.labels()))
}

fn error_policy(budget: Arc<PodDisruptionBudget>, error: &Error, _: Arc<State>) -> Action {
    tracing::debug!(%error, budget = budget.name_any(), "syncing the disruption budget failed");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(budget: Arc<PodDisruptionBudget>, state: Arc<State>) -> Result<Action, Error> {
    let span = tracing::debug_span!("reconcile", budget = %ObjectRef::from_obj(budget.as_ref()));
    async {
        match sync(&budget, &state).await {
            Ok(action) => Ok(action),
            Err(Failure::Conflict(error)) => Err(error),
            Err(Failure::Sync(message)) => {
                tracing::info!(message, "syncing the disruption budget failed, allowing no disruption");
                let status = status::fail_safe(&budget, &message, state.clock.now());
                write_status(&state, &budget, status).await?;
                Err(Error::Invalid(message))
            }
        }
    }
    .instrument(span)
    .await
}

/// Why a sync failed: a lost race (retried as is) or anything else (fail safe first).
enum Failure {
    Conflict(Error),
    Sync(String),
}

async fn sync(budget: &PodDisruptionBudget, state: &State) -> Result<Action, Failure> {
    let reference = budget.object_ref(&());
    let _ = state.pods.wait_until_ready().await;
    let namespace = budget.namespace().unwrap_or_default();
    let pods: Vec<Arc<Pod>> = match budget.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        None => Vec::new(),
        Some(wanted) => {
            let Some(matcher) = selector(wanted) else {
                let message = "Failed to get pods: invalid label selector".to_owned();
                state.events.warning(&reference, "NoPods", message.clone()).await;
                return Err(Failure::Sync(message));
            };
            state.pods.state_filter(|p| {
                p.metadata.namespace.as_deref() == Some(namespace.as_str())
                    && crate::ownership::selects(&matcher, p.labels())
            })
        }
    };
    if pods.is_empty() {
        state.events.normal(&reference, "NoPods", "No matching pods found".to_owned()).await;
    }
    let (scale, unmanaged) = if status::needs_scale(budget) {
        match finders::expected_scale(&state.client, &namespace, &pods).await {
            Ok(found) => found,
            Err(error) => {
                let message = format!("Failed to calculate the number of expected pods: {error}");
                state.events.warning(&reference, "CalculateExpectedPodCountFailed", message).await;
                return Err(Failure::Sync(error));
            }
        }
    } else {
        (0, Vec::new())
    };
    let (expected, desired_healthy) = status::expected_and_desired(budget, pods.len(), scale).map_err(Failure::Sync)?;
    if !unmanaged.is_empty() {
        let selector =
            serde_json::to_string(&budget.spec.as_ref().and_then(|s| s.selector.clone())).unwrap_or_default();
        let message = format!(
            "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. As a result, \
             the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account \
             for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."
        );
        state.events.warning(&reference, "UnmanagedPods", message).await;
    }
    let now = state.clock.now();
    let (disrupted, recheck, overdue) = status::pending_disruptions(budget, &pods, now);
    for name in overdue {
        if let Some(pod) = pods.iter().find(|p| p.name_any() == name) {
            let message =
                format!("Pod was expected by PDB {namespace}/{} to be deleted but it wasn't", budget.name_any());
            state.events.warning(&pod.object_ref(&()), "NotDeleted", message).await;
        }
    }
    let current_healthy = status::count_healthy(&pods, &disrupted, now);
    let counts = Counts { current_healthy, desired_healthy, expected, disrupted };
    if let Some(next) = status::next_status(budget, counts, now) {
        write_status(state, budget, next).await.map_err(|error| match error {
            Error::Api(kube::Error::Api(status)) if status.code == 409 => {
                Failure::Conflict(Error::Api(kube::Error::Api(status)))
            }
            other => Failure::Sync(other.to_string()),
        })?;
    }
    Ok(match recheck {
        Some(at) => Action::requeue(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::from_secs(1))),
        None => Action::await_change(),
    })
}

/// Writes the budget's status (compare-and-swap on its resourceVersion).
async fn write_status(
    state: &State,
    budget: &PodDisruptionBudget,
    status: k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
) -> Result<(), Error> {
    let api: Api<PodDisruptionBudget> = Api::namespaced(state.client.clone(), &budget.namespace().unwrap_or_default());
    let mut next = budget.clone();
    next.status = Some(status);
    api.replace_status(&budget.name_any(), &PostParams::default(), &next).await?;
    Ok(())
}
