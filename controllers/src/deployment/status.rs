//! A Deployment's status and conditions (upstream's calculateStatus,
//! syncRolloutStatus and the progress checks behind `kubectl rollout status`).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};

use super::util::{self, desired, max_unavailable};
use crate::clock::api_time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";

fn sum(sets: &[&ReplicaSet], field: impl Fn(&ReplicaSet) -> i32) -> i32 {
    sets.iter().map(|s| field(s)).sum()
}

fn status_replicas(set: &ReplicaSet) -> i32 {
    set.status.as_ref().map_or(0, |s| s.replicas)
}

/// The counts and the Available condition from the ReplicaSets.
pub fn calculate(
    deployment: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = sum(all, util::available);
    let total = sum(all, util::replicas);
    let old = deployment.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation,
        replicas: Some(sum(all, status_replicas)),
        updated_replicas: Some(new.map_or(0, status_replicas)),
        ready_replicas: Some(sum(all, |s| s.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    let minimum = available >= desired(deployment) - max_unavailable(deployment);
    let condition = match minimum {
        true => condition(AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
        false => condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        ),
    };
    set_condition(&mut status, condition);
    status
}

pub fn condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_update_time: Some(api_time(now)),
        last_transition_time: Some(api_time(now)),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// Upstream's SetDeploymentCondition: same status and reason is no change;
/// the same status keeps its transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    if let Some(current) = get(status, &new.type_) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &new.type_);
    status.conditions.get_or_insert_with(Vec::new).push(new);
}

/// Every pod is updated and available, and the spec was seen.
pub fn complete(deployment: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = Some(desired(deployment));
    status.updated_replicas == desired
        && status.replicas == desired
        && status.available_replicas == desired
        && status.observed_generation >= deployment.metadata.generation
}

/// Some progress since `old`: more updated, fewer old, more ready or more available pods.
fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_pods = |s: &DeploymentStatus| n(s.replicas) - n(s.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || old_pods(new) < old_pods(old)
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

fn deadline(deployment: &Deployment) -> Option<SignedDuration> {
    let seconds = deployment.spec.as_ref().and_then(|s| s.progress_deadline_seconds)?;
    (seconds != i32::MAX).then(|| SignedDuration::from_secs(i64::from(seconds)))
}

/// When the Progressing condition would time out (for requeueing).
pub fn times_out_at(deployment: &Deployment, status: &DeploymentStatus) -> Option<Timestamp> {
    let deadline = deadline(deployment)?;
    let current = get(status, PROGRESSING)?;
    if current.reason.as_deref() == Some(TIMED_OUT) || current.reason.as_deref() == Some(NEW_RS_AVAILABLE) {
        return None;
    }
    current.last_update_time.as_ref().map(|t| t.0 + deadline)
}

/// The Progressing condition after a rollout step (upstream's syncRolloutStatus).
pub fn with_progress(
    deployment: &Deployment,
    mut status: DeploymentStatus,
    new: Option<&ReplicaSet>,
    replica_failure: Option<DeploymentCondition>,
    now: Timestamp,
) -> DeploymentStatus {
    let old = deployment.status.clone().unwrap_or_default();
    if deadline(deployment).is_none() {
        remove(&mut status, PROGRESSING);
    }
    let current = get(&old, PROGRESSING).cloned();
    let finished = status.replicas == status.updated_replicas
        && current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let subject = match new {
        Some(set) => format!("ReplicaSet {:?}", set.metadata.name.clone().unwrap_or_default()),
        None => format!("Deployment {name:?}"),
    };
    if deadline(deployment).is_some() && !finished {
        if complete(deployment, &status) {
            let message = format!("{subject} has successfully progressed.");
            set_condition(&mut status, condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &message, now));
        } else if progressing(&old, &status) {
            let mut updated = condition(PROGRESSING, "True", RS_UPDATED, &format!("{subject} is progressing."), now);
            if let Some(current) = current.as_ref().filter(|c| c.status == "True") {
                updated.last_transition_time = current.last_transition_time.clone();
            }
            remove(&mut status, PROGRESSING);
            status.conditions.get_or_insert_with(Vec::new).push(updated);
        } else if times_out_at(deployment, &status).is_some_and(|at| at < now)
            || current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT))
        {
            let message = format!("{subject} has timed out progressing.");
            set_condition(&mut status, condition(PROGRESSING, "False", TIMED_OUT, &message, now));
        }
    }
    match replica_failure {
        Some(failure) => set_condition(&mut status, failure),
        None => remove(&mut status, REPLICA_FAILURE),
    }
    status
}
