//! A DaemonSet's ControllerRevisions (upstream's constructHistory, snapshot,
//! dedupCurHistories and cleanupHistory): the revision holding the current
//! template (created, or renumbered on a rollback), its hash as the pods'
//! `controller-revision-hash`, and the history trimmed to revisionHistoryLimit.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Shared;
use crate::Error;
use crate::history::{self, REVISION_HASH_LABEL};
use crate::ownership::{self, Claim};

/// The revision holding the DaemonSet's template now, and the others.
#[derive(Debug)]
pub struct History {
    pub current: ControllerRevision,
    pub old: Vec<Arc<ControllerRevision>>,
}

impl History {
    /// The current revision's hash (the pods' `controller-revision-hash`).
    pub fn hash(&self) -> String {
        self.current.labels().get(REVISION_HASH_LABEL).cloned().unwrap_or_default()
    }
}

/// The revision stores the DaemonSet's template (upstream's Match).
pub fn matches(ds: &DaemonSet, revision: &ControllerRevision) -> bool {
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    history::data_of(revision) == &history::template_patch(&template)
}

/// The revision of the DaemonSet's template numbered `number` (upstream's snapshot, before creating it).
pub fn snapshot(ds: &DaemonSet, number: i64) -> ControllerRevision {
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = history::template_hash(&template, collisions);
    let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", ds.name_any())),
            namespace: ds.namespace(),
            labels: Some(labels),
            annotations: ds.metadata.annotations.clone(),
            owner_references: Some(vec![ownership::controller_ref(ds)]),
            ..ObjectMeta::default()
        },
        data: Some(history::raw(history::template_patch(&template))),
        revision: number,
    }
}

/// Finds or makes the current revision; adopts and releases revisions on the way.
pub async fn construct(shared: &Shared, ds: &DaemonSet, owned_pods: &[Arc<Pod>]) -> Result<History, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let Some(selector) = ds.spec.as_ref().and_then(|s| ownership::selector(&s.selector)) else {
        return Err(Error::Invalid("invalid selector".into()));
    };
    let claim = Claim {
        owner: ownership::controller_ref(ds),
        selector: &selector,
        owner_deleting: ds.meta().deletion_timestamp.is_some(),
    };
    let candidates =
        shared.revisions.state().into_iter().filter(|r| r.metadata.namespace.as_deref() == Some(namespace.as_str()));
    let mut current = Vec::new();
    let mut old = Vec::new();
    for mut revision in claim.run(&api, candidates).await {
        if !revision.labels().contains_key(REVISION_HASH_LABEL) {
            let patch = json!({ "metadata": { "labels": { REVISION_HASH_LABEL: revision.name_any() } } });
            revision = Arc::new(api.patch(&revision.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?);
        }
        match matches(ds, &revision) {
            true => current.push(revision),
            false => old.push(revision),
        }
    }
    let next = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let current = match current.is_empty() {
        true => create(shared, ds, &api, next).await?,
        false => {
            let kept = dedup(shared, ds, &api, current, owned_pods).await?;
            match kept.revision < next {
                true => history::renumber(&api, &kept, next).await?,
                false => kept,
            }
        }
    };
    Ok(History { current, old })
}

/// Creates the revision; a same-named revision of another template is a hash
/// collision, counted in status.collisionCount so the next try gets another name.
async fn create(
    shared: &Shared,
    ds: &DaemonSet,
    api: &Api<ControllerRevision>,
    number: i64,
) -> Result<ControllerRevision, Error> {
    let revision = snapshot(ds, number);
    let name = revision.name_any();
    match api.create(&PostParams::default(), &revision).await {
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get(&name).await?;
            if matches(ds, &existing) {
                return Ok(existing);
            }
            let sets: Api<DaemonSet> = Api::namespaced(shared.ctx.client.clone(), &ds.namespace().unwrap_or_default());
            let fresh = sets.get(&ds.name_any()).await?;
            let count = |d: &DaemonSet| d.status.as_ref().and_then(|s| s.collision_count);
            if count(&fresh) != count(ds) {
                return Err(Error::Invalid(format!(
                    "found a stale collision count ({:?}, expected {:?}) of DaemonSet {:?} while processing; will retry until it is updated",
                    count(ds),
                    count(&fresh),
                    ds.name_any()
                )));
            }
            let bumped = count(&fresh).unwrap_or(0).saturating_add(1);
            let patch = json!({ "status": { "collisionCount": bumped } });
            sets.patch_status(&ds.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            Err(Error::Invalid(format!("hash collision for revision {name}; collisionCount is now {bumped}")))
        }
        other => Ok(other?),
    }
}

/// Keeps the newest of several revisions of the current template, relabelling the
/// pods of the others first (upstream's dedupCurHistories).
async fn dedup(
    shared: &Shared,
    ds: &DaemonSet,
    api: &Api<ControllerRevision>,
    mut current: Vec<Arc<ControllerRevision>>,
    owned_pods: &[Arc<Pod>],
) -> Result<ControllerRevision, Error> {
    current.sort_by_key(|r| r.revision);
    let Some(keep) = current.pop() else { return Err(Error::Invalid("no current revision".into())) };
    if current.is_empty() {
        return Ok((*keep).clone());
    }
    let hash = keep.labels().get(REVISION_HASH_LABEL).cloned().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &ds.namespace().unwrap_or_default());
    for pod in owned_pods.iter().filter(|p| p.labels().get(REVISION_HASH_LABEL) != Some(&hash)) {
        let patch = json!({ "metadata": { "labels": { REVISION_HASH_LABEL: hash } } });
        pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    for duplicate in current {
        history::delete(api, &duplicate).await?;
    }
    Ok((*keep).clone())
}

/// The old revisions to delete so that at most `limit` remain, oldest first,
/// sparing those some pod still runs (upstream's cleanupHistory).
pub fn to_clean_up<'a>(
    limit: i32,
    old: &'a [Arc<ControllerRevision>],
    live_hashes: &BTreeSet<String>,
) -> Vec<&'a Arc<ControllerRevision>> {
    let mut excess = old.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
    let mut sorted: Vec<&Arc<ControllerRevision>> = old.iter().collect();
    sorted.sort_by_key(|r| r.revision);
    sorted
        .into_iter()
        .filter(|r| !r.labels().get(REVISION_HASH_LABEL).is_some_and(|h| live_hashes.contains(h)))
        .take_while(|_| {
            let more = excess > 0;
            excess = excess.saturating_sub(1);
            more
        })
        .collect()
}

/// Deletes the history beyond revisionHistoryLimit.
pub async fn clean_up(
    shared: &Shared,
    ds: &DaemonSet,
    old: &[Arc<ControllerRevision>],
    owned: &[Arc<Pod>],
) -> Result<(), Error> {
    let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    let live: BTreeSet<String> = owned.iter().filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned()).collect();
    let api: Api<ControllerRevision> = Api::namespaced(shared.ctx.client.clone(), &ds.namespace().unwrap_or_default());
    for revision in to_clean_up(limit, old, &live) {
        history::delete(&api, revision).await?;
    }
    Ok(())
}
