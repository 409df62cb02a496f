//! One scheduling attempt for one pod: pre-filter, filter (until enough
//! feasible nodes are found), pre-score, score, normalize, weigh, pick.

use std::collections::BTreeMap;

use crate::framework::{Code, CycleState, MAX_NODE_SCORE, NodeInfo, PodInfo, Snapshot, Status};
use crate::profile::Profile;

/// Fewest nodes to look for before scoring, whatever the percentage (upstream's minFeasibleNodesToFind).
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Lowest adaptive percentage (minFeasibleNodesPercentageToFind).
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// Why no node fits: each rejected node's status (upstream's Diagnosis).
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Rejections by node name.
    pub node_statuses: BTreeMap<String, Status>,
    /// A pre-filter rejection (then it applies to every node).
    pub pre_filter: Option<Status>,
    /// What preemption said, when it ran and did not help.
    pub post_filter_message: Option<String>,
}

/// No node fits the pod.
#[derive(Debug, Clone)]
pub struct FitError {
    pub nodes: usize,
    pub diagnosis: Diagnosis,
}

impl std::fmt::Display for FitError {
    /// Upstream's message: `0/3 nodes are available: 1 node(s) ..., 2 node(s) ....`
    /// then what preemption said.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available:", self.nodes)?;
        match &self.diagnosis.pre_filter {
            Some(status) => write!(f, " {}.", status.reasons.join(", "))?,
            None => {
                let histogram = reason_histogram(self.diagnosis.node_statuses.values());
                if !histogram.is_empty() {
                    write!(f, " {}.", histogram.join(", "))?;
                }
            }
        }
        if let Some(message) = &self.diagnosis.post_filter_message {
            write!(f, " {message}.")?;
        }
        Ok(())
    }
}

/// "N reason" for each distinct reason, sorted as strings (as upstream sorts them).
pub fn reason_histogram<'a>(statuses: impl Iterator<Item = &'a Status>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for status in statuses {
        for reason in &status.reasons {
            *counts.entry(reason.as_str()).or_default() += 1;
        }
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    lines.sort();
    lines
}

/// A successful attempt.
#[derive(Debug, Clone)]
pub struct Placement {
    pub node: String,
    /// Nodes that were filtered and found feasible.
    pub evaluated: usize,
    pub feasible: usize,
}

/// How many feasible nodes to find before scoring (upstream's numFeasibleNodesToFind).
pub fn feasible_nodes_to_find(nodes: usize, percentage: u32) -> usize {
    if nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return nodes;
    }
    let percentage = match percentage as usize {
        0 => (50usize.saturating_sub(nodes / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE),
        p if p >= 100 => return nodes,
        p => p,
    };
    (nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Runs every filter on one node; the first rejection wins (as upstream).
pub fn run_filters(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Status {
    for plugin in &profile.filters {
        if state.skip_filter.contains(&plugin.name()) {
            continue;
        }
        let status = plugin.filter(state, pod, node, snapshot);
        if !status.is_success() {
            return status.from_plugin(plugin.name());
        }
    }
    Status::success()
}

/// Runs the filters with the pods nominated to the node (by preemption) that
/// are at least as important as `pod` counted as if they ran there, then
/// without them (upstream's two passes), so that a preemptor keeps the room it made.
pub fn filter_with_nominated(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Status {
    let nominated: Vec<&std::sync::Arc<PodInfo>> = snapshot
        .nominated
        .get(&node.name)
        .into_iter()
        .flatten()
        .filter(|n| n.uid != pod.uid && n.priority() >= pod.priority())
        .collect();
    if !nominated.is_empty() {
        let mut with = node.clone();
        let mut state = state.clone();
        for other in nominated {
            with.add_pod(std::sync::Arc::clone(other));
            for plugin in &profile.filters {
                plugin.add_pod(&mut state, pod, other, &with);
            }
        }
        let status = run_filters(profile, &state, pod, &with, snapshot);
        if !status.is_success() {
            return status;
        }
    }
    run_filters(profile, state, pod, node, snapshot)
}

/// Runs the pre-filters; `Err` when one rejects the pod outright.
pub fn run_pre_filters(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
) -> Result<(), Status> {
    for plugin in &profile.filters {
        let status = plugin.pre_filter(state, pod, snapshot);
        match status.code {
            Code::Success => {}
            Code::Skip => state.skip_filter.push(plugin.name()),
            _ => return Err(status.from_plugin(plugin.name())),
        }
    }
    Ok(())
}

/// Schedules `pod` on the snapshot; `next_start` rotates where filtering
/// starts (upstream's nextStartNodeIndex) and is advanced past the nodes looked at.
pub fn schedule(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    next_start: &mut usize,
) -> Result<(Placement, CycleState), FitError> {
    let total = snapshot.nodes.len();
    let fit_error = |diagnosis: Diagnosis| FitError { nodes: total, diagnosis };
    let mut state = CycleState::default();
    if total == 0 {
        return Err(fit_error(Diagnosis::default()));
    }
    if let Err(status) = run_pre_filters(profile, &mut state, pod, snapshot) {
        return Err(fit_error(Diagnosis { pre_filter: Some(status), ..Diagnosis::default() }));
    }
    let wanted = feasible_nodes_to_find(total, profile.percentage_of_nodes_to_score);
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(total));
    let mut diagnosis = Diagnosis::default();
    let mut evaluated = 0;
    for offset in 0..total {
        let node = &snapshot.nodes[(*next_start + offset) % total];
        evaluated += 1;
        let status = filter_with_nominated(profile, &state, pod, node, snapshot);
        if status.is_success() {
            feasible.push(node);
            if feasible.len() >= wanted {
                break;
            }
        } else {
            diagnosis.node_statuses.insert(node.name.clone(), status);
        }
    }
    *next_start = (*next_start + evaluated) % total;
    if feasible.is_empty() {
        return Err(fit_error(diagnosis));
    }
    let node = if feasible.len() == 1 {
        feasible[0].name.clone()
    } else {
        best(profile, &mut state, pod, &feasible, snapshot)
    };
    Ok((Placement { node, evaluated, feasible: feasible.len() }, state))
}

/// Scores the feasible nodes and returns the best (the first of equals in the rotated order).
fn best(
    profile: &Profile,
    state: &mut CycleState,
    pod: &PodInfo,
    feasible: &[&NodeInfo],
    snapshot: &Snapshot,
) -> String {
    let mut totals = vec![0i64; feasible.len()];
    let mut scores = vec![0i64; feasible.len()];
    for enabled in &profile.scorers {
        let plugin = &enabled.plugin;
        if enabled.weight == 0 || plugin.pre_score(state, pod, feasible, snapshot).is_skip() {
            continue;
        }
        for (score, node) in scores.iter_mut().zip(feasible) {
            *score = plugin.score(state, pod, node, snapshot);
        }
        plugin.normalize(state, pod, &mut scores);
        for (total, score) in totals.iter_mut().zip(&scores) {
            *total += score.clamp(&0, &MAX_NODE_SCORE) * enabled.weight;
        }
    }
    // The highest total; among equals, one at random (upstream's reservoir sampling).
    let mut best = 0;
    let mut ties = 1;
    for (i, total) in totals.iter().enumerate().skip(1) {
        if *total > totals[best] {
            best = i;
            ties = 1;
        } else if *total == totals[best] {
            ties += 1;
            if random_below(ties) == 0 {
                best = i;
            }
        }
    }
    feasible[best].name.clone()
}

/// A number below `n` from a per-thread xorshift generator (tie-breaking needs no more).
fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0x9E37_79B9, |d| d.as_nanos() as u64) | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x % n.max(1)
    })
}

#[cfg(test)]
mod tests;
