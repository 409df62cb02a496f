//! Evicting pods from nodes with NoExecute taints (upstream's taint
//! eviction controller, run here as part of the node controller): a pod
//! that does not tolerate every such taint is deleted at once; one that
//! tolerates them for a while, after the shortest `tolerationSeconds` of the
//! tolerations it uses; one that tolerates them forever stays. Deleted pods
//! get the DisruptionTarget condition (DeletionByTaintManager).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::pod_status::set_condition;
use super::taints::NO_EXECUTE;
use crate::Error;
use crate::clock::Clock;
use crate::events::Events;

/// Whether a toleration tolerates a taint (key, effect and value, or Exists).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    let key = toleration.key.as_deref().unwrap_or_default();
    if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

/// For each taint the first toleration that tolerates it; `None` when one is not tolerated.
pub fn matching_tolerations<'a>(taints: &[Taint], tolerations: &'a [Toleration]) -> Option<Vec<&'a Toleration>> {
    taints.iter().map(|taint| tolerations.iter().find(|t| tolerates(t, taint))).collect()
}

/// How long the pod may stay: the shortest `tolerationSeconds` (zero when
/// one is not positive); `None` when none is set (forever).
pub fn min_toleration(used: &[&Toleration]) -> Option<SignedDuration> {
    if used.is_empty() {
        return Some(SignedDuration::ZERO);
    }
    let seconds = used.iter().filter_map(|t| t.toleration_seconds).map(|s| s.max(0)).min()?;
    Some(SignedDuration::from_secs(seconds))
}

/// What to do with a pod on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No (intolerable) deadline: any scheduled eviction is cancelled.
    Keep,
    /// Evict at this time (now or later), counted from `since`.
    EvictAt { since: Timestamp, at: Timestamp },
}

/// The decision for a pod with these tolerations on a node with these
/// NoExecute taints; `scheduled` is when an eviction was first scheduled.
pub fn decide(taints: &[Taint], tolerations: &[Toleration], scheduled: Option<Timestamp>, now: Timestamp) -> Decision {
    if taints.is_empty() {
        return Decision::Keep;
    }
    let Some(used) = matching_tolerations(taints, tolerations) else {
        return Decision::EvictAt { since: now, at: now };
    };
    match min_toleration(&used) {
        None => Decision::Keep,
        Some(wait) => {
            let since = scheduled.unwrap_or(now);
            Decision::EvictAt { since, at: since + wait }
        }
    }
}

/// The NoExecute taints of a node.
pub fn no_execute_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect()
}

/// What every reconcile of a pod shares.
pub(super) struct Evictor {
    pub(super) client: kube::Client,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) events: Events,
    pub(super) nodes: Store<Node>,
    /// Pods (namespace/name) with a scheduled eviction, and since when.
    pub(super) scheduled: Mutex<HashMap<String, Timestamp>>,
}

pub(super) fn error_policy(pod: Arc<Pod>, error: &Error, _: Arc<Evictor>) -> Action {
    tracing::debug!(%error, pod = pod.name_any(), "taint-based eviction failed");
    Action::requeue(Duration::from_secs(1))
}

pub(super) async fn reconcile(pod: Arc<Pod>, evictor: Arc<Evictor>) -> Result<Action, Error> {
    let span = tracing::debug_span!("taint_eviction", pod = %ObjectRef::from_obj(pod.as_ref()));
    evictor.sync(&pod).instrument(span).await
}

impl Evictor {
    async fn sync(&self, pod: &Pod) -> Result<Action, Error> {
        let key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() || node_name.is_empty() {
            self.lock().remove(&key);
            return Ok(Action::await_change());
        }
        let _ = self.nodes.wait_until_ready().await;
        let taints = self.nodes.get(&ObjectRef::new(node_name)).map(|n| no_execute_taints(&n)).unwrap_or_default();
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        let now = self.clock.now();
        let scheduled = self.lock().get(&key).copied();
        match decide(&taints, tolerations, scheduled, now) {
            Decision::Keep => {
                if self.lock().remove(&key).is_some() {
                    let message = format!("Cancelling deletion of Pod {key}");
                    self.events.normal(&pod.object_ref(&()), "TaintManagerEviction", message).await;
                }
                Ok(Action::await_change())
            }
            Decision::EvictAt { since, at } if at > now => {
                self.lock().insert(key, since);
                Ok(Action::requeue(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::from_secs(1))))
            }
            Decision::EvictAt { .. } => {
                self.lock().insert(key.clone(), scheduled.unwrap_or(now));
                self.events
                    .normal(&pod.object_ref(&()), "TaintManagerEviction", format!("Marking for deletion Pod {key}"))
                    .await;
                self.evict(pod).await?;
                self.lock().remove(&key);
                Ok(Action::await_change())
            }
        }
    }

    /// Marks the pod as a disruption target and deletes it (retried a few times).
    async fn evict(&self, pod: &Pod) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        let mut attempt = 0;
        loop {
            match self.mark_and_delete(&api, &name).await {
                Ok(()) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
                Err(_) if attempt < 4 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn mark_and_delete(&self, api: &Api<Pod>, name: &str) -> kube::Result<()> {
        let mut pod = api.get(name).await?;
        let (reason, message) = ("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint");
        if set_condition(&mut pod, "DisruptionTarget", "True", Some(reason), Some(message), self.clock.now()) {
            api.replace_status(name, &PostParams::default(), &pod).await?;
        }
        api.delete(name, &DeleteParams::default()).await.map(drop)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timestamp>> {
        self.scheduled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::node_lifecycle::taints::{NOT_READY, UNREACHABLE, taint};

    fn toleration(value: serde_json::Value) -> Toleration {
        serde_json::from_value(value).expect("toleration")
    }

    fn at(secs: i64) -> Timestamp {
        "2026-01-01T00:00:00Z".parse::<Timestamp>().expect("time") + SignedDuration::from_secs(secs)
    }

    #[test]
    fn tolerations_match_by_key_effect_and_operator() {
        let unreachable = taint(UNREACHABLE, NO_EXECUTE);
        assert!(tolerates(
            &toleration(json!({ "key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute" })),
            &unreachable
        ));
        assert!(tolerates(&toleration(json!({ "operator": "Exists" })), &unreachable), "tolerates everything");
        assert!(!tolerates(
            &toleration(json!({ "key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule" })),
            &unreachable
        ));
        assert!(!tolerates(&toleration(json!({ "key": NOT_READY, "operator": "Exists" })), &unreachable));
        assert!(tolerates(&toleration(json!({ "key": UNREACHABLE })), &unreachable), "Equal with the empty value");
        let valued = Taint { value: Some("v".to_owned()), ..taint("k", NO_EXECUTE) };
        assert!(tolerates(&toleration(json!({ "key": "k", "operator": "Equal", "value": "v" })), &valued));
        assert!(!tolerates(&toleration(json!({ "key": "k", "operator": "Equal", "value": "w" })), &valued));
    }

    #[test]
    fn the_shortest_toleration_wins_and_none_means_forever() {
        let taints = [taint(UNREACHABLE, NO_EXECUTE), taint(NOT_READY, NO_EXECUTE)];
        let both = [
            toleration(json!({ "key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300 })),
            toleration(json!({ "key": NOT_READY, "operator": "Exists", "tolerationSeconds": 60 })),
        ];
        assert_eq!(decide(&taints, &both, None, at(0)), Decision::EvictAt { since: at(0), at: at(60) });
        assert_eq!(decide(&taints, &both, Some(at(-30)), at(0)), Decision::EvictAt { since: at(-30), at: at(30) });
        assert_eq!(
            decide(&taints, &both[..1], None, at(0)),
            Decision::EvictAt { since: at(0), at: at(0) },
            "not-ready is not tolerated"
        );
        let forever = [toleration(json!({ "operator": "Exists" }))];
        assert_eq!(decide(&taints, &forever, Some(at(-30)), at(0)), Decision::Keep);
        let mixed = [
            toleration(json!({ "key": UNREACHABLE, "operator": "Exists" })),
            toleration(json!({ "key": NOT_READY, "operator": "Exists", "tolerationSeconds": 10 })),
        ];
        assert_eq!(decide(&taints, &mixed, None, at(0)), Decision::EvictAt { since: at(0), at: at(10) });
        let negative = [toleration(json!({ "operator": "Exists", "tolerationSeconds": -5 }))];
        assert_eq!(decide(&taints, &negative, None, at(0)), Decision::EvictAt { since: at(0), at: at(0) });
        assert_eq!(decide(&[], &[], None, at(0)), Decision::Keep, "no taints");
    }
}
