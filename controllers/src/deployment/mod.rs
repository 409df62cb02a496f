//! The Deployment controller (upstream's pkg/controller/deployment): owns
//! ReplicaSets named `<deployment>-<template hash>`, rolls pods from the old
//! ones to the new one (RollingUpdate within maxSurge/maxUnavailable, or
//! Recreate), scales proportionally mid-rollout, honours pause, keeps
//! revisionHistoryLimit old sets, numbers revisions (so `kubectl rollout
//! undo/history/status` work) and reports the Available and Progressing
//! conditions (progressDeadlineSeconds).

mod rollout;
mod status;
mod util;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

pub use util::{POD_TEMPLATE_HASH, REVISION};

use crate::events::Events;
use crate::informers;
use crate::ownership::{self, Claim};
use crate::{Context, Error, pods};
use rollout::Sets;

/// The registry name.
pub const NAME: &str = "deployment";
/// The events' reporting component.
pub const COMPONENT: &str = "deployment-controller";

/// Starts the controller.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx))
}

struct Shared {
    ctx: Context,
    sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    events: Events,
}

async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let (sets, set_events) = informers::cache::<ReplicaSet>(&client);
    let (pods, pod_events) = informers::cache::<Pod>(&client);
    let controller = Controller::new(Api::<Deployment>::all(client.clone()), watcher::Config::default());
    let deployments = controller.store();
    let for_pods = deployments.clone();
    let shared = Arc::new(Shared { events: Events::new(client, COMPONENT), ctx, sets: sets.clone(), pods });
    controller
        .watches_stream(set_events, move |set: ReplicaSet| owners_of(&deployments, &set.metadata, set.labels()))
        // Recreate waits for the old pods to be gone: their deletions matter.
        .watches_stream(pod_events, move |pod: Pod| {
            let owner = ownership::controller_of(&pod.metadata).map(|r| r.name.clone());
            let set =
                owner.and_then(|name| sets.get(&ObjectRef::new(&name).within(&pod.namespace().unwrap_or_default())));
            set.map(|s| owners_of(&for_pods, &s.metadata, s.labels())).unwrap_or_default()
        })
        .run(reconcile, error_policy, shared)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// The Deployments an event of a ReplicaSet (or of a pod of one) concerns.
fn owners_of(
    deployments: &Store<Deployment>,
    meta: &ObjectMeta,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<ObjectRef<Deployment>> {
    let namespace = meta.namespace.clone().unwrap_or_default();
    if let Some(owner) = ownership::controller_of(meta) {
        return match owner.kind == "Deployment" {
            true => vec![ObjectRef::new(&owner.name).within(&namespace)],
            false => Vec::new(),
        };
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|d| {
            let selector = d.spec.as_ref().and_then(|s| ownership::selector(&s.selector));
            selector.is_some_and(|s| ownership::selects(&s, labels))
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(_: Arc<Deployment>, error: &Error, _: Arc<Shared>) -> Action {
    tracing::debug!(%error, "deployment sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn reference(deployment: &Deployment) -> ObjectReference {
    deployment.object_ref(&())
}

async fn reconcile(deployment: Arc<Deployment>, shared: Arc<Shared>) -> Result<Action, Error> {
    let _ = shared.sets.wait_until_ready().await;
    let _ = shared.pods.wait_until_ready().await;
    let span = tracing::debug_span!("reconcile", deployment = %format!("{}/{}", deployment.namespace().unwrap_or_default(), deployment.name_any()));
    let _entered = span.enter();
    let mut d = (*deployment).clone();
    let d = &mut d;
    let Some(spec) = d.spec.clone() else { return Ok(Action::await_change()) };
    let everything = spec.selector.match_labels.as_ref().is_none_or(|l| l.is_empty())
        && spec.selector.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    if everything {
        let message = "This deployment is selecting all pods. A non-empty selector is required.".to_owned();
        shared.events.warning(&reference(d), "SelectingAll", message).await;
        return Ok(Action::await_change());
    }
    let Some(selector) = ownership::selector(&spec.selector) else { return Ok(Action::await_change()) };
    let namespace = d.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let candidates: Vec<Arc<ReplicaSet>> =
        shared.sets.state().into_iter().filter(|s| s.namespace().as_deref() == Some(namespace.as_str())).collect();
    let claim = Claim {
        owner: ownership::controller_ref(&*d),
        selector: &selector,
        owner_deleting: d.metadata.deletion_timestamp.is_some(),
    };
    let owned: Vec<ReplicaSet> = claim.run(&api, candidates).await.into_iter().map(|s| (*s).clone()).collect();
    let now = shared.ctx.clock.now();

    if d.metadata.deletion_timestamp.is_some() {
        let sets = split(d, owned);
        return sync_status(&shared, d, &sets, now).await;
    }
    let paused = spec.paused.unwrap_or(false);
    check_paused(&shared, d, paused, now).await?;
    let scaling = owned.iter().filter(|s| util::replicas(s) > 0).any(|s| {
        let annotated = s.metadata.annotations.as_ref().and_then(|a| a.get(util::DESIRED_REPLICAS));
        annotated.is_some_and(|v| *v != util::desired(d).to_string())
    });
    if paused || scaling {
        let mut sets = new_and_old(&shared, d, owned, false, now).await?;
        rollout::scale_deployment(&shared, d, &mut sets).await?;
        if paused {
            rollout::cleanup(&shared, d, &sets).await?;
        }
        return sync_status(&shared, d, &sets, now).await;
    }
    let rolling = util::is_rolling(d);
    let mut sets = new_and_old(&shared, d, owned, rolling, now).await?;
    if rolling {
        if rollout::reconcile_new(&shared, d, &mut sets).await? || rollout::reconcile_old(&shared, d, &mut sets).await?
        {
            return sync_rollout(&shared, d, &sets, now).await;
        }
    } else {
        if rollout::scale_down_old(&shared, d, &mut sets).await? || old_pods_running(&shared, &sets) {
            return sync_rollout(&shared, d, &sets, now).await;
        }
        if sets.new.is_none() {
            let owned = sets.old.clone();
            sets = new_and_old(&shared, d, owned, true, now).await?;
        }
        if let Some(new) = sets.new.clone() {
            rollout::scale(&shared, d, &mut sets, &new.name_any(), util::desired(d)).await?;
        }
    }
    if status::complete(d, &d.status.clone().unwrap_or_default()) {
        rollout::cleanup(&shared, d, &sets).await?;
    }
    sync_rollout(&shared, d, &sets, now).await
}

/// Recreate: pods of the old ReplicaSets still exist (even terminating), unless finished.
fn old_pods_running(shared: &Shared, sets: &Sets) -> bool {
    let old: Vec<String> = sets.old.iter().filter_map(|s| s.uid()).collect();
    shared.pods.state().iter().any(|p| {
        ownership::controller_of(&p.metadata).is_some_and(|r| old.contains(&r.uid))
            && !matches!(pods::phase(p), "Succeeded" | "Failed")
    })
}

/// The new ReplicaSet (same template but for the hash label; the oldest if several) and the others.
fn split(d: &Deployment, mut owned: Vec<ReplicaSet>) -> Sets {
    owned.sort_by_key(|s| (s.metadata.creation_timestamp.as_ref().map(|t| t.0), s.name_any()));
    let template = d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let index = owned.iter().position(|s| {
        s.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| util::equal_ignoring_hash(t, &template))
    });
    let new = index.map(|i| owned.remove(i));
    Sets { new, old: owned }
}

/// Splits the sets, syncing the new one's revision, or creating it when `create`.
async fn new_and_old(
    shared: &Shared,
    d: &mut Deployment,
    owned: Vec<ReplicaSet>,
    create: bool,
    now: jiff::Timestamp,
) -> Result<Sets, Error> {
    let mut sets = split(d, owned);
    let max_old = sets.old.iter().map(util::set_revision).max().unwrap_or(0);
    let revision = max_old + 1;
    let namespace = d.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    match sets.new.take() {
        Some(existing) => {
            let annotations = util::set_annotations(d, existing.metadata.annotations.as_ref(), revision, false);
            let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let stale_min_ready = existing.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
            let updated = if existing.metadata.annotations.as_ref() != Some(&annotations) || stale_min_ready {
                let patch = json!({ "metadata": { "annotations": annotations, "resourceVersion": existing.metadata.resource_version },
                                    "spec": { "minReadySeconds": min_ready } });
                api.patch(&existing.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?
            } else {
                existing
            };
            set_deployment_revision(shared, d, util::set_revision(&updated)).await?;
            let found = format!("Found new replica set {:?}", updated.name_any());
            progress_condition(shared, d, status::FOUND_NEW_RS, &found, now, true).await?;
            sets.new = Some(updated);
        }
        None if create => {
            let created = create_new(shared, d, &sets, revision, now).await?;
            set_deployment_revision(shared, d, revision).await?;
            sets.new = Some(created);
        }
        None => {}
    }
    Ok(sets)
}

/// Creates the new ReplicaSet (upstream's getNewReplicaSet with createIfNotExisted).
async fn create_new(
    shared: &Shared,
    d: &mut Deployment,
    sets: &Sets,
    revision: i64,
    now: jiff::Timestamp,
) -> Result<ReplicaSet, Error> {
    let spec = d.spec.clone().unwrap_or_default();
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = util::template_hash(&spec.template, collisions);
    let mut template = spec.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector.match_labels.get_or_insert_with(Default::default).insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let name = format!("{}-{hash}", d.name_any());
    let replicas = util::new_set_replicas(d, &sets.all(), 0);
    let set = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: d.namespace(),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            annotations: Some(util::set_annotations(d, None, revision, true)),
            owner_references: Some(vec![ownership::controller_ref(d)]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    let api: Api<ReplicaSet> = Api::namespaced(shared.ctx.client.clone(), &d.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), &set).await {
        Ok(created) => {
            if replicas > 0 {
                let message = format!("Scaled up replica set {name} from 0 to {replicas}");
                shared.events.normal(&reference(d), "ScalingReplicaSet", message).await;
            }
            let message = format!("Created new replica set {name:?}");
            progress_condition(shared, d, status::NEW_RS_CREATED, &message, now, false).await?;
            Ok(created)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // A set of that name that is not this template's: count a collision so the next hash differs.
            let existing = api.get(&name).await?;
            let ours = ownership::is_controlled_by(&existing.metadata, &d.uid().unwrap_or_default())
                && existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| util::equal_ignoring_hash(t, &spec.template));
            if ours {
                return Ok(existing);
            }
            let count = collisions.unwrap_or(0).saturating_add(1);
            let deployments: Api<Deployment> =
                Api::namespaced(shared.ctx.client.clone(), &d.namespace().unwrap_or_default());
            let patch = json!({ "status": { "collisionCount": count } });
            *d = deployments.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            Err(Error::Invalid(format!("hash collision for replica set {name}; collisionCount is now {count}")))
        }
        Err(error) => Err(error.into()),
    }
}

/// The Deployment's own revision annotation.
async fn set_deployment_revision(shared: &Shared, d: &mut Deployment, revision: i64) -> Result<(), Error> {
    if util::revision(d.metadata.annotations.as_ref()) == revision {
        return Ok(());
    }
    let api: Api<Deployment> = Api::namespaced(shared.ctx.client.clone(), &d.namespace().unwrap_or_default());
    let patch = json!({ "metadata": { "annotations": { REVISION: revision.to_string() } } });
    *d = api.patch(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Sets Progressing (True) with this reason unless the Deployment has no deadline
/// (`only_if_missing`: only when there is no Progressing condition yet).
async fn progress_condition(
    shared: &Shared,
    d: &mut Deployment,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
    only_if_missing: bool,
) -> Result<(), Error> {
    let has_deadline = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).is_some_and(|s| s != i32::MAX);
    let mut current = d.status.clone().unwrap_or_default();
    if !has_deadline || (only_if_missing && status::get(&current, status::PROGRESSING).is_some()) {
        return Ok(());
    }
    let before = current.clone();
    status::set_condition(&mut current, status::condition(status::PROGRESSING, "True", reason, message, now));
    write_status(shared, d, &before, current).await
}

async fn check_paused(shared: &Shared, d: &mut Deployment, paused: bool, now: jiff::Timestamp) -> Result<(), Error> {
    let current = d.status.clone().unwrap_or_default();
    let reason = status::get(&current, status::PROGRESSING).and_then(|c| c.reason.clone());
    let condition = match (paused, reason.as_deref()) {
        (true, Some(status::PAUSED)) | (false, Some(status::RESUMED) | None) => return Ok(()),
        (true, _) => status::condition(status::PROGRESSING, "Unknown", status::PAUSED, "Deployment is paused", now),
        (false, Some(status::PAUSED)) => {
            status::condition(status::PROGRESSING, "Unknown", status::RESUMED, "Deployment is resumed", now)
        }
        (false, Some(_)) => return Ok(()),
    };
    let mut updated = current.clone();
    status::set_condition(&mut updated, condition);
    write_status(shared, d, &current, updated).await
}

/// Status without rollout progress (scaling, paused, deleting).
async fn sync_status(shared: &Shared, d: &mut Deployment, sets: &Sets, now: jiff::Timestamp) -> Result<Action, Error> {
    let status = status::calculate(d, &sets.all(), sets.new.as_ref(), now);
    write_status(shared, d, &d.status.clone().unwrap_or_default(), status).await?;
    Ok(Action::await_change())
}

/// Status with the Progressing condition; requeues for the progress deadline.
async fn sync_rollout(shared: &Shared, d: &mut Deployment, sets: &Sets, now: jiff::Timestamp) -> Result<Action, Error> {
    let base = status::calculate(d, &sets.all(), sets.new.as_ref(), now);
    let failure = sets.all().iter().find_map(|s| {
        let c = s
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")?;
        let mut condition = status::condition(
            status::REPLICA_FAILURE,
            "True",
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default(),
            now,
        );
        condition.last_transition_time = c.last_transition_time.clone();
        Some(condition)
    });
    let status = status::with_progress(d, base, sets.new.as_ref(), failure, now);
    let requeue = status::times_out_at(d, &status).map(|at| {
        let wait = at.duration_since(now).as_secs_f64().max(0.0) + 1.0;
        Duration::from_secs_f64(wait)
    });
    write_status(shared, d, &d.status.clone().unwrap_or_default(), status).await?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

async fn write_status(
    shared: &Shared,
    d: &mut Deployment,
    before: &DeploymentStatus,
    mut status: DeploymentStatus,
) -> Result<(), Error> {
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    if *before == status && d.status.is_some() {
        return Ok(());
    }
    let api: Api<Deployment> = Api::namespaced(shared.ctx.client.clone(), &d.namespace().unwrap_or_default());
    // A merge patch: absent conditions must be cleared explicitly.
    let mut patch = json!({ "status": status });
    if status.conditions.is_none() {
        patch["status"]["conditions"] = serde_json::Value::Null;
    }
    *d = api.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}
