//! A StatefulSet's ControllerRevisions: the current and update revisions
//! (creating the update one, or renumbering an equal older one on a
//! rollback), the set as of a revision, and trimming the history to
//! revisionHistoryLimit (upstream's getStatefulSetRevisions, newRevision,
//! ApplyRevision and truncateHistory).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta};

use super::identity;
use crate::history;
use crate::ownership;

/// The revisions a sync works with.
#[derive(Debug, Clone)]
pub struct Revisions {
    pub current: ControllerRevision,
    pub update: ControllerRevision,
    pub collision_count: i32,
}

/// A revision of the set's current template numbered `number` (upstream's newRevision);
/// its name and hash label are those for `collision_count`.
pub fn new_revision(set: &StatefulSet, number: i64, collision_count: i32) -> ControllerRevision {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let data = history::template_patch(&template);
    let hash = history::hash_data(&data, Some(collision_count));
    let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.insert(history::HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(history::revision_name(&set.name_any(), &hash)),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: set.metadata.annotations.clone(),
            owner_references: Some(vec![ownership::controller_ref(set)]),
            ..ObjectMeta::default()
        },
        data: Some(history::raw(data)),
        revision: number,
    }
}

/// The set as of `revision`: its template replaced by the revision's (upstream's ApplyRevision).
pub fn apply(set: &StatefulSet, revision: &ControllerRevision) -> StatefulSet {
    let mut applied = set.clone();
    if let (Some(spec), Some(template)) = (applied.spec.as_mut(), history::template_of(revision)) {
        spec.template = template;
    }
    applied
}

/// The current and update revisions; `sorted` is the set's history, oldest first.
pub async fn current_and_update(
    api: &Api<ControllerRevision>,
    set: &StatefulSet,
    sorted: &[Arc<ControllerRevision>],
) -> Result<Revisions, kube::Error> {
    let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let wanted = new_revision(set, history::next_revision(sorted), collision_count);
    let equal: Vec<&Arc<ControllerRevision>> = sorted.iter().filter(|r| history::equal(r, &wanted)).collect();
    let update = match (equal.last(), sorted.last()) {
        // The newest revision already holds the template: nothing changed.
        (Some(found), Some(newest)) if history::equal(newest, found) => (**newest).clone(),
        // An older revision holds it: a rollback, which renumbers that revision.
        (Some(found), _) => history::renumber(api, found, wanted.revision).await?,
        (None, _) => history::create(api, &set.name_any(), &wanted, &mut collision_count).await?,
    };
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
    let current = sorted
        .iter()
        .find(|r| current_name.as_deref() == Some(r.name_any().as_str()))
        .map_or_else(|| update.clone(), |r| (**r).clone());
    Ok(Revisions { current, update, collision_count })
}

/// The revisions to delete so that at most `limit` revisions that are neither live
/// (current, update, or some pod's) remain, oldest first (upstream's truncateHistory).
pub fn to_truncate<'a>(
    limit: i32,
    sorted: &'a [Arc<ControllerRevision>],
    live: &BTreeSet<String>,
) -> Vec<&'a Arc<ControllerRevision>> {
    let old: Vec<&Arc<ControllerRevision>> = sorted.iter().filter(|r| !live.contains(&r.name_any())).collect();
    let Ok(limit) = usize::try_from(limit) else { return Vec::new() };
    let excess = old.len().saturating_sub(limit);
    old.into_iter().take(excess).collect()
}

/// Deletes the history beyond revisionHistoryLimit.
pub async fn truncate(
    api: &Api<ControllerRevision>,
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    sorted: &[Arc<ControllerRevision>],
    revisions: Option<&Revisions>,
) -> Result<(), kube::Error> {
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    let mut live: BTreeSet<String> = pods.iter().map(|p| identity::revision_of(p).to_owned()).collect();
    if let Some(revisions) = revisions {
        live.insert(revisions.current.name_any());
        live.insert(revisions.update.name_any());
    }
    for revision in to_truncate(limit, sorted, &live) {
        history::delete(api, revision).await?;
    }
    Ok(())
}
