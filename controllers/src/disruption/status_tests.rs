use serde_json::json;

use super::*;

fn at(secs: i64) -> Timestamp {
    "2026-01-01T00:00:00Z".parse::<Timestamp>().expect("time") + SignedDuration::from_secs(secs)
}

fn pdb(spec: serde_json::Value, status: serde_json::Value) -> PodDisruptionBudget {
    serde_json::from_value(json!({ "metadata": { "name": "b", "namespace": "ns", "generation": 2 },
                                   "spec": spec, "status": status }))
    .expect("pdb")
}

fn pod(name: &str, ready: bool) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({ "metadata": { "name": name }, "status": { "conditions": [
            { "type": "Ready", "status": if ready { "True" } else { "False" } }] } }))
        .expect("pod"),
    )
}

#[test]
fn percentages_round_up_and_other_strings_are_refused() {
    assert_eq!(scaled_value(&IntOrString::Int(3), 10, true), Ok(3));
    assert_eq!(scaled_value(&IntOrString::String("50%".into()), 5, true), Ok(3));
    assert_eq!(scaled_value(&IntOrString::String("50%".into()), 5, false), Ok(2));
    assert_eq!(scaled_value(&IntOrString::String("100%".into()), 7, true), Ok(7));
    assert_eq!(scaled_value(&IntOrString::String("0%".into()), 7, true), Ok(0));
    assert_eq!(
        scaled_value(&IntOrString::String("5".into()), 7, true),
        Err("invalid value for IntOrString: invalid type: string is not a percentage".to_owned())
    );
    assert!(scaled_value(&IntOrString::String("x%".into()), 7, true).is_err());
}

#[test]
fn min_available_counts_pods_and_max_unavailable_the_controllers_scale() {
    let min_int = pdb(json!({ "minAvailable": 2 }), json!({}));
    assert!(!needs_scale(&min_int));
    assert_eq!(expected_and_desired(&min_int, 4, 0), Ok((4, 2)));
    let min_percent = pdb(json!({ "minAvailable": "50%" }), json!({}));
    assert!(needs_scale(&min_percent));
    assert_eq!(expected_and_desired(&min_percent, 4, 5), Ok((5, 3)));
    let max_int = pdb(json!({ "maxUnavailable": 1 }), json!({}));
    assert_eq!(expected_and_desired(&max_int, 4, 5), Ok((5, 4)));
    let max_percent = pdb(json!({ "maxUnavailable": "30%" }), json!({}));
    assert_eq!(expected_and_desired(&max_percent, 4, 10), Ok((10, 7)));
    let max_all = pdb(json!({ "maxUnavailable": 9 }), json!({}));
    assert_eq!(expected_and_desired(&max_all, 4, 5), Ok((5, 0)), "never below zero");
    assert_eq!(expected_and_desired(&pdb(json!({}), json!({})), 4, 5), Ok((0, 0)));
}

#[test]
fn pending_disruptions_expire_after_two_minutes_and_only_for_live_pods() {
    let budget = pdb(
        json!({ "minAvailable": 1 }),
        json!({ "disruptedPods": {
        "a": "2026-01-01T00:00:00Z", "b": "2026-01-01T00:01:00Z", "gone": "2026-01-01T00:01:00Z" } }),
    );
    let pods = [pod("a", true), pod("b", true), pod("c", true)];
    let (pending, recheck, overdue) = pending_disruptions(&budget, &pods, at(150));
    assert_eq!(pending.keys().collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(recheck, Some(at(180)));
    assert_eq!(overdue, vec!["a".to_owned()]);
    assert_eq!(count_healthy(&pods, &pending, at(150)), 2, "b is about to go");
    assert_eq!(count_healthy(&pods, &pending, at(180)), 3);
}

#[test]
fn disruptions_allowed_is_the_surplus_of_healthy_pods_with_its_condition() {
    let budget = pdb(json!({ "minAvailable": 2 }), json!({}));
    let counts = |healthy, expected| Counts {
        current_healthy: healthy,
        desired_healthy: 2,
        expected,
        disrupted: BTreeMap::new(),
    };
    let status = next_status(&budget, counts(3, 3), at(0)).expect("a first status");
    assert_eq!((status.disruptions_allowed, status.observed_generation), (1, Some(2)));
    let condition = &status.conditions.clone().unwrap_or_default()[0];
    assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("True", SUFFICIENT_PODS));
    let mut current = budget.clone();
    current.status = Some(status);
    assert_eq!(next_status(&current, counts(3, 3), at(5)), None, "up to date");
    let short = next_status(&current, counts(1, 3), at(5)).expect("fewer healthy");
    assert_eq!(short.disruptions_allowed, 0);
    let condition = &short.conditions.clone().unwrap_or_default()[0];
    assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("False", INSUFFICIENT_PODS));
    assert_eq!(condition.last_transition_time.0, at(5));
    assert_eq!(next_status(&budget, counts(3, 0), at(0)).map(|s| s.disruptions_allowed), Some(0), "no expected pods");
    let failed = fail_safe(&current, "found no controllers for pod \"x\"", at(9));
    let condition = &failed.conditions.clone().unwrap_or_default()[0];
    assert_eq!((failed.disruptions_allowed, condition.reason.as_str()), (0, SYNC_FAILED));
    assert_eq!(condition.message, "found no controllers for pod \"x\"");
}
