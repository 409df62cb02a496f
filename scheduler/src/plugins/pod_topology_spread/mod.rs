//! PodTopologySpread: a pod's `topologySpreadConstraints` keep the pods its
//! selector matches evenly spread over topology domains (zones, nodes, ...).
//! `DoNotSchedule` constraints filter nodes whose domain would exceed
//! `maxSkew`; `ScheduleAnyway` constraints only score, preferring emptier domains.
//!
//! As upstream: selectors count pods of the incoming pod's namespace only
//! (terminating pods left out); `matchLabelKeys` add the incoming pod's values
//! to the selector; only nodes carrying every constraint's topology key, and
//! passing the constraint's `nodeAffinityPolicy` (Honor by default) and
//! `nodeTaintsPolicy` (Ignore by default), make up the domains; with fewer
//! domains than `minDomains` the global minimum is 0.
//!
//! Cluster default constraints apply to pods without constraints of their
//! own; their selector is made of the services selecting the pod and its
//! controlling replication controller, replica set or stateful set (see
//! [`crate::framework::Owners`]); a pod grouped by none gets none.

mod filtering;
mod scoring;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Toleration, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::framework::selectors::{Labels, selector_matches, validate_selector};
use crate::framework::{CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status};
use crate::plugins::node_affinity::required_matches;
use crate::plugins::taint_toleration::tolerates;

use filtering::PreFilterState;

pub const NAME: &str = "PodTopologySpread";
/// The reason for a node whose domain would be too skewed.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// The reason for a node without a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// `whenUnsatisfiable` of the constraints that filter.
pub const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
/// `whenUnsatisfiable` of the constraints that only score.
pub const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";
/// The node label whose domains are single nodes (counted per node when scoring).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// The node label of zones.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// Where pre-score keeps its state (pre-filter's is under [`NAME`]).
pub const PRE_SCORE_STATE_KEY: &str = "PreScorePodTopologySpread";

const HONOR: &str = "Honor";

/// Upstream's system default constraints: ScheduleAnyway with maxSkew 3 per
/// node and 5 per zone.
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    let constraint = |key: &str, max_skew| TopologySpreadConstraint {
        max_skew,
        topology_key: key.to_owned(),
        when_unsatisfiable: SCHEDULE_ANYWAY.to_owned(),
        ..Default::default()
    };
    vec![constraint(LABEL_HOSTNAME, 3), constraint(LABEL_TOPOLOGY_ZONE, 5)]
}

/// The PodTopologySpread plugin. `Default` has no default constraints (as
/// upstream's List defaulting with an empty list); [`Self::with_system_defaults`]
/// is upstream's default configuration.
#[derive(Debug, Clone, Default)]
pub struct PodTopologySpread {
    /// Constraints for pods that have none (their selector comes from the pod's services and owner).
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// Whether the defaults are the system ones: then, when scoring a pod
    /// without constraints, nodes missing a topology key are still scored
    /// by the constraints whose key they have.
    pub system_defaulted: bool,
}

impl PodTopologySpread {
    /// The plugin with upstream's system default constraints.
    pub fn with_system_defaults() -> Self {
        Self { default_constraints: system_default_constraints(), system_defaulted: true }
    }

    /// The pod's constraints with this `whenUnsatisfiable`, or the defaults
    /// if the pod has none; an invalid selector is an error.
    fn constraints(&self, pod: &PodInfo, snapshot: &Snapshot, action: &str) -> Result<Vec<Constraint>, String> {
        let own = own_constraints(pod);
        if !own.is_empty() {
            return parse_constraints(own, &pod.labels, action);
        }
        let mut defaults = parse_constraints(&self.default_constraints, &pod.labels, action)?;
        if defaults.is_empty() {
            return Ok(Vec::new());
        }
        let Some(selector) = snapshot.owners.default_selector(pod) else { return Ok(Vec::new()) };
        for constraint in &mut defaults {
            constraint.selector = Some(selector.clone());
        }
        Ok(defaults)
    }
}

fn own_constraints(pod: &PodInfo) -> &[TopologySpreadConstraint] {
    pod.pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_deref()).unwrap_or_default()
}

/// A constraint with its defaults applied and matchLabelKeys merged into its selector.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    /// `None` (a nil labelSelector) selects no pod.
    selector: Option<LabelSelector>,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    fn selects(&self, labels: &Labels) -> bool {
        self.selector.as_ref().is_some_and(|s| selector_matches(s, labels))
    }

    /// Whether a node with this fit takes part in the constraint's domains.
    fn includes(&self, fit: NodeFit) -> bool {
        (!self.honor_node_affinity || fit.affinity) && (!self.honor_node_taints || fit.taints)
    }

    /// The pods among `pods` the constraint counts for a pod in `namespace`.
    fn count(&self, pods: &[Arc<PodInfo>], namespace: &str) -> i64 {
        let counted = pods.iter().filter(|p| {
            p.namespace == namespace && p.pod.metadata.deletion_timestamp.is_none() && self.selects(&p.labels)
        });
        counted.count() as i64
    }
}

/// The constraints with `whenUnsatisfiable == action`, parsed.
fn parse_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: &Labels,
    action: &str,
) -> Result<Vec<Constraint>, String> {
    constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let mut selector = c.label_selector.clone();
            if let Some(s) = &selector {
                validate_selector(s)?;
            }
            let merged: Vec<LabelSelectorRequirement> = c
                .match_label_keys
                .iter()
                .flatten()
                .filter_map(|key| {
                    pod_labels.get(key).map(|value| LabelSelectorRequirement {
                        key: key.clone(),
                        operator: "In".to_owned(),
                        values: Some(vec![value.clone()]),
                    })
                })
                .collect();
            if !merged.is_empty() {
                // A nil selector with matchLabelKeys selects by those keys alone, as upstream.
                selector
                    .get_or_insert_with(LabelSelector::default)
                    .match_expressions
                    .get_or_insert_with(Vec::new)
                    .extend(merged);
            }
            Ok(Constraint {
                max_skew: i64::from(c.max_skew),
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: c.min_domains.map_or(1, i64::from),
                honor_node_affinity: c.node_affinity_policy.as_deref().is_none_or(|p| p == HONOR),
                honor_node_taints: c.node_taints_policy.as_deref() == Some(HONOR),
            })
        })
        .collect()
}

/// Whether a node has every constraint's topology key.
fn has_all_keys(labels: &Labels, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| labels.contains_key(&c.topology_key))
}

/// The node inclusion policies a node passes for the incoming pod, worked
/// out once per node (and only when some constraint honors them).
#[derive(Debug, Clone, Copy)]
struct NodeFit {
    affinity: bool,
    taints: bool,
}

impl NodeFit {
    fn of(constraints: &[Constraint], pod: &PodInfo, node: &NodeInfo) -> Self {
        let affinity =
            constraints.iter().any(|c| c.honor_node_affinity) && required_matches(pod, &node.labels, &node.name);
        let taints = constraints.iter().any(|c| c.honor_node_taints) && {
            let tolerations: &[Toleration] =
                pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
            node.taints
                .iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
        };
        Self { affinity, taints }
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let constraints = match self.constraints(pod, snapshot, DO_NOT_SCHEDULE) {
            Ok(c) if c.is_empty() => return Status::skip(),
            Ok(c) => c,
            Err(e) => return Status::error(format!("obtaining pod's hard topology spread constraints: {e}")),
        };
        state.write(NAME, PreFilterState::new(constraints, pod, snapshot));
        Status::success()
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        match state.read::<PreFilterState>(NAME) {
            Some(s) => s.filter(pod, node),
            None => Status::error(format!("reading {NAME:?} from cycleState: not found")),
        }
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.update(added, pod, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.update(removed, pod, node, -1);
        }
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        scoring::pre_score(self, state, pod, nodes, snapshot)
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        scoring::score(state, pod, node)
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        scoring::normalize(state, scores);
    }
}
