//! The filter side: matching pods counted per domain once per pod, then a
//! skew check per node and constraint.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Constraint, ERR_REASON_CONSTRAINTS_NOT_MATCH, ERR_REASON_NODE_LABEL_NOT_MATCH, NodeFit, has_all_keys};
use crate::framework::{NodeInfo, PodInfo, Snapshot, Status};

/// The DoNotSchedule constraints of the pod being scheduled with, for each,
/// the matching pods per domain of its topology key and their minimum.
#[derive(Debug, Clone)]
pub(super) struct PreFilterState {
    /// Shared by the clones preemption makes: they never change.
    pub(super) constraints: Arc<[Constraint]>,
    /// Per constraint: topology value → matching pods (every eligible domain is here, even with 0).
    pub(super) counts: Vec<HashMap<String, i64>>,
    /// Per constraint: count → how many domains have it, for the minimum
    /// (exact and O(log domains) as preemption adds and removes pods).
    pub(super) histograms: Vec<BTreeMap<i64, usize>>,
}

impl PreFilterState {
    /// Counts the pods `pod`'s constraints match on every eligible node of the snapshot.
    pub(super) fn new(constraints: Vec<Constraint>, pod: &PodInfo, snapshot: &Snapshot) -> Self {
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node in &snapshot.nodes {
            if !has_all_keys(&node.labels, &constraints) {
                continue;
            }
            let fit = NodeFit::of(&constraints, pod, node);
            for (constraint, domains) in constraints.iter().zip(counts.iter_mut()) {
                if !constraint.includes(fit) {
                    continue;
                }
                let Some(value) = node.labels.get(&constraint.topology_key) else { continue };
                let matching = constraint.count(&node.pods, &pod.namespace);
                match domains.get_mut(value) {
                    Some(count) => *count += matching,
                    None => {
                        domains.insert(value.clone(), matching);
                    }
                }
            }
        }
        let histograms = counts
            .iter()
            .map(|domains| {
                let mut histogram = BTreeMap::new();
                domains.values().for_each(|count| *histogram.entry(*count).or_insert(0) += 1);
                histogram
            })
            .collect();
        Self { constraints: constraints.into(), counts, histograms }
    }

    /// The global minimum of constraint `i`: 0 while there are fewer domains than minDomains.
    fn global_minimum(&self, i: usize, constraint: &Constraint) -> i64 {
        let domains = self.counts.get(i).map_or(0, HashMap::len);
        if (domains as i64) < constraint.min_domains {
            return 0;
        }
        // With no domain at all (possible only with minDomains 0) nothing lowers the skew.
        self.histograms.get(i).and_then(|h| h.keys().next()).copied().unwrap_or(i64::MAX)
    }

    /// Whether `pod` can go on `node`: for each constraint in order, the node
    /// must have the topology key and its domain's count + selfMatch - global
    /// minimum must not exceed maxSkew.
    pub(super) fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Status {
        for (i, constraint) in self.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&constraint.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let matching = self.counts.get(i).and_then(|d| d.get(value)).copied().unwrap_or(0);
            let self_match = i64::from(constraint.selects(&pod.labels));
            let skew = matching + self_match - self.global_minimum(i, constraint);
            if skew > constraint.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }

    /// The counts after `updated` is added to (`delta` 1) or removed from
    /// (`delta` -1) `node`, for scheduling `preemptor`.
    pub(super) fn update(&mut self, updated: &PodInfo, preemptor: &PodInfo, node: &NodeInfo, delta: i64) {
        if updated.namespace != preemptor.namespace || !has_all_keys(&node.labels, &self.constraints) {
            return;
        }
        let fit = NodeFit::of(&self.constraints, preemptor, node);
        for (i, constraint) in self.constraints.iter().enumerate() {
            if !constraint.selects(&updated.labels) || !constraint.includes(fit) {
                continue;
            }
            let (Some(value), Some(domains), Some(histogram)) =
                (node.labels.get(&constraint.topology_key), self.counts.get_mut(i), self.histograms.get_mut(i))
            else {
                continue;
            };
            let count = match domains.get_mut(value) {
                Some(count) => {
                    if let Some(n) = histogram.get_mut(count) {
                        *n -= 1;
                        if *n == 0 {
                            histogram.remove(count);
                        }
                    }
                    count
                }
                None => domains.entry(value.clone()).or_insert(0),
            };
            *count += delta;
            *histogram.entry(*count).or_insert(0) += 1;
        }
    }
}
