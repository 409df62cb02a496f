//! A PodDisruptionBudget's status from its pods (pure): how many pods are
//! expected, how many must stay healthy (minAvailable or maxUnavailable,
//! integer or percent of the controllers' scale), how many are, how many
//! disruptions are allowed, and the DisruptionAllowed condition.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::clock::api_time;

/// How long an eviction's entry in disruptedPods waits for the pod's deletion.
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);
/// The condition this controller keeps.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// An int-or-percent as a number of `total` (percentages rounded as asked),
/// with upstream's errors for strings that are not percentages.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err("invalid value for IntOrString: invalid type: string is not a percentage".to_owned());
            };
            let percent: i64 = number.parse().map_err(|_| {
                format!("invalid value for IntOrString: invalid value \"{s}\": strconv.Atoi: parsing \"{number}\": invalid syntax")
            })?;
            let scaled = percent * i64::from(total);
            let value = if round_up {
                scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0)
            } else {
                scaled.div_euclid(100)
            };
            Ok(i32::try_from(value).unwrap_or(i32::MAX))
        }
    }
}

/// Whether the budget is counted against its pods' controllers' scale
/// (maxUnavailable, or minAvailable as a percentage) rather than its pods.
pub fn needs_scale(pdb: &PodDisruptionBudget) -> bool {
    let spec = pdb.spec.as_ref();
    spec.and_then(|s| s.max_unavailable.as_ref()).is_some()
        || matches!(spec.and_then(|s| s.min_available.as_ref()), Some(IntOrString::String(_)))
}

/// (expectedPods, desiredHealthy) from the number of pods and, when
/// [`needs_scale`], the sum of the controllers' scales.
pub fn expected_and_desired(pdb: &PodDisruptionBudget, pods: usize, scale: i32) -> Result<(i32, i32), String> {
    let spec = pdb.spec.as_ref();
    if let Some(max_unavailable) = spec.and_then(|s| s.max_unavailable.as_ref()) {
        let unavailable = scaled_value(max_unavailable, scale, true)?;
        return Ok((scale, (scale - unavailable).max(0)));
    }
    match spec.and_then(|s| s.min_available.as_ref()) {
        Some(IntOrString::Int(n)) => Ok((i32::try_from(pods).unwrap_or(i32::MAX), *n)),
        Some(percent) => Ok((scale, scaled_value(percent, scale, true)?)),
        None => Ok((0, 0)),
    }
}

/// The disruptedPods entries still pending (their pods exist, are not being
/// deleted, and the timeout has not passed), when to look again, and the
/// pods whose entries timed out without a deletion.
pub fn pending_disruptions(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>, Vec<String>) {
    let mut pending = BTreeMap::new();
    let (mut recheck, mut overdue) = (None::<Timestamp>, Vec::new());
    let Some(disrupted) = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()) else {
        return (pending, recheck, overdue);
    };
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let Some(at) = disrupted.get(&pod.name_any()) else { continue };
        let expected = at.0 + DELETION_TIMEOUT;
        if expected < now {
            overdue.push(pod.name_any());
        } else {
            recheck = Some(recheck.map_or(expected, |r| r.min(expected)));
            pending.insert(pod.name_any(), at.clone());
        }
    }
    (pending, recheck, overdue)
}

/// Ready pods that are neither being deleted nor about to be.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let healthy = pods.iter().filter(|pod| {
        pod.metadata.deletion_timestamp.is_none()
            && disrupted.get(&pod.name_any()).is_none_or(|at| at.0 + DELETION_TIMEOUT <= now)
            && crate::pods::is_ready(pod)
    });
    i32::try_from(healthy.count()).unwrap_or(i32::MAX)
}

/// Sets a condition as apimachinery's SetStatusCondition does (the
/// transition time moves when the status changes).
pub fn set_condition(conditions: &mut Vec<Condition>, condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status != condition.status {
                existing.status = condition.status;
                existing.last_transition_time = condition.last_transition_time;
            }
            existing.reason = condition.reason;
            existing.message = condition.message;
            existing.observed_generation = condition.observed_generation;
        }
        None => conditions.push(condition),
    }
}

/// DisruptionAllowed as the disruptions allowed say (upstream's UpdateDisruptionAllowedCondition).
pub fn update_disruption_allowed(status: &mut PodDisruptionBudgetStatus, now: Timestamp) {
    let allowed = status.disruptions_allowed > 0;
    let condition = Condition {
        type_: DISRUPTION_ALLOWED.to_owned(),
        status: if allowed { "True" } else { "False" }.to_owned(),
        reason: if allowed { SUFFICIENT_PODS } else { INSUFFICIENT_PODS }.to_owned(),
        message: String::new(),
        observed_generation: status.observed_generation,
        last_transition_time: api_time(now),
    };
    set_condition(status.conditions.get_or_insert_with(Vec::new), condition);
}

/// Whether the condition already says what the status does.
fn conditions_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let Some(status) = pdb.status.as_ref() else { return false };
    let Some(condition) = status.conditions.iter().flatten().find(|c| c.type_ == DISRUPTION_ALLOWED) else {
        return false;
    };
    if status.observed_generation != pdb.metadata.generation {
        return false;
    }
    match status.disruptions_allowed > 0 {
        true => condition.status == "True" && condition.reason == SUFFICIENT_PODS,
        false => condition.status == "False" && condition.reason == INSUFFICIENT_PODS,
    }
}

/// The counts of a sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected: i32,
    pub disrupted: BTreeMap<String, Time>,
}

/// The new status, `None` when the budget's status already says it.
pub fn next_status(pdb: &PodDisruptionBudget, counts: Counts, now: Timestamp) -> Option<PodDisruptionBudgetStatus> {
    let allowed = if counts.expected <= 0 { 0 } else { (counts.current_healthy - counts.desired_healthy).max(0) };
    let current = pdb.status.clone().unwrap_or_default();
    let same = current.current_healthy == counts.current_healthy
        && current.desired_healthy == counts.desired_healthy
        && current.expected_pods == counts.expected
        && current.disruptions_allowed == allowed
        && current.disrupted_pods.clone().unwrap_or_default() == counts.disrupted
        && current.observed_generation == pdb.metadata.generation
        && conditions_up_to_date(pdb);
    if same {
        return None;
    }
    let mut status = PodDisruptionBudgetStatus {
        current_healthy: counts.current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!counts.disrupted.is_empty()).then_some(counts.disrupted),
        observed_generation: pdb.metadata.generation,
        conditions: current.conditions,
    };
    update_disruption_allowed(&mut status, now);
    Some(status)
}

/// The status after a failed sync: no disruption allowed, DisruptionAllowed False (SyncFailed).
pub fn fail_safe(pdb: &PodDisruptionBudget, message: &str, now: Timestamp) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let condition = Condition {
        type_: DISRUPTION_ALLOWED.to_owned(),
        status: "False".to_owned(),
        reason: SYNC_FAILED.to_owned(),
        message: message.to_owned(),
        observed_generation: status.observed_generation,
        last_transition_time: api_time(now),
    };
    set_condition(status.conditions.get_or_insert_with(Vec::new), condition);
    status
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
