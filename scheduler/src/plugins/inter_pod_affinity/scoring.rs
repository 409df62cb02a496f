//! Pre-score weights per topology pair, the per-node score and its normalization.

use super::{
    InterPodAffinity, TopologyMap, add_to_pair, namespace_labels, node_entry, resolve_namespaces, resolved_term_matches,
};
use crate::framework::selectors::Labels;
use crate::framework::{AffinityTerm, MAX_NODE_SCORE, NodeInfo, PodInfo, Snapshot, WeightedAffinityTerm};

/// What pre-score computes for one pod: the summed weight per topology pair
/// (positive for affinity, negative for anti-affinity).
#[derive(Debug, Clone, Default)]
pub struct PreScoreState {
    topology_score: TopologyMap,
}

impl PreScoreState {
    /// Adds `weight` to the pair (`term`'s key, the node's value of it) if the node has that label.
    fn add(&mut self, term: &AffinityTerm, weight: i64, node_labels: &Labels) {
        if let Some(value) = node_labels.get(&term.topology_key) {
            add_to_pair(&mut self.topology_score, &term.topology_key, value, weight);
        }
    }

    /// The weights for `pod`, or None (Skip) when no term of the pod or of a running pod applies.
    pub(super) fn compute(plugin: &InterPodAffinity, pod: &PodInfo, snapshot: &Snapshot) -> Option<Self> {
        let has_constraints = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if plugin.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return None;
        }
        let resolve = |terms: &[WeightedAffinityTerm]| -> Vec<WeightedAffinityTerm> {
            terms
                .iter()
                .map(|w| WeightedAffinityTerm { term: resolve_namespaces(&w.term, snapshot), weight: w.weight })
                .collect()
        };
        let preferred_affinity = resolve(&pod.preferred_affinity);
        let preferred_anti_affinity = resolve(&pod.preferred_anti_affinity);
        let namespace_labels = namespace_labels(snapshot, &pod.namespace);

        let mut state = Self::default();
        // Unless the pod has preferred terms, only running pods with affinity can count.
        let nodes = snapshot.nodes.iter().filter(|n| has_constraints || n.pods_with_affinity > 0);
        for node in nodes.filter(|n| !n.labels.is_empty()) {
            for existing in node.pods.iter().filter(|p| has_constraints || p.has_affinity()) {
                // The pod's own preferences towards the running pod.
                for w in preferred_affinity.iter().filter(|w| resolved_term_matches(&w.term, existing)) {
                    state.add(&w.term, w.weight, &node.labels);
                }
                for w in preferred_anti_affinity.iter().filter(|w| resolved_term_matches(&w.term, existing)) {
                    state.add(&w.term, -w.weight, &node.labels);
                }
                // The running pod's rules towards the pod.
                let matches_pod = |t: &AffinityTerm| t.matches(pod, Some(&namespace_labels));
                if plugin.hard_pod_affinity_weight > 0 {
                    for term in existing.required_affinity.iter().filter(|t| matches_pod(t)) {
                        state.add(term, plugin.hard_pod_affinity_weight, &node.labels);
                    }
                }
                for w in existing.preferred_affinity.iter().filter(|w| matches_pod(&w.term)) {
                    state.add(&w.term, w.weight, &node.labels);
                }
                for w in existing.preferred_anti_affinity.iter().filter(|w| matches_pod(&w.term)) {
                    state.add(&w.term, -w.weight, &node.labels);
                }
            }
        }
        // Upstream skips when no node contributed a pair (even one whose weights cancel out).
        if state.topology_score.is_empty() { None } else { Some(state) }
    }

    /// The sum of the weights of the node's topology pairs.
    pub(super) fn score(&self, node: &NodeInfo) -> i64 {
        self.topology_score.keys().map(|key| node_entry(&self.topology_score, &node.labels, key)).sum()
    }

    /// Min-max scaling into 0..=MAX_NODE_SCORE (truncated); all zero when every node scores the same.
    pub(super) fn normalize(&self, scores: &mut [i64]) {
        if self.topology_score.is_empty() {
            return;
        }
        let (Some(min), Some(max)) = (scores.iter().copied().min(), scores.iter().copied().max()) else { return };
        let spread = max.saturating_sub(min);
        for score in scores.iter_mut() {
            *score = if spread > 0 {
                // Float arithmetic as upstream, so rounding agrees.
                (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / spread as f64)) as i64
            } else {
                0
            };
        }
    }
}
