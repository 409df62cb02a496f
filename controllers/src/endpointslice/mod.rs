//! The EndpointSlice controller (kube-controller-manager's `endpointslice`):
//! for each Service with a selector, EndpointSlices (per address type, at
//! most 100 endpoints each) listing its pods with their readiness, node and
//! zone; a placeholder slice while it has none. Slices are labelled with the
//! service's name and `endpointslice.kubernetes.io/managed-by`, owned by the
//! service (the garbage collector removes them with it).

pub mod reconciler;
mod tracker;
pub mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use self::reconciler::{Inputs, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, Plan};
use self::tracker::SliceTracker;
use self::util::{LAST_CHANGE_TRIGGER_TIME, Membership, TriggerTimeTracker};
use crate::events::Events;
use crate::{Context, Error};

/// The controller's name, the value of the managed-by label of its slices.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// What every reconcile shares.
struct State {
    client: kube::Client,
    events: Events,
    pods: Store<Pod>,
    nodes: Store<Node>,
    slices: Store<EndpointSlice>,
    triggers: TriggerTimeTracker,
    tracker: SliceTracker,
    members: Arc<Membership>,
}

/// Runs the controller until the future is dropped.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client;
    let config = watcher::Config::default();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (nodes, node_writer) = reflector::store::<Node>();
    let (slices, slice_writer) = reflector::store::<EndpointSlice>();
    let pod_events = watcher(Api::<Pod>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(pod_writer)
        .touched_objects();
    let node_events = watcher(Api::<Node>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(node_writer)
        .touched_objects();
    let managed = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={CONTROLLER_NAME}"));
    let slice_events = watcher(Api::<EndpointSlice>::all(client.clone()), managed)
        .default_backoff()
        .reflect(slice_writer)
        .touched_objects();
    let controller = Controller::new(Api::<Service>::all(client.clone()), config);
    let services = controller.store();
    let members = Arc::new(Membership::default());
    let (members_for_pods, svc_for_pods) = (Arc::clone(&members), services.clone());
    let state = Arc::new(State {
        events: Events::new(client.clone(), "endpoint-slice-controller"),
        client,
        pods,
        nodes,
        slices,
        triggers: TriggerTimeTracker::default(),
        tracker: SliceTracker::default(),
        members,
    });
    controller
        .watches_stream(pod_events, move |pod| {
            let mut refs = util::services_selecting(&pod, &svc_for_pods);
            refs.extend(members_for_pods.services_of(&util::pod_key(&pod)));
            refs
        })
        .watches_stream(node_events, |_| std::iter::empty())
        .watches_stream(slice_events, |slice| service_of(&slice))
        .run(reconcile, error_policy, state)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The service a slice belongs to (its service-name label).
fn service_of(slice: &EndpointSlice) -> Option<ObjectRef<Service>> {
    let name = slice.labels().get(LABEL_SERVICE_NAME)?;
    Some(ObjectRef::new(name).within(&slice.namespace().unwrap_or_default()))
}

fn error_policy(service: Arc<Service>, error: &Error, _: Arc<State>) -> Action {
    tracing::debug!(%error, service = service.name_any(), "syncing endpoint slices failed");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(service: Arc<Service>, state: Arc<State>) -> Result<Action, Error> {
    let span = tracing::debug_span!("reconcile", service = %ObjectRef::from_obj(service.as_ref()));
    sync(&service, &state).instrument(span).await
}

async fn sync(service: &Service, state: &State) -> Result<Action, Error> {
    if !util::wants_endpoints(service) {
        return Ok(Action::await_change());
    }
    let not_ready = |_| Error::Invalid("a cache stopped before it was filled".to_owned());
    state.pods.wait_until_ready().await.map_err(not_ready)?;
    state.nodes.wait_until_ready().await.map_err(not_ready)?;
    state.slices.wait_until_ready().await.map_err(not_ready)?;
    let pods = util::selected_pods(service, &state.pods);
    state.members.set(&ObjectRef::from_obj(service), pods.iter().map(|p| util::pod_key(p)).collect());
    let slices = current_slices(service, state).await?;
    let trigger = state.triggers.compute(service, &pods);
    let node = |name: &str| state.nodes.get(&ObjectRef::new(name));
    let inputs =
        Inputs { controller_name: CONTROLLER_NAME, max_endpoints_per_slice: MAX_ENDPOINTS_PER_SLICE, node: &node };
    let plan = reconciler::plan(service, &pods, &slices, &inputs);
    let errors = plan.errors.clone();
    if let Err(error) = apply(service, state, plan, trigger).await {
        let message = format!(
            "Error updating Endpoint Slices for Service {}/{}: {error}",
            service.namespace().unwrap_or_default(),
            service.name_any()
        );
        state.events.warning(&service.object_ref(&()), "FailedToUpdateEndpointSlices", message).await;
        return Err(error);
    }
    match errors.into_iter().next() {
        Some(error) => Err(Error::Invalid(error)),
        None => Ok(Action::await_change()),
    }
}

/// The service's slices (not being deleted): from the cache, or from the
/// API when the cache has not yet seen this controller's last writes.
async fn current_slices(service: &Service, state: &State) -> Result<Vec<Arc<EndpointSlice>>, Error> {
    let (namespace, name) = (service.namespace(), service.name_any());
    let ours = |s: &EndpointSlice| {
        s.metadata.namespace == namespace
            && s.labels().get(LABEL_SERVICE_NAME) == Some(&name)
            && s.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(CONTROLLER_NAME)
    };
    let mut slices = state.slices.state_filter(|s| ours(s));
    let key = (namespace.clone().unwrap_or_default(), name.clone());
    if state.tracker.stale(&key, &slices) {
        let api: Api<EndpointSlice> = Api::namespaced(state.client.clone(), namespace.as_deref().unwrap_or_default());
        let selector = format!("{LABEL_SERVICE_NAME}={name},{LABEL_MANAGED_BY}={CONTROLLER_NAME}");
        slices = api.list(&ListParams::default().labels(&selector)).await?.items.into_iter().map(Arc::new).collect();
        state.tracker.forget(&key);
    }
    slices.retain(|s| s.metadata.deletion_timestamp.is_none());
    Ok(slices)
}

/// Writes the plan: creates (unless the service is being deleted), updates, deletes.
async fn apply(service: &Service, state: &State, plan: Plan, trigger: Option<jiff::Timestamp>) -> Result<(), Error> {
    let namespace = service.namespace().unwrap_or_default();
    let key = (namespace.clone(), service.name_any());
    let api: Api<EndpointSlice> = Api::namespaced(state.client.clone(), &namespace);
    let annotate = |slice: &mut EndpointSlice| {
        let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match trigger {
            Some(at) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.to_owned(), util::format_trigger_time(at)),
            None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
        };
    };
    if service.metadata.deletion_timestamp.is_none() {
        for mut slice in plan.create {
            annotate(&mut slice);
            match api.create(&PostParams::default(), &slice).await {
                Ok(created) => state.tracker.written(&key, &created),
                Err(kube::Error::Api(status)) if is_namespace_terminating(&status) => return Ok(()),
                Err(error) => return Err(error.into()),
            }
        }
    }
    for mut slice in plan.update {
        annotate(&mut slice);
        let updated = api.replace(&slice.name_any(), &PostParams::default(), &slice).await?;
        state.tracker.written(&key, &updated);
    }
    for slice in plan.delete {
        match api.delete(&slice.name_any(), &DeleteParams::default()).await {
            Ok(_) => state.tracker.deleted(&key, &slice),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// A create refused because the namespace is being deleted (it would be refused again).
pub(crate) fn is_namespace_terminating(status: &kube::core::Status) -> bool {
    status.code == 403 && status.message.contains("because it is being terminated")
}
