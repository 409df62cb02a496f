//! The StatefulSet controller (upstream's pkg/controller/statefulset): pods
//! with stable names `<set>-<ordinal>` (from spec.ordinals.start), hostnames
//! and subdomains, each with its PersistentVolumeClaims from the
//! volumeClaimTemplates (created before the pod, owned as the
//! persistentVolumeClaimRetentionPolicy says); OrderedReady or Parallel pod
//! management; the template's history as ControllerRevisions (current and
//! update revision, rollbacks, revisionHistoryLimit); RollingUpdate with a
//! partition, or OnDelete; and the status `kubectl rollout status` reads.

mod claims;
mod control;
mod identity;
mod pod_control;
mod revisions;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

pub use identity::{POD_INDEX_LABEL, POD_NAME_LABEL};

use crate::events::Events;
use crate::informers;
use crate::ownership::{self, Claim};
use crate::{Context, Error, history};

/// The registry name.
pub const NAME: &str = "statefulset";
/// The events' reporting component.
pub const COMPONENT: &str = "statefulset-controller";

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

/// What every reconcile shares.
struct Shared {
    ctx: Context,
    pods: Store<Pod>,
    claims: Store<PersistentVolumeClaim>,
    revisions: Store<ControllerRevision>,
    events: Events,
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (pods, pod_events) = informers::cache::<Pod>(&client);
    let (claims, claim_events) = informers::cache::<PersistentVolumeClaim>(&client);
    let (revisions, revision_events) = informers::cache::<ControllerRevision>(&client);
    let controller = Controller::new(Api::<StatefulSet>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    let (for_pods, for_revisions) = (sets.clone(), sets.clone());
    let shared = Arc::new(Shared { events: Events::new(client, COMPONENT), ctx, pods, claims, revisions });
    controller
        .watches_stream(pod_events, move |pod: Pod| owners_of(&for_pods, &pod.metadata, true))
        .watches_stream(revision_events, move |revision: ControllerRevision| {
            owners_of(&for_revisions, &revision.metadata, false)
        })
        .watches_stream(claim_events, claim_owners)
        .run(reconcile, error_policy, shared)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The sets an event of a pod or revision concerns: its controller, or for an orphan
/// every set of its namespace whose selector matches it (pods: whose name it carries).
fn owners_of(sets: &Store<StatefulSet>, meta: &ObjectMeta, by_name: bool) -> Vec<ObjectRef<StatefulSet>> {
    let namespace = meta.namespace.clone().unwrap_or_default();
    if let Some(owner) = ownership::controller_of(meta) {
        return match owner.kind == "StatefulSet" && owner.api_version == "apps/v1" {
            true => vec![ObjectRef::new(&owner.name).within(&namespace)],
            false => Vec::new(),
        };
    }
    let parent = identity::parent_and_ordinal(meta.name.as_deref().unwrap_or_default()).map(|(p, _)| p.to_owned());
    let labels = meta.labels.clone().unwrap_or_default();
    sets.state()
        .iter()
        .filter(|set| set.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|set| !by_name || parent.as_deref() == Some(set.name_any().as_str()))
        .filter(|set| {
            let selector = set.spec.as_ref().and_then(|s| ownership::selector(&s.selector));
            selector.is_some_and(|s| ownership::selects(&s, &labels))
        })
        .map(|set| ObjectRef::from_obj(set.as_ref()))
        .collect()
}

/// The set a claim belongs to, through its owner (the set, or one of its pods) or its name.
fn claim_owners(claim: PersistentVolumeClaim) -> Vec<ObjectRef<StatefulSet>> {
    let namespace = claim.namespace().unwrap_or_default();
    claim
        .owner_references()
        .iter()
        .filter_map(|r| match r.kind.as_str() {
            "StatefulSet" => Some(r.name.clone()),
            "Pod" => identity::parent_and_ordinal(&r.name).map(|(parent, _)| parent.to_owned()),
            _ => None,
        })
        .map(|name| ObjectRef::new(&name).within(&namespace))
        .collect()
}

fn error_policy(_: Arc<StatefulSet>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "statefulset sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(set: Arc<StatefulSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    let _ = shared.pods.wait_until_ready().await;
    let _ = shared.claims.wait_until_ready().await;
    let _ = shared.revisions.wait_until_ready().await;
    let key = format!("{}/{}", set.namespace().unwrap_or_default(), set.name_any());
    let span = tracing::debug_span!("reconcile", statefulset = %key);
    tracing::Instrument::instrument(sync(set, shared), span).await
}

/// Upstream's sync: claims the set's revisions and pods, then syncs them.
async fn sync(set: Arc<StatefulSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    let namespace = set.namespace().unwrap_or_default();
    let Some(spec) = set.spec.as_ref() else { return Ok(Action::await_change()) };
    let Some(selector) = ownership::selector(&spec.selector) else {
        tracing::debug!("invalid selector; nothing to do");
        return Ok(Action::await_change());
    };
    let claim = Claim {
        owner: ownership::controller_ref(set.as_ref()),
        selector: &selector,
        owner_deleting: set.meta().deletion_timestamp.is_some(),
    };
    let in_namespace = |meta: &ObjectMeta| meta.namespace.as_deref() == Some(namespace.as_str());
    let revision_api: Api<ControllerRevision> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let candidates = shared.revisions.state().into_iter().filter(|r| in_namespace(&r.metadata));
    let mut revisions = claim.run(&revision_api, candidates).await;
    history::sort(&mut revisions);
    let pod_api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let members = shared.pods.state().into_iter().filter(|p| in_namespace(&p.metadata) && identity::is_member(&set, p));
    let pods = claim.run(&pod_api, members).await;

    let status = control::update(&shared, &set, &pods, &revisions).await?;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && status.available_replicas != Some(identity::replicas(&set)) {
        return Ok(Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1))));
    }
    Ok(Action::await_change())
}
