//! The root CA publisher (kube-controller-manager's `root-ca-cert-publisher`):
//! every namespace has a ConfigMap `kube-root-ca.crt` whose `ca.crt` is the
//! cluster CA, so pods can verify the API server (the service account token
//! volume projects it). Made when a namespace appears, put back when it is
//! deleted or changed. The CA comes from [`ControllerManager::with_root_ca`](crate::ControllerManager::with_root_ca);
//! without it the controller does nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tracing::Instrument;

use crate::Error;
use crate::manager::Context;

/// The controller's name in kube-controller-manager.
pub const NAME: &str = "root-ca-cert-publisher";
/// The ConfigMap every namespace gets.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its key holding the CA bundle.
pub const KEY: &str = "ca.crt";
/// The `kubernetes.io/description` annotation upstream puts on it.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        match ctx.root_ca.clone() {
            Some(ca) => run(ctx.client, ca).await,
            None => {
                tracing::debug!("no root CA configured; not publishing kube-root-ca.crt");
                std::future::pending().await
            }
        }
    })
}

async fn run(client: kube::Client, ca: Arc<str>) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let maps: Api<PartialObjectMeta<ConfigMap>> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}"));
    Controller::new(namespaces, watcher::Config::default())
        .watches(maps, config, |map| map.metadata.namespace.as_deref().map(ObjectRef::new))
        .run(reconcile, error_policy, Arc::new(State { client, ca, failures: Mutex::default() }))
        .for_each(|_| futures::future::ready(()))
        .await;
}

struct State {
    client: kube::Client,
    ca: Arc<str>,
    failures: Mutex<HashMap<String, u32>>,
}

impl State {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn reconcile(namespace: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!("reconcile", namespace = name);
    let action = sync(&namespace, &name, &state).instrument(span).await?;
    state.failures().remove(&name);
    Ok(action)
}

/// What the ConfigMap should hold.
fn wanted_data(ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(KEY.to_owned(), ca.to_owned())])
}

async fn sync(namespace: &Namespace, name: &str, state: &State) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let maps: Api<ConfigMap> = Api::namespaced(state.client.clone(), name);
    let data = wanted_data(&state.ca);
    let Some(mut current) = maps.get_opt(CONFIG_MAP).await? else {
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP.into()),
                namespace: Some(name.to_owned()),
                annotations: Some(BTreeMap::from([(DESCRIPTION_ANNOTATION.to_owned(), DESCRIPTION.to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..ConfigMap::default()
        };
        match maps.create(&PostParams::default(), &map).await {
            Ok(_) => tracing::debug!("published the root CA"),
            Err(kube::Error::Api(status)) if status.is_already_exists() || namespace_terminating(&status) => {}
            Err(error) => return Err(error.into()),
        }
        return Ok(Action::await_change());
    };
    let annotations = current.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let described = annotations.get(DESCRIPTION_ANNOTATION).is_some();
    if current.data.as_ref() == Some(&data) && described {
        return Ok(Action::await_change());
    }
    annotations.entry(DESCRIPTION_ANNOTATION.to_owned()).or_insert_with(|| DESCRIPTION.to_owned());
    current.data = Some(data);
    current.binary_data = None;
    maps.replace(CONFIG_MAP, &PostParams::default(), &current).await?;
    tracing::debug!("updated the published root CA");
    Ok(Action::await_change())
}

fn namespace_terminating(status: &kube::core::Status) -> bool {
    let cause = status.details.iter().flat_map(|d| &d.causes).any(|c| c.reason == "NamespaceTerminating");
    status.code == 403 && (cause || status.message.contains("because it is being terminated"))
}

/// Retries with upstream's default per-item back-off: 5 ms doubling up to 1000 s.
fn error_policy(namespace: Arc<Namespace>, error: &Error, state: Arc<State>) -> Action {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    tracing::debug!(%error, namespace = name, "publishing the root CA failed");
    let mut failures = state.failures();
    let count = failures.entry(name).or_insert(0);
    let delay = Duration::from_millis(5).saturating_mul(2u32.saturating_pow((*count).min(20)));
    *count = count.saturating_add(1);
    Action::requeue(delay.min(Duration::from_secs(1000)))
}
