//! The ServiceAccount controller (kube-controller-manager's `serviceaccount`):
//! every active namespace has a `default` ServiceAccount, created when the
//! namespace appears and again whenever it is deleted. Namespaces that are
//! not Active (Terminating) are left alone; creating into a namespace that
//! just started terminating is not an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tracing::Instrument;

use crate::Error;
use crate::manager::Context;

/// The ServiceAccount every namespace gets (upstream's `--service-accounts` default).
pub const DEFAULT: &str = "default";

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx.client))
}

async fn run(client: kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let accounts: Api<PartialObjectMeta<ServiceAccount>> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(accounts, watcher::Config::default(), |account| {
            // Only the accounts this controller keeps matter (upstream reacts to their deletion).
            let name = account.metadata.name.as_deref();
            let namespace = account.metadata.namespace.clone();
            namespace.filter(|_| name == Some(DEFAULT)).map(|ns| ObjectRef::new(&ns))
        })
        .run(reconcile, error_policy, Arc::new(State { client, failures: Mutex::default() }))
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Whether a namespace should have its service accounts (upstream: phase Active).
pub fn is_active(namespace: &Namespace) -> bool {
    namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active")
}

/// The controller's client and each namespace's failures in a row (for the back-off).
struct State {
    client: kube::Client,
    failures: Mutex<HashMap<String, u32>>,
}

impl State {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn reconcile(namespace: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let action =
        sync(&namespace, &name, &state.client).instrument(tracing::info_span!("reconcile", namespace = name)).await?;
    state.failures().remove(&name);
    Ok(action)
}

async fn sync(namespace: &Namespace, name: &str, client: &kube::Client) -> Result<Action, Error> {
    if !is_active(namespace) {
        return Ok(Action::await_change());
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    if accounts.get_metadata_opt(DEFAULT).await?.is_some() {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: ObjectMeta { name: Some(DEFAULT.into()), namespace: Some(name.to_owned()), ..ObjectMeta::default() },
        ..ServiceAccount::default()
    };
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => tracing::debug!("created the default service account"),
        Err(kube::Error::Api(status)) if status.is_already_exists() || namespace_terminating(&status) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(Action::await_change())
}

/// A create refused because the namespace is terminating (upstream matches the
/// `NamespaceTerminating` cause; the message is the fallback for servers that omit it).
fn namespace_terminating(status: &kube::core::Status) -> bool {
    let cause = status.details.iter().flat_map(|d| &d.causes).any(|c| c.reason == "NamespaceTerminating");
    status.code == 403 && (cause || status.message.contains("because it is being terminated"))
}

/// Retries with upstream's default per-item back-off: 5 ms doubling up to 1000 s.
fn error_policy(namespace: Arc<Namespace>, error: &Error, state: Arc<State>) -> Action {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    tracing::debug!(%error, namespace = name, "syncing the service accounts of a namespace failed");
    let mut failures = state.failures();
    let count = failures.entry(name).or_insert(0);
    let delay = Duration::from_millis(5).saturating_mul(2u32.saturating_pow((*count).min(20)));
    *count = count.saturating_add(1);
    Action::requeue(delay.min(Duration::from_secs(1000)))
}
