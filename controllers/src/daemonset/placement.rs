//! Which nodes a DaemonSet's pod belongs on (upstream's NodeShouldRunDaemonPod
//! and its predicates: the template's nodeName, nodeSelector and required node
//! affinity, and the node's taints against the pod's tolerations with the
//! DaemonSet defaults added), and how a pod is tied to its node (a required
//! node affinity on `metadata.name`, which the scheduler then honours).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint,
    Toleration,
};
use kube::ResourceExt;

/// The node field a DaemonSet pod's affinity names its node by.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// The tolerations every DaemonSet pod gets (upstream's AddOrUpdateDaemonPodTolerations):
/// it must survive node problems and run on unschedulable nodes.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let toleration = |key: &str, effect: &str| Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some(effect.to_owned()),
        ..Toleration::default()
    };
    let mut tolerations = vec![
        toleration("node.kubernetes.io/not-ready", "NoExecute"),
        toleration("node.kubernetes.io/unreachable", "NoExecute"),
        toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        tolerations.push(toleration("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    tolerations
}

/// Adds the default tolerations, replacing ones that differ only in tolerationSeconds
/// (upstream's AddOrUpdateTolerationInPodSpec).
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for wanted in default_tolerations(host_network) {
        let same = |t: &Toleration| {
            t.key == wanted.key && t.operator == wanted.operator && t.value == wanted.value && t.effect == wanted.effect
        };
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = wanted,
            None => tolerations.push(wanted),
        }
    }
}

/// The toleration tolerates the taint (upstream's ToleratesTaint).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    if set(&toleration.effect).is_some_and(|e| e != taint.effect) {
        return false;
    }
    if set(&toleration.key).is_some_and(|k| k != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// The first taint with an effect in `effects` that no toleration tolerates.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration], effects: &[&str]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

fn label_requirement_matches(requirement: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let [bound] = values else { return false };
            let (Some(Ok(have)), Ok(bound)) = (value.map(|v| v.parse::<i64>()), bound.parse::<i64>()) else {
                return false;
            };
            match requirement.operator.as_str() {
                "Gt" => have > bound,
                _ => have < bound,
            }
        }
        _ => false,
    }
}

fn field_requirement_matches(requirement: &NodeSelectorRequirement, node_name: &str) -> bool {
    if requirement.key != NODE_NAME_FIELD {
        return false;
    }
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => !values.iter().any(|v| v == node_name),
        _ => false,
    }
}

/// A term matches when it has requirements and all of them hold (an empty term matches nothing).
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let name = node.name_any();
    expressions.iter().all(|r| label_requirement_matches(r, node.labels()))
        && fields.iter().all(|r| field_requirement_matches(r, &name))
}

/// The pod's nodeSelector and required node affinity both select the node
/// (upstream's GetRequiredNodeAffinity(pod).Match(node)).
pub fn affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.labels();
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    selector_ok && required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

/// (shouldRun, shouldContinueRunning) of a DaemonSet whose pod template spec is
/// `template` on `node`: whether a pod should be started there, and whether one
/// already there may stay.
pub fn should_run(template: &PodSpec, node: &Node) -> (bool, bool) {
    let name = node.name_any();
    if template.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != name) {
        return (false, false);
    }
    let mut spec = template.clone();
    add_default_tolerations(&mut spec);
    if !affinity_matches(&spec, node) {
        return (false, false);
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if untolerated(taints, tolerations, &["NoSchedule", "NoExecute"]).is_some() {
        return (false, untolerated(taints, tolerations, &["NoExecute"]).is_none());
    }
    (true, true)
}

/// `affinity` with its required node affinity replaced by one selecting `node` by name
/// (upstream's ReplaceDaemonSetPodNodeNameNodeAffinity).
pub fn bind_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: NODE_NAME_FIELD.to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![node.to_owned()]),
        }]),
        match_expressions: None,
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    match node_affinity.required_during_scheduling_ignored_during_execution.as_mut() {
        Some(required) => required.node_selector_terms = vec![term],
        None => {
            node_affinity.required_during_scheduling_ignored_during_execution =
                Some(NodeSelector { node_selector_terms: vec![term] });
        }
    }
    affinity
}

/// The node a DaemonSet pod is for: its nodeName, else the one its affinity names
/// (upstream's GetTargetNodeName).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let required =
        spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?;
    required.node_selector_terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find_map(|r| {
        let values = r.values.as_deref().unwrap_or_default();
        (r.key == NODE_NAME_FIELD && r.operator == "In" && values.len() == 1).then(|| values[0].clone())
    })
}
