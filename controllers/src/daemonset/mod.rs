//! The DaemonSet controller (upstream's pkg/controller/daemon): one pod on
//! every node the template's nodeName, nodeSelector, node affinity and
//! tolerations (with the DaemonSet defaults) admit, tied to its node by a
//! required node affinity on `metadata.name` for the scheduler to bind;
//! failed pods replaced with a back-off; the template's history as
//! ControllerRevisions; RollingUpdate (maxUnavailable or maxSurge) or
//! OnDelete; and the status `kubectl rollout status` reads. Node additions,
//! label and taint changes and removals resync every DaemonSet.

mod manage;
mod placement;
mod revisions;
mod rolling;
mod status;
#[cfg(test)]
mod tests;
mod util;

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

pub use placement::{default_tolerations, should_run};
pub use util::{TEMPLATE_GENERATION_ANNOTATION, TEMPLATE_GENERATION_LABEL};

use crate::events::Events;
use crate::expectations::Expectations;
use crate::informers;
use crate::ownership::{self, Claim};
use crate::{Context, Error, pods};
use manage::{Current, FailedBackoff};

/// The registry name.
pub const NAME: &str = "daemonset";
/// The events' reporting component.
pub const COMPONENT: &str = "daemonset-controller";

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

/// What every reconcile shares.
struct Shared {
    ctx: Context,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
    events: Events,
    expectations: Expectations,
    failed_backoff: FailedBackoff,
}

/// What of a node decides where DaemonSet pods go (upstream's shouldIgnoreNodeUpdate).
fn placement_hash(node: &Node) -> u64 {
    let mut hasher = DefaultHasher::new();
    node.labels().hash(&mut hasher);
    serde_json::to_string(&node.spec.as_ref().and_then(|s| s.taints.as_ref())).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (pods, pod_events) = informers::cache::<Pod>(&client);
    let (revisions, revision_events) = informers::cache::<ControllerRevision>(&client);
    let (nodes, node_writer) = reflector::store();
    // Every DaemonSet is looked at again when a node comes, goes, or changes labels or taints.
    let mut placements: HashMap<String, u64> = HashMap::new();
    let node_changes = reflector::reflector(node_writer, watcher(Api::<Node>::all(client.clone()), Default::default()))
        .default_backoff()
        .filter_map(move |event| {
            let changed = match event {
                Ok(watcher::Event::Apply(node)) => {
                    placements.insert(node.name_any(), placement_hash(&node)) != Some(placement_hash(&node))
                }
                Ok(watcher::Event::InitApply(node)) => {
                    placements.insert(node.name_any(), placement_hash(&node));
                    false
                }
                Ok(watcher::Event::Delete(node)) => placements.remove(&node.name_any()).is_some(),
                Ok(watcher::Event::InitDone) => true,
                Ok(watcher::Event::Init) | Err(_) => false,
            };
            std::future::ready(changed.then_some(()))
        });
    let controller = Controller::new(Api::<DaemonSet>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    let for_revisions = sets.clone();
    let shared = Arc::new(Shared {
        events: Events::new(client, COMPONENT),
        ctx,
        pods,
        nodes,
        revisions,
        expectations: Expectations::default(),
        failed_backoff: FailedBackoff::default(),
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| owners_of(&sets, &pod.metadata))
        .watches_stream(revision_events, move |revision: ControllerRevision| {
            owners_of(&for_revisions, &revision.metadata)
        })
        .reconcile_all_on(node_changes)
        .run(reconcile, error_policy, shared)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The DaemonSets an event of a pod or revision concerns: its controller, or for an
/// orphan every DaemonSet of its namespace whose selector matches it.
fn owners_of(sets: &Store<DaemonSet>, meta: &ObjectMeta) -> Vec<ObjectRef<DaemonSet>> {
    let namespace = meta.namespace.clone().unwrap_or_default();
    if let Some(owner) = ownership::controller_of(meta) {
        return match owner.kind == "DaemonSet" && owner.api_version == "apps/v1" {
            true => vec![ObjectRef::new(&owner.name).within(&namespace)],
            false => Vec::new(),
        };
    }
    let labels = meta.labels.clone().unwrap_or_default();
    sets.state()
        .iter()
        .filter(|ds| ds.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|ds| {
            let selector = ds.spec.as_ref().and_then(|s| ownership::selector(&s.selector));
            selector.is_some_and(|s| ownership::selects(&s, &labels))
        })
        .map(|ds| ObjectRef::from_obj(ds.as_ref()))
        .collect()
}

fn error_policy(_: Arc<DaemonSet>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "daemonset sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn key_of(ds: &DaemonSet) -> String {
    format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any())
}

async fn reconcile(ds: Arc<DaemonSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    let _ = shared.pods.wait_until_ready().await;
    let _ = shared.nodes.wait_until_ready().await;
    let _ = shared.revisions.wait_until_ready().await;
    let span = tracing::debug_span!("reconcile", daemonset = %key_of(&ds));
    tracing::Instrument::instrument(sync(ds, shared), span).await
}

/// Upstream's syncDaemonSet.
async fn sync(ds: Arc<DaemonSet>, shared: Arc<Shared>) -> Result<Action, Error> {
    let Some(spec) = ds.spec.as_ref() else { return Ok(Action::await_change()) };
    let everything = spec.selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && spec.selector.match_expressions.as_ref().is_none_or(Vec::is_empty);
    if everything {
        let message = "This daemon set is selecting all pods. A non-empty selector is required.".to_owned();
        shared.events.warning(&ds.object_ref(&()), "SelectingAll", message).await;
        return Ok(Action::await_change());
    }
    // The history of a DaemonSet being deleted may be gone already: its status cannot be trusted.
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(selector) = ownership::selector(&spec.selector) else { return Ok(Action::await_change()) };
    let namespace = ds.namespace().unwrap_or_default();
    let key = key_of(&ds);
    let in_namespace: Vec<Arc<Pod>> =
        shared.pods.state().into_iter().filter(|p| p.namespace().as_deref() == Some(namespace.as_str())).collect();
    let claim = Claim { owner: ownership::controller_ref(ds.as_ref()), selector: &selector, owner_deleting: false };
    let pod_api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let owned = claim.run(&pod_api, in_namespace.iter().cloned()).await;
    let history = revisions::construct(&shared, &ds, &owned).await?;
    let hash = history.hash();
    let nodes = shared.nodes.state();
    let current = Current {
        hash: &hash,
        generation: util::template_generation(&ds),
        surge: util::allows_surge(&ds),
        min_ready: spec.min_ready_seconds.unwrap_or(0),
        now: shared.ctx.clock.now(),
    };
    let present = |uid: &str| in_namespace.iter().any(|p| p.uid().as_deref() == Some(uid) && !pods::is_terminating(p));
    let satisfied = |pods: &[Arc<Pod>]| {
        shared.expectations.satisfied(&key, |name| pods.iter().any(|p| p.name_any() == name), present)
    };
    if !satisfied(&in_namespace) {
        let status = status::calculate(&ds, &nodes, &manage::by_node(&owned, false), &current, false);
        status::store(&shared.ctx.client, &ds, &status).await?;
        return Ok(Action::await_change());
    }
    let retry = manage::manage(&shared, &ds, &nodes, &owned, &current).await;
    let mut result = retry.as_ref().map(drop).map_err(ToString::to_string);
    if result.is_ok() && satisfied(&in_namespace) && is_rolling(&ds) {
        result = rolling_update(&shared, &ds, &nodes, &owned, &current).await.map_err(|e| e.to_string());
    }
    if result.is_ok() {
        result = revisions::clean_up(&shared, &ds, &history.old, &owned).await.map_err(|e| e.to_string());
    }
    let status = status::calculate(&ds, &nodes, &manage::by_node(&owned, false), &current, true);
    status::store(&shared.ctx.client, &ds, &status).await?;
    result.map_err(Error::Invalid)?;
    let min_ready = current.min_ready;
    let waiting_available = (min_ready > 0 && status.number_ready != status.number_available.unwrap_or(0))
        .then(|| Duration::from_secs(u64::try_from(min_ready).unwrap_or(1)));
    let next = [retry.ok().flatten(), waiting_available].into_iter().flatten().min();
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

fn is_rolling(ds: &DaemonSet) -> bool {
    let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
}

/// The RollingUpdate step: budgets from the desired node count, then the plan.
async fn rolling_update(
    shared: &Shared,
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    owned: &[Arc<Pod>],
    current: &Current<'_>,
) -> Result<(), Error> {
    let template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    let mut by_node = manage::by_node(owned, false);
    let mut desired = 0;
    for node in nodes {
        if placement::should_run(&template, node).0 {
            desired += 1;
            by_node.entry(node.name_any()).or_default();
        }
    }
    let mut max_unavailable = util::unavailable_count(ds, desired).map_err(Error::Invalid)?;
    let max_surge = util::surge_count(ds, desired).map_err(Error::Invalid)?;
    if desired > 0 && max_unavailable == 0 && max_surge == 0 {
        max_unavailable = 1;
    }
    let should_run =
        |name: &str| nodes.iter().find(|n| n.name_any() == name).is_some_and(|n| placement::should_run(&template, n).0);
    let plan = rolling::plan(&by_node, should_run, max_surge, max_unavailable, desired, current);
    if plan.delete.is_empty() && plan.create_on.is_empty() {
        return Ok(());
    }
    manage::sync_nodes(shared, ds, &plan.delete, &plan.create_on, current).await
}
