//! The ReplicaSet controller (upstream's pkg/controller/replicaset): keeps
//! `spec.replicas` active pods that match the selector, adopting orphans and
//! releasing pods that stopped matching, creating in slow-start batches and
//! deleting the least valuable pods first, with expectations so a stale cache
//! never makes it create or delete twice; reports replicas, fullyLabeled,
//! ready and available replicas and the ReplicaFailure condition.

mod ranking;
mod replication_controller;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

pub use ranking::{POD_DELETION_COST, pods_to_delete};

use crate::events::Events;
use crate::expectations::Expectations;
use crate::informers;
use crate::ownership::{self, Claim};
use crate::{Context, Error, pods};

/// The registry name.
pub const NAME: &str = "replicaset";
/// The events' reporting component.
pub const COMPONENT: &str = "replicaset-controller";
/// The ReplicationController controller's registry name.
pub const NAME_RC: &str = "replicationcontroller";
/// Its events' reporting component.
pub const COMPONENT_RC: &str = "replication-controller";

pub use replication_controller::{as_replica_set, start as start_replication_controller};
/// At most this many pods are created or deleted in one sync (upstream's burstReplicas).
pub const BURST_REPLICAS: usize = 500;

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

/// Which kind the ReplicaSet-shaped objects being reconciled really are:
/// ReplicationControllers are reconciled as ReplicaSets (as upstream's
/// replication manager does), owning their pods under their own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    ReplicaSet,
    ReplicationController,
}

impl Flavor {
    fn api_version_and_kind(self) -> (&'static str, &'static str) {
        match self {
            Self::ReplicaSet => ("apps/v1", "ReplicaSet"),
            Self::ReplicationController => ("v1", "ReplicationController"),
        }
    }

    /// The controller reference pods of `set` carry.
    fn controller_ref(self, set: &ReplicaSet) -> OwnerReference {
        let (api_version, kind) = self.api_version_and_kind();
        OwnerReference { api_version: api_version.into(), kind: kind.into(), ..ownership::controller_ref(set) }
    }

    /// What events about `set` regard.
    fn object_ref(self, set: &ReplicaSet) -> ObjectReference {
        let (api_version, kind) = self.api_version_and_kind();
        ObjectReference { api_version: Some(api_version.into()), kind: Some(kind.into()), ..set.object_ref(&()) }
    }
}

/// What every reconcile shares.
struct Shared {
    ctx: Context,
    flavor: Flavor,
    pods: Store<Pod>,
    /// The ReplicaSets (for the pods of sibling sets); none for ReplicationControllers.
    sets: Option<Store<ReplicaSet>>,
    events: Events,
    expectations: Expectations,
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (pods, pod_events) = informers::cache::<Pod>(&client);
    let controller = Controller::new(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    let shared = Arc::new(Shared {
        events: Events::new(client, COMPONENT),
        ctx,
        flavor: Flavor::ReplicaSet,
        pods,
        sets: Some(sets.clone()),
        expectations: Expectations::default(),
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| owners_of(&sets, &pod))
        .run(reconcile, error_policy, shared)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The ReplicaSets a pod event concerns: its controller, or for an orphan
/// every set of its namespace whose selector matches it (to adopt it).
fn owners_of(sets: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let namespace = pod.namespace().unwrap_or_default();
    if let Some(owner) = ownership::controller_of(&pod.metadata) {
        return match owner.kind == "ReplicaSet" && owner.api_version == "apps/v1" {
            true => vec![ObjectRef::new(&owner.name).within(&namespace)],
            false => Vec::new(),
        };
    }
    sets.state()
        .iter()
        .filter(|set| set.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|set| {
            let selector = set.spec.as_ref().and_then(|s| ownership::selector(&s.selector));
            selector.is_some_and(|s| ownership::selects(&s, pod.labels()))
        })
        .map(|set| ObjectRef::from_obj(set.as_ref()))
        .collect()
}

fn error_policy(_: Arc<ReplicaSet>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "replicaset sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn key_of(set: &ReplicaSet) -> String {
    format!("{}/{}", set.namespace().unwrap_or_default(), set.name_any())
}

async fn reconcile(set: Arc<ReplicaSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    sync(set, &shared).await
}

/// One sync of a ReplicaSet (or of a ReplicationController in ReplicaSet form).
async fn sync(set: Arc<ReplicaSet>, shared: &Shared) -> Result<Action, Error> {
    let _ = shared.pods.wait_until_ready().await;
    let key = key_of(&set);
    let span = tracing::debug_span!("reconcile", replicaset = %key);
    let _entered = span.enter();
    let namespace = set.namespace().unwrap_or_default();
    let Some(spec) = set.spec.as_ref() else { return Ok(Action::await_change()) };
    let Some(selector) = ownership::selector(&spec.selector) else {
        tracing::debug!("invalid selector; nothing to do");
        return Ok(Action::await_change());
    };
    let in_namespace: Vec<Arc<Pod>> =
        shared.pods.state().into_iter().filter(|p| p.namespace().as_deref() == Some(namespace.as_str())).collect();
    let needs_sync = shared.expectations.satisfied(
        &key,
        |name| in_namespace.iter().any(|p| p.metadata.name.as_deref() == Some(name)),
        |uid| in_namespace.iter().any(|p| p.metadata.uid.as_deref() == Some(uid) && pods::is_active(p)),
    );
    let pods_api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let claim = Claim {
        owner: shared.flavor.controller_ref(&set),
        selector: &selector,
        owner_deleting: set.meta().deletion_timestamp.is_some(),
    };
    let active: Vec<Arc<Pod>> = in_namespace.iter().filter(|p| pods::is_active(p)).cloned().collect();
    let owned = claim.run(&pods_api, active).await;

    let mut failure = None;
    if needs_sync && set.meta().deletion_timestamp.is_none() {
        let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        let template = spec.template.clone().unwrap_or_default();
        failure = if owned.len() < replicas {
            create_pods(shared, &set, &key, &template, replicas - owned.len()).await
        } else if owned.len() > replicas {
            let related = related_pods(shared, &set, &in_namespace);
            delete_pods(shared, &set, &key, &owned, &related, owned.len() - replicas).await
        } else {
            None
        };
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = shared.ctx.clock.now();
    let status = status::calculate(&set, &owned, failure.as_ref(), now);
    status::update(&shared.ctx.client, shared.flavor, &set, status.clone()).await?;
    if let Some((_, message)) = failure {
        return Err(Error::Invalid(message));
    }
    if min_ready > 0
        && status.ready_replicas == Some(status.replicas)
        && status.available_replicas != Some(status.replicas)
    {
        return Ok(Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1))));
    }
    Ok(Action::await_change())
}

/// The active pods controlled by this set or by its siblings (sets with the same controller).
fn related_pods(shared: &Shared, set: &ReplicaSet, in_namespace: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    let family: Vec<String> = match (ownership::controller_of(set.meta()), &shared.sets) {
        (Some(owner), Some(sets)) => sets
            .state()
            .iter()
            .filter(|s| s.namespace() == set.namespace() && ownership::is_controlled_by(s.meta(), &owner.uid))
            .filter_map(|s| s.uid())
            .collect(),
        _ => set.uid().into_iter().collect(),
    };
    in_namespace
        .iter()
        .filter(|p| pods::is_active(p))
        .filter(|p| ownership::controller_of(&p.metadata).is_some_and(|r| family.contains(&r.uid)))
        .cloned()
        .collect()
}

/// A pod from the set's template (upstream's GetPodFromTemplate).
pub fn pod_from_template<K: Resource<DynamicType = ()>>(template: &PodTemplateSpec, owner: &K) -> Pod {
    pod_owned_by(template, owner.meta(), ownership::controller_ref(owner))
}

/// A pod from a template, named after and controlled by `owner`.
fn pod_owned_by(template: &PodTemplateSpec, owner: &ObjectMeta, reference: OwnerReference) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", owner.name.as_deref().unwrap_or_default())),
            namespace: owner.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![reference]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Creates `count` pods (at most [`BURST_REPLICAS`]) in batches of 1, 2, 4, ...,
/// stopping at the first batch with a failure; returns the failure.
async fn create_pods(
    shared: &Shared,
    set: &ReplicaSet,
    key: &str,
    template: &PodTemplateSpec,
    count: usize,
) -> Option<(&'static str, String)> {
    let namespace = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let pod = pod_owned_by(template, &set.metadata, shared.flavor.controller_ref(set));
    let reference = shared.flavor.object_ref(set);
    let mut remaining = count.min(BURST_REPLICAS);
    let mut batch = 1;
    while remaining > 0 {
        let size = batch.min(remaining);
        let params = PostParams::default();
        let results = futures::future::join_all((0..size).map(|_| api.create(&params, &pod))).await;
        let mut failed = None;
        for result in results {
            match result {
                Ok(created) => {
                    let name = created.name_any();
                    shared.expectations.created(key, &name);
                    shared.events.normal(&reference, "SuccessfulCreate", format!("Created pod: {name}")).await;
                }
                Err(error) => {
                    let message = format!("Error creating: {}", api_message(&error));
                    shared.events.warning(&reference, "FailedCreate", message.clone()).await;
                    failed = Some(("FailedCreate", message));
                }
            }
        }
        if failed.is_some() {
            return failed;
        }
        remaining -= size;
        batch *= 2;
    }
    None
}

/// Deletes the `count` pods to go first; returns the failure, if any.
async fn delete_pods(
    shared: &Shared,
    set: &ReplicaSet,
    key: &str,
    owned: &[Arc<Pod>],
    related: &[Arc<Pod>],
    count: usize,
) -> Option<(&'static str, String)> {
    let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    let reference = shared.flavor.object_ref(set);
    let victims = pods_to_delete(owned, related, count.min(BURST_REPLICAS));
    let params = DeleteParams::default();
    let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
    let results = futures::future::join_all(names.iter().map(|name| api.delete(name, &params))).await;
    let mut failed = None;
    for (victim, result) in victims.iter().zip(results) {
        let name = victim.name_any();
        match result {
            Ok(_) => {
                shared.expectations.deleted(key, victim.metadata.uid.as_deref().unwrap_or_default());
                shared.events.normal(&reference, "SuccessfulDelete", format!("Deleted pod: {name}")).await;
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                let message = format!("Error deleting: {}", api_message(&error));
                shared.events.warning(&reference, "FailedDelete", message.clone()).await;
                failed = Some(("FailedDelete", message));
            }
        }
    }
    failed
}

/// The API's message for an error (its Status message when there is one).
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
