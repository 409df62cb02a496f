//! The ReplicationController controller: each ReplicationController is
//! reconciled as the ReplicaSet it is equivalent to (its map selector as
//! matchLabels), with its own kind on its pods, events and status, as
//! upstream's replication manager wraps the ReplicaSet controller.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use super::{COMPONENT_RC, Flavor, Shared, sync};
use crate::events::Events;
use crate::expectations::Expectations;
use crate::{Context, Error, informers, ownership};

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (pods, pod_events) = informers::cache::<Pod>(&client);
    let controller = Controller::new(Api::<ReplicationController>::all(client.clone()), watcher::Config::default());
    let controllers = controller.store();
    let shared = Arc::new(Shared {
        events: Events::new(client, COMPONENT_RC),
        ctx,
        flavor: Flavor::ReplicationController,
        pods,
        sets: None,
        expectations: Expectations::default(),
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| owners_of(&controllers, &pod))
        .run(reconcile, error_policy, shared)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The ReplicationControllers a pod event concerns: its controller, or the matching ones for an orphan.
fn owners_of(controllers: &Store<ReplicationController>, pod: &Pod) -> Vec<ObjectRef<ReplicationController>> {
    let namespace = pod.namespace().unwrap_or_default();
    if let Some(owner) = ownership::controller_of(&pod.metadata) {
        return match owner.kind == "ReplicationController" && owner.api_version == "v1" {
            true => vec![ObjectRef::new(&owner.name).within(&namespace)],
            false => Vec::new(),
        };
    }
    controllers
        .state()
        .iter()
        .filter(|rc| rc.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|rc| as_replica_set(rc).is_some_and(|set| selects(&set, pod)))
        .map(|rc| ObjectRef::from_obj(rc.as_ref()))
        .collect()
}

fn selects(set: &ReplicaSet, pod: &Pod) -> bool {
    let selector = set.spec.as_ref().and_then(|s| ownership::selector(&s.selector));
    selector.is_some_and(|s| ownership::selects(&s, pod.labels()))
}

/// The ReplicaSet a ReplicationController is equivalent to (`None`: no selector, which
/// the API server's defaults fill from the template's labels, so only for broken objects).
pub fn as_replica_set(rc: &ReplicationController) -> Option<ReplicaSet> {
    let mut value = serde_json::to_value(rc).ok()?;
    let selector = value.pointer("/spec/selector").cloned().filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))?;
    value["spec"]["selector"] = serde_json::json!({ "matchLabels": selector });
    value["apiVersion"] = "apps/v1".into();
    value["kind"] = "ReplicaSet".into();
    serde_json::from_value(value).ok()
}

fn error_policy(_: Arc<ReplicationController>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "replicationcontroller sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(rc: Arc<ReplicationController>, shared: Arc<Shared>) -> Result<Action, Error> {
    match as_replica_set(&rc) {
        Some(set) => sync(Arc::new(set), &shared).await,
        None => Ok(Action::await_change()),
    }
}
