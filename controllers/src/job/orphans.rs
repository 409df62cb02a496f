//! Removing the tracking finalizer from pods no Job will count any more
//! (upstream's orphan pod queue): pods without a controller, or whose Job is
//! gone (checked live, the cache may lag) or finished.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::manage::remove_finalizer;
use super::podutil::has_tracking_finalizer;
use super::status::{self, MANAGED_BY_JOB_CONTROLLER};
use super::{Error, Result, State};
use crate::ownership::controller_of;

/// Whether the Job (if any) still counts the pod.
fn still_counted(job: Option<&Job>, uid: &str) -> Option<bool> {
    let job = job.filter(|j| j.metadata.uid.as_deref() == Some(uid))?;
    let external =
        job.spec.as_ref().and_then(|s| s.managed_by.as_deref()).is_some_and(|m| m != MANAGED_BY_JOB_CONTROLLER);
    Some(external || !status::is_finished(job))
}

/// Removes the finalizer of an orphaned pod.
pub(super) fn reconcile(pod: Arc<Pod>, state: Arc<State>) -> BoxFuture<'static, Result<Action>> {
    Box::pin(async move {
        if !has_tracking_finalizer(&pod) {
            return Ok(Action::await_change());
        }
        let namespace = pod.namespace().unwrap_or_default();
        if let Some(owner) = controller_of(&pod.metadata) {
            if owner.kind != "Job" || owner.api_version != "batch/v1" {
                return Ok(Action::await_change());
            }
            let cached = state.jobs.get(&ObjectRef::new(&owner.name).within(&namespace));
            let counted = match still_counted(cached.as_deref(), &owner.uid) {
                Some(counted) => counted,
                None => {
                    let api: Api<Job> = Api::namespaced(state.client.clone(), &namespace);
                    let fresh = api.get_opt(&owner.name).await?;
                    still_counted(fresh.as_ref(), &owner.uid).unwrap_or(false)
                }
            };
            if counted {
                return Ok(Action::await_change());
            }
        }
        let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
        match remove_finalizer(&api, &pod.name_any()).await {
            Ok(()) => Ok(Action::await_change()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
            Err(error) => Err(Error::Api(error)),
        }
    })
}

/// Retries after a second.
pub(super) fn error_policy(_pod: Arc<Pod>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "removing the finalizer of an orphan pod failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
