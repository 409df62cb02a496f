//! Pre-filter counts and the per-node filter of required (anti-)affinity.

use std::sync::Arc;

use super::{
    ERR_REASON_AFFINITY_RULES_NOT_MATCH, ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH, TopologyMap, add_to_pair, namespace_labels, node_entry,
    resolve_namespaces, resolved_term_matches,
};
use crate::framework::selectors::Labels;
use crate::framework::{AffinityTerm, NodeInfo, PodInfo, Snapshot, Status};

/// Matching pods per topology pair; pairs that drop to zero are removed, so
/// an empty map means no match anywhere.
#[derive(Debug, Clone, Default)]
struct TopologyCounts(TopologyMap);

impl TopologyCounts {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `delta` to the pair (`key`, the node's value of `key`), if the node has that label.
    fn update(&mut self, node_labels: &Labels, key: &str, delta: i64) {
        let Some(value) = node_labels.get(key) else { return };
        if add_to_pair(&mut self.0, key, value, delta) == 0
            && let Some(values) = self.0.get_mut(key)
        {
            values.remove(value);
            if values.is_empty() {
                self.0.remove(key);
            }
        }
    }

    /// Counts `target` once per term if it matches every one of `terms` (affinity terms are ANDed).
    fn update_with_affinity_terms(&mut self, terms: &[AffinityTerm], target: &PodInfo, node: &NodeInfo, delta: i64) {
        if matches_all(terms, target) {
            for term in terms {
                self.update(&node.labels, &term.topology_key, delta);
            }
        }
    }

    /// Counts `target` for each of `terms` it matches, its namespace having `namespace_labels`.
    fn update_with_anti_affinity_terms(
        &mut self,
        terms: &[AffinityTerm],
        target: &PodInfo,
        namespace_labels: &Labels,
        node: &NodeInfo,
        delta: i64,
    ) {
        for term in terms.iter().filter(|t| t.matches(target, Some(namespace_labels))) {
            self.update(&node.labels, &term.topology_key, delta);
        }
    }

    /// Whether the pair (`key`, the node's value of `key`) has a positive count.
    fn node_has(&self, node_labels: &Labels, key: &str) -> bool {
        node_entry(&self.0, node_labels, key) > 0
    }
}

/// Whether `pod` matches every (resolved) term; false for no terms.
fn matches_all(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| resolved_term_matches(t, pod))
}

/// What pre-filter computes for one pod: per topology pair, how many running
/// pods are involved in each kind of required rule.
#[derive(Debug, Clone)]
pub struct PreFilterState {
    /// Running pods whose required anti-affinity terms match the incoming pod.
    existing_anti_affinity_counts: TopologyCounts,
    /// Running pods that match all of the incoming pod's required affinity terms.
    affinity_counts: TopologyCounts,
    /// Running pods that match each of the incoming pod's required anti-affinity terms.
    anti_affinity_counts: TopologyCounts,
    /// The incoming pod's required terms, namespaceSelectors resolved.
    required_affinity: Arc<[AffinityTerm]>,
    required_anti_affinity: Arc<[AffinityTerm]>,
    /// Whether the incoming pod matches all of its own required affinity terms.
    matches_own_affinity: bool,
    /// Labels of the incoming pod's namespace.
    namespace_labels: Arc<Labels>,
}

impl PreFilterState {
    /// The counts for `pod`, or None (Skip) when it has no required terms and
    /// no running pod's required anti-affinity matches it.
    pub(super) fn compute(pod: &PodInfo, snapshot: &Snapshot) -> Option<Self> {
        let resolve = |terms: &[AffinityTerm]| -> Arc<[AffinityTerm]> {
            terms.iter().map(|t| resolve_namespaces(t, snapshot)).collect()
        };
        let required_affinity = resolve(&pod.required_affinity);
        let required_anti_affinity = resolve(&pod.required_anti_affinity);
        let namespace_labels = namespace_labels(snapshot, &pod.namespace);

        let mut existing_anti_affinity_counts = TopologyCounts::default();
        for node in snapshot.nodes.iter().filter(|n| n.pods_with_required_anti_affinity > 0) {
            for existing in node.pods.iter().filter(|p| !p.required_anti_affinity.is_empty()) {
                existing_anti_affinity_counts.update_with_anti_affinity_terms(
                    &existing.required_anti_affinity,
                    pod,
                    &namespace_labels,
                    node,
                    1,
                );
            }
        }

        let mut affinity_counts = TopologyCounts::default();
        let mut anti_affinity_counts = TopologyCounts::default();
        if !required_affinity.is_empty() || !required_anti_affinity.is_empty() {
            for node in &snapshot.nodes {
                for existing in &node.pods {
                    affinity_counts.update_with_affinity_terms(&required_affinity, existing, node, 1);
                    anti_affinity_counts.update_with_anti_affinity_terms(
                        &required_anti_affinity,
                        existing,
                        &super::NO_LABELS,
                        node,
                        1,
                    );
                }
            }
        }

        if existing_anti_affinity_counts.is_empty() && required_affinity.is_empty() && required_anti_affinity.is_empty()
        {
            return None;
        }
        Some(Self {
            existing_anti_affinity_counts,
            affinity_counts,
            anti_affinity_counts,
            matches_own_affinity: matches_all(&required_affinity, pod),
            required_affinity,
            required_anti_affinity,
            namespace_labels: Arc::new(namespace_labels),
        })
    }

    /// The counts as if `other` were added to (`delta` 1) or removed from (-1) `node`.
    pub(super) fn update_with_pod(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        self.existing_anti_affinity_counts.update_with_anti_affinity_terms(
            &other.required_anti_affinity,
            pod,
            &self.namespace_labels,
            node,
            delta,
        );
        self.affinity_counts.update_with_affinity_terms(&self.required_affinity, other, node, delta);
        self.anti_affinity_counts.update_with_anti_affinity_terms(
            &self.required_anti_affinity,
            other,
            &super::NO_LABELS,
            node,
            delta,
        );
    }

    /// Whether the pod may run on `node`, checking its affinity, its anti-affinity, then the running pods' anti-affinity.
    pub(super) fn filter(&self, node: &NodeInfo) -> Status {
        if !self.satisfies_pod_affinity(node) {
            return Status::unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH);
        }
        if !self.satisfies_pod_anti_affinity(node) {
            return Status::unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        if !self.satisfies_existing_pods_anti_affinity(node) {
            return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        Status::success()
    }

    /// Every term's topology key is on the node and each of its domains holds a
    /// matching pod; or no pod matches anywhere and the pod matches its own
    /// terms (the first of a group with affinity to itself).
    fn satisfies_pod_affinity(&self, node: &NodeInfo) -> bool {
        let mut pods_exist = true;
        for term in self.required_affinity.iter() {
            if !node.labels.contains_key(&term.topology_key) {
                return false;
            }
            if !self.affinity_counts.node_has(&node.labels, &term.topology_key) {
                pods_exist = false;
            }
        }
        pods_exist || (self.affinity_counts.is_empty() && self.matches_own_affinity)
    }

    /// No domain of the node holds a pod matching one of the pod's anti-affinity terms.
    fn satisfies_pod_anti_affinity(&self, node: &NodeInfo) -> bool {
        self.anti_affinity_counts.is_empty()
            || !self
                .required_anti_affinity
                .iter()
                .any(|t| self.anti_affinity_counts.node_has(&node.labels, &t.topology_key))
    }

    /// No label pair of the node is a domain where a running pod's anti-affinity rejects the pod.
    fn satisfies_existing_pods_anti_affinity(&self, node: &NodeInfo) -> bool {
        !self
            .existing_anti_affinity_counts
            .0
            .keys()
            .any(|key| self.existing_anti_affinity_counts.node_has(&node.labels, key))
    }
}
