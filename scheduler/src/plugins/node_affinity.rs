//! NodeAffinity: a pod's nodeSelector and required node affinity filter
//! nodes; its preferred terms score them by weight.

use crate::framework::selectors::{Labels, any_term_matches, term_matches};
use crate::framework::{CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status, default_normalize};

pub const NAME: &str = "NodeAffinity";
/// The reason for a node that does not match.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

#[derive(Debug, Default)]
pub struct NodeAffinity;

/// Whether the node satisfies the pod's nodeSelector and required node affinity.
pub fn required_matches(pod: &PodInfo, labels: &Labels, node_name: &str) -> bool {
    let Some(spec) = pod.pod.spec.as_ref() else { return true };
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    selector_ok && required.is_none_or(|r| any_term_matches(&r.node_selector_terms, labels, node_name))
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        let spec = pod.pod.spec.as_ref();
        let has_selector = spec.and_then(|s| s.node_selector.as_ref()).is_some_and(|s| !s.is_empty());
        let has_required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
            .is_some();
        if has_selector || has_required { Status::success() } else { Status::skip() }
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        if required_matches(pod, &node.labels, &node.name) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let preferred = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref());
        preferred
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, &node.labels, &node.name))
            .map(|p| i64::from(p.weight))
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::{node, pod};

    #[test]
    fn node_selector_and_required_affinity_filter() {
        let (state, snapshot) = (CycleState::default(), Snapshot::default());
        let trainer = node("t1", json!({ "labels": { "hs-component": "trainer" } }));
        let platform = node("p1", json!({ "labels": { "hs-component": "platform" } }));
        let by_selector = pod("s", json!({ "nodeSelector": { "hs-component": "trainer" } }));
        assert!(NodeAffinity.filter(&state, &by_selector, &trainer, &snapshot).is_success());
        assert_eq!(NodeAffinity.filter(&state, &by_selector, &platform, &snapshot).reasons, vec![ERR_REASON_POD]);
        let by_affinity = pod(
            "a",
            json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "hs-component", "operator": "In", "values": ["platform"] }] }] } } } }),
        );
        assert!(NodeAffinity.filter(&state, &by_affinity, &platform, &snapshot).is_success());
        assert!(NodeAffinity.filter(&state, &by_affinity, &trainer, &snapshot).is_rejected());
        assert!(NodeAffinity.pre_filter(&mut CycleState::default(), &pod("p", json!({})), &snapshot).is_skip());
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let (state, snapshot) = (CycleState::default(), Snapshot::default());
        let p = pod(
            "p",
            json!({ "affinity": { "nodeAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [
            { "weight": 20, "preference": { "matchExpressions": [{ "key": "zone", "operator": "In", "values": ["a"] }] } },
            { "weight": 5, "preference": { "matchExpressions": [{ "key": "ssd", "operator": "Exists" }] } },
        ] } } }),
        );
        let nodes = [
            node("n1", json!({ "labels": { "zone": "a", "ssd": "yes" } })),
            node("n2", json!({ "labels": { "zone": "a" } })),
            node("n3", json!({})),
        ];
        let mut scores: Vec<i64> = nodes.iter().map(|n| NodeAffinity.score(&state, &p, n, &snapshot)).collect();
        assert_eq!(scores, [25, 20, 0]);
        NodeAffinity.normalize(&state, &p, &mut scores);
        assert_eq!(scores, [100, 80, 0]);
    }
}
