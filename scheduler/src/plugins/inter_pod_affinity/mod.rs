//! InterPodAffinity: a pod's required pod affinity and anti-affinity, and the
//! required anti-affinity of the pods already running, filter nodes by
//! topology domain; preferred terms (both ways) and the running pods' required
//! affinity score them.
//!
//! Pre-filter and pre-score count matching pods per topology pair
//! (`topologyKey=value` of the matching pod's node) once per pod, so that
//! filter and score per node only look up the node's own labels.

mod filtering;
mod scoring;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::framework::selectors::{Labels, is_empty_selector, selector_matches};
use crate::framework::{AffinityTerm, CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status};

pub use filtering::PreFilterState;
pub use scoring::PreScoreState;

pub const NAME: &str = "InterPodAffinity";
/// Key of the pre-filter state in `CycleState`.
pub const PRE_FILTER_STATE_KEY: &str = "PreFilterInterPodAffinity";
/// Key of the pre-score state in `CycleState`.
pub const PRE_SCORE_STATE_KEY: &str = "PreScoreInterPodAffinity";
/// A node where the pod's required affinity is not met (UnschedulableAndUnresolvable).
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// A node where the pod's required anti-affinity is not met (Unschedulable).
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
/// A node where a running pod's required anti-affinity rejects the pod (Unschedulable).
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Upstream's default `hardPodAffinityWeight`.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The plugin with upstream's InterPodAffinityArgs.
#[derive(Debug, Clone)]
pub struct InterPodAffinity {
    /// Score weight of a running pod's required affinity term that the pod matches (0 ignores them).
    pub hard_pod_affinity_weight: i64,
    /// Skip scoring pods without preferred terms of their own, ignoring the running pods' terms.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        Self {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        match PreFilterState::compute(pod, snapshot) {
            Some(computed) => {
                state.write(PRE_FILTER_STATE_KEY, computed);
                Status::success()
            }
            None => Status::skip(),
        }
    }

    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        match state.read::<PreFilterState>(PRE_FILTER_STATE_KEY) {
            Some(computed) => computed.filter(node),
            None => Status::error(format!("reading {PRE_FILTER_STATE_KEY:?} from cycleState: not found")),
        }
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        if let Some(computed) = state.read_mut::<PreFilterState>(PRE_FILTER_STATE_KEY) {
            computed.update_with_pod(pod, added, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo) {
        if let Some(computed) = state.read_mut::<PreFilterState>(PRE_FILTER_STATE_KEY) {
            computed.update_with_pod(pod, removed, node, -1);
        }
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        match PreScoreState::compute(self, pod, snapshot) {
            Some(computed) => {
                state.write(PRE_SCORE_STATE_KEY, computed);
                Status::success()
            }
            None => Status::skip(),
        }
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        state.read::<PreScoreState>(PRE_SCORE_STATE_KEY).map_or(0, |s| s.score(node))
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        if let Some(computed) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) {
            computed.normalize(scores);
        }
    }
}

/// Labels of a namespace not (or no longer) known: none.
static NO_LABELS: Labels = Labels::new();

/// The labels of the pod's namespace (none if the snapshot does not know it).
fn namespace_labels(snapshot: &Snapshot, namespace: &str) -> Labels {
    snapshot.namespace_labels.get(namespace).cloned().unwrap_or_default()
}

/// One of the incoming pod's terms with its namespaceSelector resolved into
/// `namespaces` against the snapshot's namespaces, as upstream does once per
/// cycle, so that matching a running pod needs no lookup of its namespace. An
/// empty namespaceSelector (every namespace) is kept as it is.
fn resolve_namespaces(term: &AffinityTerm, snapshot: &Snapshot) -> AffinityTerm {
    let mut resolved = term.clone();
    if let Some(selector) = term.namespace_selector.as_ref().filter(|s| !is_empty_selector(Some(s))) {
        let selected = snapshot.namespace_labels.iter().filter(|(_, labels)| selector_matches(selector, labels));
        resolved.namespaces.extend(selected.map(|(name, _)| name.clone()));
        resolved.namespace_selector = None;
    }
    resolved
}

/// Whether a resolved term of the incoming pod selects `pod`.
fn resolved_term_matches(term: &AffinityTerm, pod: &PodInfo) -> bool {
    term.matches(pod, Some(&NO_LABELS))
}

/// Counts (or weights) per topology pair: topologyKey, then the value.
type TopologyMap = HashMap<String, HashMap<String, i64>>;

/// Adds `delta` to `map`'s pair (`key`, `value`), allocating only for a pair not seen yet; returns the new value.
fn add_to_pair(map: &mut TopologyMap, key: &str, value: &str, delta: i64) -> i64 {
    if let Some(entry) = map.get_mut(key).and_then(|values| values.get_mut(value)) {
        *entry += delta;
        return *entry;
    }
    map.entry(key.to_owned()).or_default().insert(value.to_owned(), delta);
    delta
}

/// The node's entry in `map` for `key` (0 when the node lacks the label or the pair is absent).
fn node_entry(map: &TopologyMap, labels: &Labels, key: &str) -> i64 {
    labels.get(key).and_then(|value| map.get(key)?.get(value)).copied().unwrap_or(0)
}
