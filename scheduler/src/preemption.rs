//! DefaultPreemption: when a pod fits nowhere, find the node where evicting
//! the fewest, least important lower-priority pods makes room, as upstream
//! chooses it; the caller evicts them and nominates the node.

use std::sync::Arc;

use crate::cycle::{Diagnosis, FitError, filter_with_nominated, run_pre_filters};
use crate::framework::budgets::split_by_violation;
use crate::framework::{Code, CycleState, NodeInfo, PodInfo, Snapshot, Status};
use crate::profile::Profile;

pub const NAME: &str = "DefaultPreemption";
/// Per-node reason when evicting pods there cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Per-node reason when no set of lower-priority pods makes room.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Stop looking once this many candidate nodes are found (upstream's minCandidateNodesAbsolute).
const ENOUGH_CANDIDATES: usize = 100;

/// A node and the pods to evict from it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
    /// Victims whose eviction goes over a PodDisruptionBudget.
    pub budget_violations: usize,
}

fn start_time(pod: &PodInfo) -> Option<String> {
    pod.pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0.to_string())
}

/// Whether the pod may preempt: its preemptionPolicy is not Never, and the
/// victims of its last preemption are not still terminating on its nominated node.
pub fn eligible(pod: &PodInfo, snapshot: &Snapshot) -> Result<(), String> {
    if pod.pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.".to_owned());
    }
    let nominated = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty());
    if let Some(node) = nominated.and_then(|n| snapshot.node(n))
        && node.pods.iter().any(|p| p.pod.metadata.deletion_timestamp.is_some() && p.priority() < pod.priority())
    {
        return Err("not eligible due to a terminating pod on the nominated node.".to_owned());
    }
    Ok(())
}

/// Finds the best candidate, or the PostFilter message (`preemption: ...`) when there is none.
pub fn preempt(
    profile: &Profile,
    snapshot: &Snapshot,
    pod: &PodInfo,
    diagnosis: &Diagnosis,
) -> Result<Candidate, String> {
    eligible(pod, snapshot).map_err(|why| format!("preemption: {why}"))?;
    let mut state = CycleState::default();
    let mut statuses = std::collections::BTreeMap::new();
    let mut candidates = Vec::new();
    if run_pre_filters(profile, &mut state, pod, snapshot).is_ok() {
        for node in &snapshot.nodes {
            let unresolvable = match diagnosis.node_statuses.get(&node.name) {
                Some(status) => status.code == Code::UnschedulableAndUnresolvable,
                None => diagnosis.pre_filter.is_some(),
            };
            if unresolvable {
                statuses.insert(node.name.clone(), Status::unresolvable(NOT_HELPFUL));
                continue;
            }
            match victims_on(profile, &state, pod, node, snapshot) {
                Some((victims, budget_violations)) => {
                    candidates.push(Candidate { node: node.name.clone(), victims, budget_violations })
                }
                None => {
                    statuses.insert(node.name.clone(), Status::unschedulable(NO_VICTIMS));
                }
            }
            if candidates.len() >= ENOUGH_CANDIDATES {
                break;
            }
        }
    }
    match pick(candidates) {
        Some(candidate) => Ok(candidate),
        None => {
            let error = FitError {
                nodes: snapshot.nodes.len(),
                diagnosis: Diagnosis { node_statuses: statuses, ..Diagnosis::default() },
            };
            Err(format!("preemption: {error}"))
        }
    }
}

/// The fewest, least important pods of lower priority whose eviction lets
/// the pod fit on the node, sparing first those a PodDisruptionBudget
/// protects (upstream's SelectVictimsOnNode), and how many of them violate
/// a budget; `None` if no eviction makes room.
fn victims_on(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Option<(Vec<Arc<PodInfo>>, usize)> {
    let mut potential: Vec<Arc<PodInfo>> =
        node.pods.iter().filter(|p| p.priority() < pod.priority()).cloned().collect();
    if potential.is_empty() {
        return None;
    }
    let mut trial = node.clone();
    let mut state = state.clone();
    for victim in &potential {
        trial.remove_pod(&victim.uid);
        for plugin in &profile.filters {
            plugin.remove_pod(&mut state, pod, victim, &trial);
        }
    }
    if !filter_with_nominated(profile, &state, pod, &trial, snapshot).is_success() {
        return None;
    }
    // Reprieve the most important first: higher priority, then the one that
    // started earlier; those a budget protects before the others.
    potential.sort_by(|a, b| b.priority().cmp(&a.priority()).then_with(|| start_time(a).cmp(&start_time(b))));
    let (violating, others) = split_by_violation(potential, snapshot.budgets.values());
    let violating_count = violating.len();
    let mut victims = Vec::new();
    let mut budget_violations = 0;
    for (index, candidate) in violating.into_iter().chain(others).enumerate() {
        trial.add_pod(Arc::clone(&candidate));
        for plugin in &profile.filters {
            plugin.add_pod(&mut state, pod, &candidate, &trial);
        }
        if !filter_with_nominated(profile, &state, pod, &trial, snapshot).is_success() {
            trial.remove_pod(&candidate.uid);
            for plugin in &profile.filters {
                plugin.remove_pod(&mut state, pod, &candidate, &trial);
            }
            budget_violations += usize::from(index < violating_count);
            victims.push(candidate);
        }
    }
    Some((victims, budget_violations))
}

/// Upstream's pickOneNodeForPreemption: the fewest budget violations, then the
/// lowest highest-victim priority, then the lowest sum of priorities, then the
/// fewest victims, then the latest-started top victim.
fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let highest = c.victims.iter().map(|v| v.priority()).max().unwrap_or(i32::MIN);
        let sum: i64 = c.victims.iter().map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1).sum();
        let earliest_top = c.victims.iter().filter(|v| v.priority() == highest).filter_map(|v| start_time(v)).min();
        (c.budget_violations, highest, sum, c.victims.len(), std::cmp::Reverse(earliest_top))
    };
    candidates.into_iter().min_by_key(key)
}

#[cfg(test)]
mod tests;
