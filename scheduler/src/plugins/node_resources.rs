//! NodeResourcesFit (requests against allocatable, and LeastAllocated or
//! MostAllocated scoring) and NodeResourcesBalancedAllocation.

use crate::framework::resources::Resources;
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, Snapshot, Status};

pub const FIT: &str = "NodeResourcesFit";
pub const BALANCED_ALLOCATION: &str = "NodeResourcesBalancedAllocation";
/// The reason for a node that has no room for another pod.
pub const ERR_TOO_MANY_PODS: &str = "Too many pods";

/// How NodeResourcesFit scores (its scoringStrategy.type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoringStrategy {
    /// Prefer emptier nodes (the default).
    #[default]
    LeastAllocated,
    /// Prefer fuller nodes (bin packing).
    MostAllocated,
}

/// NodeResourcesFit: the strategy and the resources it scores with their weights.
#[derive(Debug)]
pub struct NodeResourcesFit {
    pub strategy: ScoringStrategy,
    /// Resources and weights for scoring (upstream's default: cpu and memory, 1 each).
    pub resources: Vec<(String, i64)>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        Self { strategy: ScoringStrategy::default(), resources: vec![("cpu".into(), 1), ("memory".into(), 1)] }
    }
}

/// Each resource the pod asks for that the node lacks, as the reasons upstream gives.
pub fn insufficient(pod: &Resources, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.requested.pods + 1 > node.allocatable.pods {
        reasons.push(ERR_TOO_MANY_PODS.to_owned());
    }
    let free = |name: &str| node.allocatable.get(name) - node.requested.get(name);
    for (name, wanted) in [("cpu", pod.milli_cpu), ("memory", pod.memory), ("ephemeral-storage", pod.ephemeral_storage)]
    {
        if wanted > 0 && wanted > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    for (name, wanted) in &pod.scalar {
        if *wanted > 0 && *wanted > free(name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        FIT
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let reasons = insufficient(&pod.requests, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status { code: crate::framework::Code::Unschedulable, reasons, plugin: "" }
        }
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let (mut total, mut weights) = (0, 0);
        for (name, weight) in &self.resources {
            let requested = node.non_zero_requested.get(name) + pod.non_zero_requests.get(name);
            let allocatable = node.allocatable.get(name);
            if allocatable == 0 {
                continue;
            }
            let score = match self.strategy {
                ScoringStrategy::LeastAllocated if requested <= allocatable => {
                    (allocatable - requested) * MAX_NODE_SCORE / allocatable
                }
                ScoringStrategy::MostAllocated => requested.min(allocatable) * MAX_NODE_SCORE / allocatable,
                ScoringStrategy::LeastAllocated => 0,
            };
            total += score * weight;
            weights += weight;
        }
        if weights == 0 { 0 } else { total / weights }
    }
}

/// (requested with the pod, allocatable) for CPU and memory, with the scoring defaults.
fn usage(pod: &PodInfo, node: &NodeInfo) -> [(i64, i64); 2] {
    [
        (node.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu, node.allocatable.milli_cpu),
        (node.non_zero_requested.memory + pod.non_zero_requests.memory, node.allocatable.memory),
    ]
}

/// Prefers nodes whose CPU and memory would be used in equal shares.
#[derive(Debug, Default)]
pub struct NodeResourcesBalancedAllocation;

impl Plugin for NodeResourcesBalancedAllocation {
    fn name(&self) -> &'static str {
        BALANCED_ALLOCATION
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> i64 {
        let fractions: Vec<f64> = usage(pod, node)
            .iter()
            .filter(|(_, allocatable)| *allocatable > 0)
            .map(|(requested, allocatable)| (*requested as f64 / *allocatable as f64).min(1.0))
            .collect();
        // With two resources the standard deviation is half their difference.
        let deviation = match fractions.as_slice() {
            [a, b] => (a - b).abs() / 2.0,
            _ => 0.0,
        };
        ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::plugins::testing::{node, pod};

    fn asking(name: &str, cpu: &str, memory: &str) -> PodInfo {
        pod(
            name,
            json!({ "containers": [{ "name": "c", "resources": { "requests": { "cpu": cpu, "memory": memory } } }] }),
        )
    }

    #[test]
    fn fit_names_every_missing_resource() {
        let (state, snapshot) = (CycleState::default(), Snapshot::default());
        let small = node("n1", json!({ "allocatable": { "cpu": "1", "memory": "1Gi", "pods": "1" } }));
        assert!(
            NodeResourcesFit::default().filter(&state, &asking("p", "500m", "512Mi"), &small, &snapshot).is_success()
        );
        let big = asking("q", "2", "2Gi");
        assert_eq!(
            NodeResourcesFit::default().filter(&state, &big, &small, &snapshot).reasons,
            vec!["Insufficient cpu", "Insufficient memory"]
        );
        let mut full = small.clone();
        full.add_pod(Arc::new(asking("r", "100m", "1Mi")));
        assert_eq!(
            NodeResourcesFit::default().filter(&state, &asking("p", "100m", "1Mi"), &full, &snapshot).reasons,
            vec![ERR_TOO_MANY_PODS]
        );
        let gpu = pod(
            "g",
            json!({ "containers": [{ "name": "c", "resources": { "requests": { "example.com/gpu": "1" }, "limits": { "example.com/gpu": "1" } } }] }),
        );
        assert_eq!(
            NodeResourcesFit::default().filter(&state, &gpu, &small, &snapshot).reasons,
            vec!["Insufficient example.com/gpu"]
        );
    }

    #[test]
    fn least_and_most_allocated_and_balance() {
        let (state, snapshot) = (CycleState::default(), Snapshot::default());
        let n = node("n", json!({ "allocatable": { "cpu": "4", "memory": "8Gi", "pods": "110" } }));
        let p = asking("p", "1", "4Gi");
        // CPU 1/4 used → 75, memory 4/8 → 50: least allocated 62, most allocated 37.
        assert_eq!(NodeResourcesFit::default().score(&state, &p, &n, &snapshot), 62);
        let most = NodeResourcesFit { strategy: ScoringStrategy::MostAllocated, ..NodeResourcesFit::default() };
        assert_eq!(most.score(&state, &p, &n, &snapshot), 37);
        // Fractions 0.25 and 0.5: deviation 0.125 → 87.
        assert_eq!(NodeResourcesBalancedAllocation.score(&state, &p, &n, &snapshot), 87);
    }
}
