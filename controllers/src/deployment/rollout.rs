//! The rollout steps over a Deployment's ReplicaSets (upstream's rolling.go,
//! recreate.go and sync.go's scale and cleanup): each returns whether it
//! changed a size, so a sync does one step and waits for the next event.

use std::cmp::Reverse;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::Shared;
use super::util::{self, DESIRED_REPLICAS, MAX_REPLICAS, available, desired, max_surge, max_unavailable, replicas};
use crate::Error;

/// A Deployment's ReplicaSets during one sync, updated in place as they are scaled.
#[derive(Debug, Clone)]
pub struct Sets {
    pub new: Option<ReplicaSet>,
    pub old: Vec<ReplicaSet>,
}

fn created(set: &ReplicaSet) -> (Option<jiff::Timestamp>, String) {
    (set.metadata.creation_timestamp.as_ref().map(|t| t.0), set.name_any())
}

impl Sets {
    pub fn all(&self) -> Vec<&ReplicaSet> {
        self.old.iter().chain(self.new.as_ref()).collect()
    }

    fn active_old(&self) -> impl Iterator<Item = &ReplicaSet> {
        self.old.iter().filter(|s| replicas(s) > 0)
    }

    fn find_mut(&mut self, name: &str) -> Option<&mut ReplicaSet> {
        self.old.iter_mut().chain(self.new.as_mut()).find(|s| s.name_any() == name)
    }
}

/// Scales a ReplicaSet (and refreshes its replica annotations), with the ScalingReplicaSet event.
pub async fn scale(
    shared: &Shared,
    deployment: &Deployment,
    sets: &mut Sets,
    name: &str,
    to: i32,
) -> Result<bool, Error> {
    let Some(set) = sets.find_mut(name) else { return Ok(false) };
    let from = replicas(set);
    let want_desired = desired(deployment).to_string();
    let want_max = (desired(deployment) + max_surge(deployment)).to_string();
    let annotations = set.metadata.annotations.clone().unwrap_or_default();
    let annotations_stale =
        annotations.get(DESIRED_REPLICAS) != Some(&want_desired) || annotations.get(MAX_REPLICAS) != Some(&want_max);
    if from == to && !annotations_stale {
        return Ok(false);
    }
    let api: Api<ReplicaSet> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": { "annotations": { DESIRED_REPLICAS: want_desired, MAX_REPLICAS: want_max },
                      "resourceVersion": set.metadata.resource_version },
        "spec": { "replicas": to },
    });
    *set = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    if from != to {
        let direction = if to > from { "up" } else { "down" };
        let message = format!("Scaled {direction} replica set {name} from {from} to {to}");
        shared.events.normal(&super::reference(deployment), "ScalingReplicaSet", message).await;
    }
    Ok(from != to)
}

/// Grows or shrinks the new ReplicaSet towards the desired count within the surge.
pub async fn reconcile_new(shared: &Shared, deployment: &Deployment, sets: &mut Sets) -> Result<bool, Error> {
    let Some(new) = sets.new.clone() else { return Ok(false) };
    let want = desired(deployment);
    let target = match replicas(&new) {
        n if n == want => return Ok(false),
        n if n > want => want,
        n => util::new_set_replicas(deployment, &sets.all(), n),
    };
    scale(shared, deployment, sets, &new.name_any(), target).await
}

/// The available pods a set can be counted on for: its status, but never
/// more than its spec (a set just scaled down reports the pods it is
/// deleting until its controller catches up; counting them would let a
/// rollout take away more than maxUnavailable).
fn dependable(set: &ReplicaSet) -> i32 {
    available(set).min(replicas(set))
}

/// Shrinks old ReplicaSets as far as maxUnavailable allows, unhealthy pods first.
pub async fn reconcile_old(shared: &Shared, deployment: &Deployment, sets: &mut Sets) -> Result<bool, Error> {
    let old_pods: i32 = sets.old.iter().map(replicas).sum();
    if old_pods == 0 {
        return Ok(false);
    }
    let all_pods: i32 = sets.all().iter().map(|s| replicas(s)).sum();
    let min_available = desired(deployment) - max_unavailable(deployment);
    let new_unavailable = sets.new.as_ref().map_or(0, |n| replicas(n) - dependable(n));
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let mut order: Vec<ReplicaSet> = sets.active_old().cloned().collect();
    order.sort_by_key(created);
    // First the old sets' unhealthy replicas.
    let mut cleaned = 0;
    for set in &order {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = replicas(set) - dependable(set);
        if unhealthy <= 0 {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(unhealthy);
        scale(shared, deployment, sets, &set.name_any(), replicas(set) - down).await?;
        cleaned += down;
    }
    // Then healthy ones, as long as enough stay available.
    let available_pods: i32 = sets.all().iter().map(|s| dependable(s)).sum();
    let mut scaled = 0;
    if available_pods > min_available {
        let total = available_pods - min_available;
        let mut order: Vec<ReplicaSet> = sets.active_old().cloned().collect();
        order.sort_by_key(created);
        for set in order {
            if scaled >= total {
                break;
            }
            let down = replicas(&set).min(total - scaled);
            scale(shared, deployment, sets, &set.name_any(), replicas(&set) - down).await?;
            scaled += down;
        }
    }
    Ok(cleaned + scaled > 0)
}

/// Recreate's first step: every old ReplicaSet to zero.
pub async fn scale_down_old(shared: &Shared, deployment: &Deployment, sets: &mut Sets) -> Result<bool, Error> {
    let names: Vec<String> = sets.active_old().map(|s| s.name_any()).collect();
    let mut scaled = false;
    for name in names {
        scaled |= scale(shared, deployment, sets, &name, 0).await?;
    }
    Ok(scaled)
}

/// Scaling a Deployment that is not rolling out (or is paused): the one
/// active set takes the new size, or all share it in proportion.
pub async fn scale_deployment(shared: &Shared, deployment: &Deployment, sets: &mut Sets) -> Result<(), Error> {
    let want = desired(deployment);
    let mut active: Vec<ReplicaSet> = sets.all().into_iter().filter(|s| replicas(s) > 0).cloned().collect();
    if active.len() <= 1 {
        let latest = match active.pop() {
            Some(set) => Some(set),
            None => sets.new.clone().or_else(|| sets.old.iter().max_by_key(|s| created(s)).cloned()),
        };
        if let Some(set) = latest {
            scale(shared, deployment, sets, &set.name_any(), want).await?;
        }
        return Ok(());
    }
    let saturated = sets.new.as_ref().is_some_and(|n| {
        let annotated = n.metadata.annotations.as_ref().and_then(|a| a.get(DESIRED_REPLICAS)).cloned();
        annotated == Some(want.to_string()) && available(n) == want && replicas(n) == want
    });
    if saturated {
        return scale_down_old(shared, deployment, sets).await.map(drop);
    }
    if !util::is_rolling(deployment) {
        return Ok(());
    }
    let allowed = if want > 0 { want + max_surge(deployment) } else { 0 };
    let to_add = allowed - active.iter().map(replicas).sum::<i32>();
    // Larger sets first; newer first when growing, older first when shrinking.
    match to_add > 0 {
        true => active.sort_by_key(|s| (Reverse(replicas(s)), Reverse(created(s)))),
        false => active.sort_by_key(|s| (Reverse(replicas(s)), created(s))),
    }
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
    for set in &active {
        let share = if to_add != 0 { util::proportion(set, deployment, to_add, added) } else { 0 };
        sizes.push(replicas(set) + share);
        added += share;
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (set, size) in active.iter().zip(sizes) {
        scale(shared, deployment, sets, &set.name_any(), size).await?;
    }
    Ok(())
}

/// Deletes the oldest empty ReplicaSets beyond revisionHistoryLimit.
pub async fn cleanup(shared: &Shared, deployment: &Deployment, sets: &Sets) -> Result<(), Error> {
    let limit = deployment.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    let mut cleanable: Vec<&ReplicaSet> = sets.old.iter().filter(|s| s.metadata.deletion_timestamp.is_none()).collect();
    let excess = cleanable.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Ok(());
    }
    cleanable.sort_by_key(|s| (util::set_revision(s), created(s)));
    for set in cleanable.into_iter().take(usize::try_from(excess).unwrap_or(0)) {
        let status = set.status.clone().unwrap_or_default();
        let observed = status.observed_generation >= set.metadata.generation;
        if status.replicas != 0 || replicas(set) != 0 || !observed {
            continue;
        }
        let api: Api<ReplicaSet> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
        match api.delete(&set.name_any(), &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
