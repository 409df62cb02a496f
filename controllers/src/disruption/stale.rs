//! Stale DisruptionTarget conditions: a pod marked as a disruption target
//! (by an eviction, preemption, the taint manager) that is still not being
//! deleted two minutes later gets the condition set back to False.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::Error;
use crate::clock::Clock;
use crate::node_lifecycle::pod_status::set_condition;

/// How long a DisruptionTarget condition may stand on a pod that is not being deleted.
pub const STALE_POD_DISRUPTION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

struct Cleaner {
    client: kube::Client,
    clock: Arc<dyn Clock>,
}

/// Whether the pod has a DisruptionTarget=True condition that may go stale:
/// not being deleted, not finished, and not set by the kubelet.
pub fn has_disruption_target(pod: &Pod) -> bool {
    let Some(condition) = crate::pods::condition(pod, "DisruptionTarget") else { return false };
    pod.metadata.deletion_timestamp.is_none()
        && condition.status == "True"
        && condition.reason.as_deref() != Some("TerminationByKubelet")
        && !matches!(crate::pods::phase(pod), "Succeeded" | "Failed")
}

/// Looks at each pod `suspects` names until the future is dropped.
pub async fn run(
    client: kube::Client,
    clock: Arc<dyn Clock>,
    pods: Store<Pod>,
    suspects: UnboundedReceiver<ObjectRef<Pod>>,
) {
    let nothing = futures::stream::pending::<Result<Pod, watcher::Error>>();
    Controller::for_stream(nothing, pods)
        .reconcile_on(suspects)
        .run(reconcile, error_policy, Arc::new(Cleaner { client, clock }))
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(pod: Arc<Pod>, error: &Error, _: Arc<Cleaner>) -> Action {
    tracing::debug!(%error, pod = pod.name_any(), "clearing a stale DisruptionTarget condition failed");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(pod: Arc<Pod>, cleaner: Arc<Cleaner>) -> Result<Action, Error> {
    if !has_disruption_target(&pod) {
        return Ok(Action::await_change());
    }
    let now = cleaner.clock.now();
    let since = crate::pods::condition(&pod, "DisruptionTarget")
        .and_then(|c| c.last_transition_time.as_ref())
        .map_or(now, |t| t.0);
    let wait = STALE_POD_DISRUPTION_TIMEOUT - now.duration_since(since);
    if wait > SignedDuration::ZERO {
        return Ok(Action::requeue(Duration::try_from(wait).unwrap_or(Duration::from_secs(1))));
    }
    let mut next = pod.as_ref().clone();
    if set_condition(&mut next, "DisruptionTarget", "False", None, None, now) {
        let api: Api<Pod> = Api::namespaced(cleaner.client.clone(), &pod.namespace().unwrap_or_default());
        api.replace_status(&pod.name_any(), &PostParams::default(), &next).await?;
        tracing::info!(pod = pod.name_any(), "reset a stale DisruptionTarget condition to False");
    }
    Ok(Action::await_change())
}
