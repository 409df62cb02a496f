//! The score side: ScheduleAnyway constraints, matching pods per domain
//! weighted by log(domains + 2), fewer pods scoring higher.

use std::collections::HashMap;

use super::{Constraint, LABEL_HOSTNAME, NodeFit, PRE_SCORE_STATE_KEY, PodTopologySpread, SCHEDULE_ANYWAY};
use super::{has_all_keys, own_constraints};
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeInfo, PodInfo, Snapshot, Status};

/// What pre-score computes for the nodes that passed the filters.
#[derive(Debug, Clone)]
pub(super) struct PreScoreState {
    pub(super) constraints: Vec<Constraint>,
    /// Whether nodes must have every topology key to be scored (not so for system defaults).
    pub(super) require_all_keys: bool,
    /// Per node given to pre-score (in order): left out for missing a topology key (scored 0).
    pub(super) ignored: Vec<bool>,
    /// Per constraint: matching pods per topology value of the candidate
    /// nodes (hostname constraints are counted per node when scoring).
    pub(super) counts: Vec<HashMap<String, i64>>,
    /// Per constraint: log(domains among the candidates + 2).
    pub(super) weights: Vec<f64>,
}

pub(super) fn pre_score(
    plugin: &PodTopologySpread,
    state: &mut CycleState,
    pod: &PodInfo,
    nodes: &[&NodeInfo],
    snapshot: &Snapshot,
) -> Status {
    if snapshot.nodes.is_empty() {
        return Status::skip();
    }
    let constraints = match plugin.constraints(pod, snapshot, SCHEDULE_ANYWAY) {
        Ok(c) if c.is_empty() => return Status::skip(),
        Ok(c) => c,
        Err(e) => return Status::error(format!("obtaining pod's soft topology spread constraints: {e}")),
    };
    // Only the system defaults score nodes that lack some of the keys (e.g. zoneless nodes by hostname).
    let require_all_keys = !own_constraints(pod).is_empty() || !plugin.system_defaulted;

    let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
    let mut ignored = Vec::with_capacity(nodes.len());
    for node in nodes {
        let skip = require_all_keys && !has_all_keys(&node.labels, &constraints);
        ignored.push(skip);
        if skip {
            continue;
        }
        for (constraint, domains) in constraints.iter().zip(counts.iter_mut()) {
            if constraint.topology_key != LABEL_HOSTNAME {
                let value = node.labels.get(&constraint.topology_key).cloned().unwrap_or_default();
                domains.entry(value).or_insert(0);
            }
        }
    }
    let scored = ignored.iter().filter(|i| !**i).count();
    let weights = constraints
        .iter()
        .zip(&counts)
        .map(|(c, domains)| {
            let size = if c.topology_key == LABEL_HOSTNAME { scored } else { domains.len() };
            (size as f64 + 2.0).ln()
        })
        .collect();

    // The pods are counted over every node of the cluster, in the candidates' domains only.
    for node in &snapshot.nodes {
        if require_all_keys && !has_all_keys(&node.labels, &constraints) {
            continue;
        }
        let fit = NodeFit::of(&constraints, pod, node);
        for (constraint, domains) in constraints.iter().zip(counts.iter_mut()) {
            if !constraint.includes(fit) {
                continue;
            }
            let value = node.labels.get(&constraint.topology_key).map_or("", String::as_str);
            if let Some(count) = domains.get_mut(value) {
                *count += constraint.count(&node.pods, &pod.namespace);
            }
        }
    }

    state.write(PRE_SCORE_STATE_KEY, PreScoreState { constraints, require_all_keys, ignored, counts, weights });
    Status::success()
}

/// The raw score: for each constraint whose key the node has, the matching
/// pods in its domain times the constraint's weight, plus maxSkew - 1.
pub(super) fn score(state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
    let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) else { return 0 };
    if s.require_all_keys && !has_all_keys(&node.labels, &s.constraints) {
        return 0;
    }
    let mut score = 0.0;
    for (i, constraint) in s.constraints.iter().enumerate() {
        let Some(value) = node.labels.get(&constraint.topology_key) else { continue };
        let count = if constraint.topology_key == LABEL_HOSTNAME {
            constraint.count(&node.pods, &pod.namespace)
        } else {
            s.counts.get(i).and_then(|d| d.get(value)).copied().unwrap_or(0)
        };
        let weight = s.weights.get(i).copied().unwrap_or(0.0);
        score += count as f64 * weight + (constraint.max_skew - 1) as f64;
    }
    score.round() as i64
}

/// Reverses the raw scores into 0..=MAX_NODE_SCORE (fewest matching pods
/// score highest); ignored nodes score 0, and all score the maximum when
/// every raw score is 0.
pub(super) fn normalize(state: &CycleState, scores: &mut [i64]) {
    let Some(s) = state.read::<PreScoreState>(PRE_SCORE_STATE_KEY) else { return };
    let ignored = |i: usize| s.ignored.get(i).copied().unwrap_or(false);
    let (mut min, mut max) = (i64::MAX, 0);
    for (i, score) in scores.iter().enumerate() {
        if !ignored(i) {
            min = min.min(*score);
            max = max.max(*score);
        }
    }
    for (i, score) in scores.iter_mut().enumerate() {
        *score = if ignored(i) {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *score) / max
        };
    }
}
