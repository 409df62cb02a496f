//! The Endpoints controller (kube-controller-manager's `endpoint`): for each
//! Service with a selector, an Endpoints object of the same name with the
//! addresses of its pods (ready ones in `addresses`, the others in
//! `notReadyAddresses`) and the ports they serve, as upstream lays them out;
//! the Endpoints object goes when its Service does.

mod cleanup;
pub mod subsets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use self::subsets::{OVER_CAPACITY, capacity_annotation_correct};
use crate::endpointslice::util::{self, HEADLESS_SERVICE, LAST_CHANGE_TRIGGER_TIME, Membership, TriggerTimeTracker};
use crate::events::Events;
use crate::{Context, Error};

/// What every reconcile shares.
struct State {
    client: kube::Client,
    events: Events,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
    triggers: Arc<TriggerTimeTracker>,
    members: Arc<Membership>,
}

/// Runs the controller until the future is dropped.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

async fn run(ctx: Context) {
    let client = ctx.client;
    let config = watcher::Config::default();
    let (services, service_writer) = reflector::store::<Service>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (endpoints, endpoints_writer) = reflector::store::<Endpoints>();
    let (orphans, suspects) = futures::channel::mpsc::unbounded::<ObjectRef<Endpoints>>();
    // A deleted service's Endpoints are checked by the cleanup; so is every
    // Endpoints object once, at start (leftovers of services deleted meanwhile).
    let on_service_deleted = orphans.clone();
    let service_events = watcher(Api::<Service>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(service_writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::Delete(service)) = event {
                let name = service.name_any();
                let _ = on_service_deleted
                    .unbounded_send(ObjectRef::new(&name).within(&service.namespace().unwrap_or_default()));
            }
        })
        .applied_objects();
    let pod_events = watcher(Api::<Pod>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(pod_writer)
        .touched_objects();
    let listed = endpoints.clone();
    let endpoints_events = watcher(Api::<Endpoints>::all(client.clone()), config)
        .default_backoff()
        .reflect(endpoints_writer)
        .inspect(move |event| {
            if let Ok(watcher::Event::InitDone) = event {
                for object in listed.state() {
                    let _ = orphans.unbounded_send(ObjectRef::from_obj(object.as_ref()));
                }
            }
        })
        .touched_objects();
    let triggers = Arc::new(TriggerTimeTracker::default());
    let members = Arc::new(Membership::default());
    let state = Arc::new(State {
        events: Events::new(client.clone(), "endpoint-controller"),
        client: client.clone(),
        pods,
        endpoints: endpoints.clone(),
        triggers: Arc::clone(&triggers),
        members: Arc::clone(&members),
    });
    let (svc_for_pods, members_for_pods) = (services.clone(), Arc::clone(&members));
    let main = Controller::for_stream(service_events, services.clone())
        .watches_stream(pod_events, move |pod| {
            let mut refs = util::services_selecting(&pod, &svc_for_pods);
            refs.extend(members_for_pods.services_of(&util::pod_key(&pod)));
            refs
        })
        .watches_stream(endpoints_events, |object| {
            Some(ObjectRef::<Service>::new(&object.name_any()).within(&object.namespace().unwrap_or_default()))
        })
        .run(reconcile, error_policy, state)
        .for_each(|_| std::future::ready(()));
    let cleanup = cleanup::run(client, services, endpoints, (triggers, members), suspects);
    futures::join!(main, cleanup);
}

fn error_policy(service: Arc<Service>, error: &Error, _: Arc<State>) -> Action {
    tracing::debug!(%error, service = service.name_any(), "syncing endpoints failed");
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
    state.endpoints.wait_until_ready().await.map_err(not_ready)?;
    let (namespace, name) = (service.namespace().unwrap_or_default(), service.name_any());
    let pods = util::selected_pods(service, &state.pods);
    state.members.set(&ObjectRef::from_obj(service), pods.iter().map(|p| util::pod_key(p)).collect());
    let trigger = state.triggers.compute(service, &pods);
    let mut subsets = subsets::build(service, &pods);
    let current = state.endpoints.get(&ObjectRef::new(&name).within(&namespace));
    let service_labels = service.labels().clone();
    if let Some(current) = &current {
        let mut labels = current.labels().clone();
        labels.remove(HEADLESS_SERVICE);
        let annotations = current.annotations();
        if current.subsets.clone().unwrap_or_default() == subsets
            && labels == service_labels
            && capacity_annotation_correct(annotations, current.subsets.as_deref().unwrap_or_default())
        {
            return Ok(Action::await_change());
        }
    }
    let mut next = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        ..Endpoints::default()
    });
    let annotations = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match trigger {
        Some(at) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.to_owned(), util::format_trigger_time(at)),
        None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
    };
    match subsets::truncate(&mut subsets) {
        true => annotations.insert(OVER_CAPACITY.to_owned(), "truncated".to_owned()),
        false => annotations.remove(OVER_CAPACITY),
    };
    let mut labels = service_labels;
    if !util::is_service_ip_set(service) {
        labels.insert(HEADLESS_SERVICE.to_owned(), String::new());
    }
    next.metadata.labels = Some(labels);
    next.subsets = (!subsets.is_empty()).then_some(subsets);
    let api: Api<Endpoints> = Api::namespaced(state.client.clone(), &namespace);
    let written = match &current {
        None => api.create(&PostParams::default(), &next).await,
        Some(_) => api.replace(&name, &PostParams::default(), &next).await,
    };
    match written {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status))
            if current.is_none() && crate::endpointslice::is_namespace_terminating(&status) =>
        {
            Ok(Action::await_change())
        }
        Err(error) => {
            let (reason, message) = match current {
                None => (
                    "FailedToCreateEndpoint",
                    format!("Failed to create endpoint for service {namespace}/{name}: {error}"),
                ),
                Some(_) => ("FailedToUpdateEndpoint", format!("Failed to update endpoint {namespace}/{name}: {error}")),
            };
            state.events.warning(&next.object_ref(&()), reason, message).await;
            Err(error.into())
        }
    }
}
