//! Reading a Job's spec with upstream's defaults, and its conditions with
//! upstream's types, reasons and messages.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec};

use crate::clock::api_time;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const SUSPENDED: &str = "Suspended";

pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
pub const REASON_MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
pub const REASON_FAILED_INDEXES: &str = "FailedIndexes";
pub const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

/// The only `spec.managedBy` this controller acts for (unset means the same).
pub const MANAGED_BY_JOB_CONTROLLER: &str = "kubernetes.io/job-controller";

/// The spec with upstream's defaults filled in where the API server did not.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub raw: &'a JobSpec,
    pub completions: Option<i32>,
    pub parallelism: i32,
    pub backoff_limit: i32,
    pub indexed: bool,
    pub suspended: bool,
}

impl<'a> Spec<'a> {
    pub fn of(raw: &'a JobSpec) -> Self {
        Self {
            raw,
            completions: raw.completions,
            parallelism: raw.parallelism.unwrap_or(1).max(0),
            backoff_limit: raw.backoff_limit.unwrap_or(6),
            indexed: raw.completion_mode.as_deref() == Some("Indexed"),
            suspended: raw.suspend == Some(true),
        }
    }

    /// Indexed Jobs always have completions (validation); 0 if not.
    pub fn completions_or_zero(&self) -> i32 {
        self.completions.unwrap_or(0)
    }

    pub fn backoff_limit_per_index(&self) -> Option<i32> {
        self.raw.backoff_limit_per_index.filter(|_| self.indexed)
    }

    /// Terminating pods are not replaced until they fail (podReplacementPolicy
    /// Failed, implied by a pod failure policy) — upstream's onlyReplaceFailedPods.
    pub fn only_replace_failed(&self) -> bool {
        self.raw.pod_replacement_policy.as_deref() == Some("Failed") || self.raw.pod_failure_policy.is_some()
    }
}

pub fn conditions(job: &Job) -> &[JobCondition] {
    job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default()
}

/// The condition of this type whose status is True.
pub fn true_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    conditions(job).iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// Complete or Failed (upstream's IsJobFinished).
pub fn is_finished(job: &Job) -> bool {
    true_condition(job, COMPLETE).is_some() || true_condition(job, FAILED).is_some()
}

/// A new condition (probe and transition at `now`).
pub fn condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    JobCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: non_empty(reason),
        message: non_empty(message),
        last_probe_time: Some(api_time(now)),
        last_transition_time: Some(api_time(now)),
    }
}

/// Sets the condition of this type (upstream's ensureJobConditionStatus): changed when its
/// status, reason or message differ; never adds a condition that is False. Returns whether it changed.
pub fn ensure(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(existing) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = existing.status == status
            && existing.reason.as_deref().unwrap_or_default() == reason
            && existing.message.as_deref().unwrap_or_default() == message;
        if same {
            return false;
        }
        *existing = condition(type_, status, reason, message, now);
        return true;
    }
    if status == "False" {
        return false;
    }
    list.push(condition(type_, status, reason, message, now));
    true
}

/// The interim FailureTarget condition a failure first records.
pub fn failure_target(reason: &str, message: &str, now: Timestamp) -> JobCondition {
    condition(FAILURE_TARGET, "True", reason, message, now)
}

/// The interim SuccessCriteriaMet condition for a Job that reached its completions.
pub fn completions_reached(now: Timestamp) -> JobCondition {
    condition(
        SUCCESS_CRITERIA_MET,
        "True",
        REASON_COMPLETIONS_REACHED,
        "Reached expected number of succeeded pods",
        now,
    )
}

/// The terminal condition that follows an interim one (Failed after FailureTarget, Complete after SuccessCriteriaMet).
pub fn terminal_for(interim: &JobCondition, now: Timestamp) -> JobCondition {
    let type_ = if interim.type_ == SUCCESS_CRITERIA_MET { COMPLETE } else { FAILED };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    condition(type_, "True", &text(&interim.reason), &text(&interim.message), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_updates_or_adds_but_never_adds_false() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().expect("a time");
        let mut list = Vec::new();
        assert!(!ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert!(list.is_empty());
        assert!(ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(!ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].reason.as_deref(), Some("JobResumed"));
    }
}
