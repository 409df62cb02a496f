//! TaintToleration: NoSchedule and NoExecute taints keep pods that do not
//! tolerate them off a node; PreferNoSchedule taints lower its score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::{CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status, default_normalize};

pub const NAME: &str = "TaintToleration";

/// Whether a toleration tolerates a taint (upstream's ToleratesTaint).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default()
}

/// The reason for a taint the pod does not tolerate, as upstream words it.
pub fn untolerated_reason(taint: &Taint) -> String {
    format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value.as_deref().unwrap_or_default())
}

#[derive(Debug, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let tolerations = tolerations(pod);
        let untolerated = node
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)));
        match untolerated {
            Some(taint) => Status::unresolvable(untolerated_reason(taint)),
            None => Status::success(),
        }
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        // Only tolerations with an empty effect or PreferNoSchedule count here.
        let tolerations: Vec<&Toleration> = tolerations(pod)
            .iter()
            .filter(|t| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule")))
            .collect();
        node.taints
            .iter()
            .filter(|taint| taint.effect == "PreferNoSchedule")
            .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
            .count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugins::testing::{node, pod};

    fn toleration(value: serde_json::Value) -> Toleration {
        serde_json::from_value(value).expect("toleration")
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        let taint = Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        assert!(tolerates(&toleration(json!({ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" })), &taint));
        assert!(tolerates(&toleration(json!({ "key": "dedicated", "operator": "Exists" })), &taint));
        assert!(tolerates(&toleration(json!({ "operator": "Exists" })), &taint), "empty key with Exists tolerates all");
        assert!(!tolerates(&toleration(json!({ "key": "dedicated", "value": "cpu" })), &taint));
        assert!(!tolerates(
            &toleration(json!({ "key": "dedicated", "operator": "Exists", "effect": "NoExecute" })),
            &taint
        ));
    }

    #[test]
    fn hard_taints_filter_and_soft_taints_score() {
        let (state, snapshot) = (CycleState::default(), Snapshot::default());
        let tainted =
            node("n1", json!({ "taints": [{ "key": "hs-component", "value": "trainer", "effect": "NoSchedule" }] }));
        let plain = pod("p", json!({}));
        let refused = TaintToleration.filter(&state, &plain, &tainted, &snapshot);
        assert_eq!(refused.reasons, vec!["node(s) had untolerated taint {hs-component: trainer}"]);
        let tolerant = pod(
            "t",
            json!({ "tolerations": [{ "key": "hs-component", "operator": "Equal", "value": "trainer", "effect": "NoSchedule" }] }),
        );
        assert!(TaintToleration.filter(&state, &tolerant, &tainted, &snapshot).is_success());

        let soft = node(
            "n2",
            json!({ "taints": [{ "key": "a", "effect": "PreferNoSchedule" }, { "key": "b", "effect": "PreferNoSchedule" }] }),
        );
        let clean = node("n3", json!({}));
        let mut scores = [
            TaintToleration.score(&state, &plain, &soft, &snapshot),
            TaintToleration.score(&state, &plain, &clean, &snapshot),
        ];
        assert_eq!(scores, [2, 0]);
        TaintToleration.normalize(&state, &plain, &mut scores);
        assert_eq!(scores, [0, 100]);
    }
}
