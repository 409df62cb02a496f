//! The namespace controller (kube-controller-manager's `namespace`): a
//! namespace with a deletionTimestamp is Terminating; everything in it is
//! deleted (pods first), the controller waits until it is gone (requeued
//! after half the estimate while content remains), then removes the
//! `kubernetes` finalizer through `namespaces/{name}/finalize`, after which
//! the API server removes the namespace. Progress and failures show in the
//! namespace's conditions.

pub mod conditions;
pub mod deleter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tracing::Instrument;

use self::deleter::Deleter;
use crate::Error;
use crate::clock::Clock;
use crate::manager::Context;

/// The finalizer this controller owns.
pub const FINALIZER: &str = "kubernetes";
/// How long after deletion the namespace is first processed, so that every API server has seen
/// it terminate and creations racing with it have landed (upstream's `namespaceDeletionGracePeriod`).
pub const DELETION_GRACE: SignedDuration = SignedDuration::from_secs(5);

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

struct State {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    deleter: Deleter,
    failures: Mutex<HashMap<String, u32>>,
}

async fn run(ctx: Context) {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let pods: Api<PartialObjectMeta<Pod>> = Api::all(ctx.client.clone());
    let state = State { client: ctx.client, clock: ctx.clock, deleter: Deleter::default(), failures: Mutex::default() };
    Controller::new(namespaces, watcher::Config::default())
        // A terminating pod going away may be what a terminating namespace waits for.
        .watches(pods, watcher::Config::default(), |pod| {
            let namespace = pod.metadata.namespace.filter(|_| pod.metadata.deletion_timestamp.is_some());
            namespace.map(|ns| ObjectRef::new(&ns))
        })
        .run(reconcile, error_policy, Arc::new(state))
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let action = sync(&state, &name).instrument(tracing::info_span!("reconcile", namespace = name)).await?;
    state.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(&name);
    Ok(action)
}

/// One pass over a terminating namespace (upstream's `namespacedResourcesDeleter.Delete`).
async fn sync(state: &State, name: &str) -> Result<Action, Error> {
    let namespaces: Api<Namespace> = Api::all(state.client.clone());
    // Several parties edit a terminating namespace: work from its latest state.
    let Some(mut namespace) = namespaces.get_opt(name).await? else { return Ok(Action::await_change()) };
    let Some(deleted_at) = namespace.metadata.deletion_timestamp.as_ref().map(|t| t.0) else {
        return Ok(Action::await_change());
    };
    let now = state.clock.now();
    let waited = now.duration_since(deleted_at);
    if waited < DELETION_GRACE {
        let left = DELETION_GRACE.checked_sub(waited).unwrap_or(DELETION_GRACE);
        return Ok(Action::requeue(Duration::try_from(left).unwrap_or(Duration::from_secs(1))));
    }
    if namespace.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating") {
        namespace.status.get_or_insert_default().phase = Some("Terminating".into());
        namespace = namespaces.replace_status(name, &PostParams::default(), &namespace).await?;
    }
    if finalizers(&namespace).is_empty() {
        return Ok(Action::await_change());
    }
    let left = state.deleter.delete_all_content(&state.client, &namespace, now).await;
    if !left.errors.is_empty() {
        return Err(Error::Invalid(left.errors.join("; ")));
    }
    if left.estimate > 0 {
        let wait = left.estimate / 2 + 1;
        tracing::debug!(
            wait,
            "some content remains in the namespace, estimate {} seconds before it is removed",
            left.estimate
        );
        return Ok(Action::requeue(Duration::from_secs(wait.unsigned_abs())));
    }
    finalize(&namespaces, &namespace).await?;
    Ok(Action::await_change())
}

fn finalizers(namespace: &Namespace) -> Vec<String> {
    namespace.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default()
}

/// Removes [`FINALIZER`] from spec.finalizers through the finalize subresource (the others
/// stay, sorted and deduplicated as upstream leaves them).
async fn finalize(namespaces: &Api<Namespace>, namespace: &Namespace) -> Result<(), Error> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let mut rest: Vec<String> = finalizers(namespace).into_iter().filter(|f| f != FINALIZER).collect();
    rest.sort();
    rest.dedup();
    let mut finalized = namespace.clone();
    finalized.spec.get_or_insert_default().finalizers = Some(rest);
    match namespaces.replace_subresource("finalize", &name, &PostParams::default(), &finalized).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status))
            if status.code == 404 && status.reason == "NotFound" && !is_no_such_path(&status) =>
        {
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 405 || is_no_such_path(&status) => {
            // An API server without the finalize subresource takes spec.finalizers on a plain update.
            tracing::debug!(message = status.message, "no namespaces/finalize; updating spec.finalizers");
            namespaces.replace(&name, &PostParams::default(), &finalized).await?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

fn is_no_such_path(status: &kube::core::Status) -> bool {
    status.message == "the server could not find the requested resource"
}

/// Retries with upstream's namespace rate limiter: 5 ms doubling, at least every minute.
fn error_policy(namespace: Arc<Namespace>, error: &Error, state: Arc<State>) -> Action {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    tracing::info!(%error, namespace = name, "deletion of namespace failed");
    let mut failures = state.failures.lock().unwrap_or_else(PoisonError::into_inner);
    let count = failures.entry(name).or_insert(0);
    let delay = Duration::from_millis(5).saturating_mul(2u32.saturating_pow((*count).min(20)));
    *count = count.saturating_add(1);
    Action::requeue(delay.min(Duration::from_secs(60)))
}
