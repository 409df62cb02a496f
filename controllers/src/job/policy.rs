//! The Job's pod failure policy (which failures fail the Job, fail an index,
//! are ignored or counted) and success policy (which succeeded indexes make an
//! Indexed Job succeed early), as upstream's pod_failure_policy.go and
//! success_policy.go.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, SuccessPolicy};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::indexes::Intervals;

/// What a pod failure policy rule decided for a failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Set when a FailJob rule matched: the Job's failure message.
    pub fail_job: Option<String>,
    /// Whether the failure counts towards backoffLimit (and backoffLimitPerIndex).
    pub count: bool,
    /// The matched rule's action (`FailJob`, `FailIndex`, `Ignore`, `Count`).
    pub action: Option<String>,
}

impl Verdict {
    const DEFAULT: Self = Self { fail_job: None, count: true, action: None };
}

/// Matches a failed pod against the rules, first match wins (upstream's matchPodFailurePolicy).
pub fn match_pod_failure_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else { return Verdict::DEFAULT };
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(requirement) = &rule.on_exit_codes {
            on_exit_codes(pod, requirement).map(|c| {
                let code = c.state.as_ref().and_then(|s| s.terminated.as_ref()).map_or(0, |t| t.exit_code);
                format!(
                    "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                    c.name, rule.action
                )
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
            conditions.iter().find(|c| patterns.iter().any(|p| p.type_ == c.type_ && p.status == c.status)).map(|c| {
                format!(
                    "Pod {namespace}/{name} has condition {} matching {} rule at index {index}",
                    c.type_, rule.action
                )
            })
        } else {
            None
        };
        let Some(message) = matched else { continue };
        let action = Some(rule.action.clone());
        match rule.action.as_str() {
            "Ignore" => return Verdict { fail_job: None, count: false, action },
            "FailIndex" | "Count" => return Verdict { fail_job: None, count: true, action },
            "FailJob" => return Verdict { fail_job: Some(message), count: true, action },
            _ => {}
        }
    }
    Verdict::DEFAULT
}

/// The first terminated container (then init container) whose non-zero exit code matches.
fn on_exit_codes<'a>(
    pod: &'a Pod,
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    let lists = [status.container_statuses.as_deref(), status.init_container_statuses.as_deref()];
    lists.into_iter().flatten().find_map(|list| {
        list.iter().find(|c| {
            let Some(terminated) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) else { return false };
            let named = requirement.container_name.as_deref().is_none_or(|n| n == c.name);
            let code = terminated.exit_code;
            named
                && code != 0
                && match requirement.operator.as_str() {
                    "In" => requirement.values.contains(&code),
                    "NotIn" => !requirement.values.contains(&code),
                    _ => false,
                }
        })
    })
}

/// The message of the first success policy rule the succeeded indexes satisfy
/// ("Matched rules at index N"), upstream's matchSuccessPolicy.
pub fn match_success_policy(policy: Option<&SuccessPolicy>, completions: i32, succeeded: &Intervals) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let met = if let Some(indexes) = &rule.succeeded_indexes {
            let required = Intervals::parse(indexes, completions);
            if required.is_empty() {
                continue;
            }
            let contained = overlap(&required, succeeded);
            contained == required.total() || rule.succeeded_count.is_some_and(|c| contained >= c)
        } else {
            rule.succeeded_count.is_some_and(|c| succeeded.total() >= c)
        };
        if met {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}

/// How many indexes two interval lists share.
fn overlap(a: &Intervals, b: &Intervals) -> i32 {
    let mut count = 0;
    for (a_first, a_last) in a.intervals() {
        for (b_first, b_last) in b.intervals() {
            count += (a_last.min(b_last) - a_first.max(b_first) + 1).max(0);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn failed_pod(exit_codes: &[(&str, i32)], conditions: serde_json::Value) -> Pod {
        let statuses: Vec<_> = exit_codes
            .iter()
            .map(|(name, code)| {
                json!({ "name": name, "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": code } } })
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": { "namespace": "ns", "name": "job-abc" },
            "status": { "phase": "Failed", "containerStatuses": statuses, "conditions": conditions },
        }))
        .expect("a pod")
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).expect("a policy")
    }

    #[test]
    fn fail_job_on_an_exit_code_says_which_container_and_rule() {
        let p = policy(json!([
            { "action": "Ignore", "onExitCodes": { "operator": "In", "values": [1] } },
            { "action": "FailJob", "onExitCodes": { "containerName": "main", "operator": "In", "values": [42] } },
        ]));
        let verdict = match_pod_failure_policy(Some(&p), &failed_pod(&[("side", 0), ("main", 42)], json!([])));
        assert_eq!(
            verdict.fail_job.as_deref(),
            Some("Container main for pod ns/job-abc failed with exit code 42 matching FailJob rule at index 1")
        );
        assert!(verdict.count);
        let ignored = match_pod_failure_policy(Some(&p), &failed_pod(&[("main", 1)], json!([])));
        assert_eq!(ignored, Verdict { fail_job: None, count: false, action: Some("Ignore".into()) });
        // Exit code 0 never matches, even with NotIn.
        let not_in = policy(json!([{ "action": "FailJob", "onExitCodes": { "operator": "NotIn", "values": [1] } }]));
        assert_eq!(match_pod_failure_policy(Some(&not_in), &failed_pod(&[("main", 0)], json!([]))), Verdict::DEFAULT);
        assert!(match_pod_failure_policy(Some(&not_in), &failed_pod(&[("main", 3)], json!([]))).fail_job.is_some());
    }

    #[test]
    fn pod_conditions_match_on_type_and_status() {
        let p = policy(json!([
            { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }] },
            { "action": "FailJob", "onPodConditions": [{ "type": "ConfigIssue", "status": "True" }] },
        ]));
        let disrupted = failed_pod(&[("main", 137)], json!([{ "type": "DisruptionTarget", "status": "True" }]));
        assert!(!match_pod_failure_policy(Some(&p), &disrupted).count);
        let config = failed_pod(&[("main", 1)], json!([{ "type": "ConfigIssue", "status": "True" }]));
        assert_eq!(
            match_pod_failure_policy(Some(&p), &config).fail_job.as_deref(),
            Some("Pod ns/job-abc has condition ConfigIssue matching FailJob rule at index 1")
        );
        let not_true = failed_pod(&[("main", 1)], json!([{ "type": "DisruptionTarget", "status": "False" }]));
        assert_eq!(match_pod_failure_policy(Some(&p), &not_true), Verdict::DEFAULT);
        assert_eq!(match_pod_failure_policy(None, &not_true), Verdict::DEFAULT);
    }

    #[test]
    fn success_policy_rules_match_indexes_and_counts() {
        let p: SuccessPolicy = serde_json::from_value(json!({ "rules": [
            { "succeededIndexes": "0,2-4", "succeededCount": 3 },
            { "succeededCount": 5 },
        ] }))
        .expect("a policy");
        let succeeded = |s: &str| Intervals::parse(s, 10);
        assert_eq!(match_success_policy(Some(&p), 10, &succeeded("0,3")), None);
        assert_eq!(
            match_success_policy(Some(&p), 10, &succeeded("0,2,4")).as_deref(),
            Some("Matched rules at index 0")
        );
        assert_eq!(match_success_policy(Some(&p), 10, &succeeded("5-9")).as_deref(), Some("Matched rules at index 1"));
        let all: SuccessPolicy =
            serde_json::from_value(json!({ "rules": [{ "succeededIndexes": "1-2" }] })).expect("a policy");
        assert_eq!(match_success_policy(Some(&all), 10, &succeeded("1")), None);
        assert!(match_success_policy(Some(&all), 10, &succeeded("0-3")).is_some());
        assert_eq!(match_success_policy(None, 10, &succeeded("0-3")), None);
    }
}
