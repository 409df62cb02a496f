//! Deletes the Endpoints of deleted services: checked when a service goes,
//! and for every Endpoints object once at start (upstream's
//! checkLeftoverEndpoints); Endpoints without a service created later are
//! left alone, as upstream does.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::Error;
use crate::endpointslice::util::{Membership, TriggerTimeTracker};

/// The annotation of leader-election records kept in Endpoints (never deleted).
const LEADER_ELECTION: &str = "control-plane.alpha.kubernetes.io/leader";

struct Cleanup {
    client: kube::Client,
    services: Store<Service>,
    triggers: Arc<TriggerTimeTracker>,
    members: Arc<Membership>,
}

/// Checks each Endpoints object `suspects` names until the future is dropped.
pub async fn run(
    client: kube::Client,
    services: Store<Service>,
    endpoints: Store<Endpoints>,
    (triggers, members): (Arc<TriggerTimeTracker>, Arc<Membership>),
    suspects: UnboundedReceiver<ObjectRef<Endpoints>>,
) {
    let nothing = futures::stream::pending::<Result<Endpoints, watcher::Error>>();
    Controller::for_stream(nothing, endpoints)
        .reconcile_on(suspects)
        .run(reconcile, error_policy, Arc::new(Cleanup { client, services, triggers, members }))
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(endpoints: Arc<Endpoints>, error: &Error, _: Arc<Cleanup>) -> Action {
    tracing::debug!(%error, endpoints = endpoints.name_any(), "deleting leftover endpoints failed");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(endpoints: Arc<Endpoints>, cleanup: Arc<Cleanup>) -> Result<Action, Error> {
    let (namespace, name) = (endpoints.namespace().unwrap_or_default(), endpoints.name_any());
    if endpoints.annotations().contains_key(LEADER_ELECTION) || (namespace == "default" && name == "kubernetes") {
        return Ok(Action::await_change());
    }
    let _ = cleanup.services.wait_until_ready().await;
    if cleanup.services.get(&ObjectRef::new(&name).within(&namespace)).is_some() {
        return Ok(Action::await_change());
    }
    let services: Api<Service> = Api::namespaced(cleanup.client.clone(), &namespace);
    if services.get_opt(&name).await?.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<Endpoints> = Api::namespaced(cleanup.client.clone(), &namespace);
    let preconditions = Preconditions { uid: endpoints.metadata.uid.clone(), resource_version: None };
    match api.delete(&name, &DeleteParams { preconditions: Some(preconditions), ..DeleteParams::default() }).await {
        Ok(_) => tracing::debug!(namespace, name, "deleted the endpoints of a deleted service"),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(error) => return Err(error.into()),
    }
    cleanup.triggers.delete_service(&namespace, &name);
    cleanup.members.forget(&ObjectRef::new(&name).within(&namespace));
    Ok(Action::await_change())
}
