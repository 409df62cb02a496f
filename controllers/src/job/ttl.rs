//! Deleting finished Jobs once `ttlSecondsAfterFinished` has passed since
//! their Complete or Failed condition (upstream's ttl-after-finished
//! controller, run by the Job controller here): checked again on a fresh
//! read before the delete, which cascades in the foreground (the Job goes
//! once the garbage collector has deleted its pods) with a UID precondition.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::Action;

use super::status::{self, COMPLETE, FAILED};
use super::{Error, Result, State};

/// The propagation of the delete (upstream's ttl-after-finished controller uses Foreground).
pub const PROPAGATION: PropagationPolicy = PropagationPolicy::Foreground;

/// When a finished Job with a TTL expires (`None`: no TTL, not finished, or being deleted).
pub fn expires_at(job: &Job) -> Result<Option<Timestamp>> {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else { return Ok(None) };
    if job.metadata.deletion_timestamp.is_some() || !status::is_finished(job) {
        return Ok(None);
    }
    let finished = status::conditions(job)
        .iter()
        .find(|c| (c.type_ == COMPLETE || c.type_ == FAILED) && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .ok_or_else(|| Error::Sync(format!("unable to find the time when the Job {} finished", job.name_any())))?;
    Ok(Some(finished.0 + SignedDuration::from_secs(i64::from(ttl))))
}

/// For a finished Job: deletes it if its TTL expired, else asks to be requeued when it does.
pub(super) async fn handle(state: &State, job: &Job) -> Result<Action> {
    let now = state.clock.now();
    let Some(expires) = expires_at(job)? else { return Ok(Action::await_change()) };
    if expires > now {
        let wait = std::time::Duration::try_from(expires.duration_since(now)).unwrap_or_default();
        return Ok(Action::requeue(wait));
    }
    // The cached Job may be stale (its TTL changed): decide on a fresh read.
    let api: Api<Job> = Api::namespaced(state.client.clone(), &job.namespace().unwrap_or_default());
    let Some(fresh) = api.get_opt(&job.name_any()).await? else { return Ok(Action::await_change()) };
    match expires_at(&fresh)? {
        Some(expires) if expires <= now => {}
        Some(expires) => {
            let wait = std::time::Duration::try_from(expires.duration_since(now)).unwrap_or_default();
            return Ok(Action::requeue(wait));
        }
        None => return Ok(Action::await_change()),
    }
    tracing::debug!(job = fresh.name_any(), "cleaning up a finished job after its TTL");
    let params = DeleteParams {
        propagation_policy: Some(PROPAGATION),
        preconditions: Some(Preconditions { uid: fresh.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(&fresh.name_any(), &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(error.into()),
    }
}
