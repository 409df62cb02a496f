//! PodDisruptionBudgets as preemption reads them: which would-be victims
//! would take a budget below zero disruptions allowed (upstream's
//! filterPodsWithPDBViolation). The budgets' status comes from the
//! disruption controller; a budget it has not counted yet allows none.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::PodInfo;
use super::selectors::{is_empty_selector, selector_matches, validate_selector};

/// What preemption needs of one PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq)]
pub struct DisruptionBudget {
    pub namespace: String,
    /// `None` for a selector upstream cannot convert, or a nil or empty one: it matches no pod.
    pub selector: Option<LabelSelector>,
    pub disruptions_allowed: i32,
    /// Pods the API server has already let go (status.disruptedPods): not counted again.
    pub disrupted_pods: BTreeSet<String>,
}

impl DisruptionBudget {
    pub fn new(budget: &PodDisruptionBudget) -> Self {
        let selector = budget.spec.as_ref().and_then(|s| s.selector.clone());
        let usable = selector.filter(|s| validate_selector(s).is_ok() && !is_empty_selector(Some(s)));
        let status = budget.status.as_ref();
        Self {
            namespace: budget.metadata.namespace.clone().unwrap_or_default(),
            selector: usable,
            disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect(),
        }
    }

    fn covers(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace && self.selector.as_ref().is_some_and(|s| selector_matches(s, &pod.labels))
    }
}

/// Splits `pods` (in the order given) into those whose eviction would
/// violate a budget, counting down each budget as its pods are taken, and the others.
pub fn split_by_violation<'a>(
    pods: Vec<Arc<PodInfo>>,
    budgets: impl IntoIterator<Item = &'a DisruptionBudget>,
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let budgets: Vec<&DisruptionBudget> = budgets.into_iter().collect();
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.disruptions_allowed).collect();
    let (mut violating, mut others) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violates = false;
        if !pod.labels.is_empty() {
            for (budget, allowed) in budgets.iter().zip(allowed.iter_mut()) {
                if budget.covers(&pod) && !budget.disrupted_pods.contains(&pod.name) {
                    *allowed -= 1;
                    violates |= *allowed < 0;
                }
            }
        }
        match violates {
            true => violating.push(pod),
            false => others.push(pod),
        }
    }
    (violating, others)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::plugins::testing::pod;

    fn budget(namespace: &str, selector: Value, allowed: i32, disrupted: &[&str]) -> DisruptionBudget {
        let disrupted: serde_json::Map<String, Value> =
            disrupted.iter().map(|p| ((*p).to_owned(), json!("2026-01-01T00:00:00Z"))).collect();
        DisruptionBudget::new(
            &serde_json::from_value(json!({
                "metadata": { "name": "pdb", "namespace": namespace },
                "spec": { "selector": selector },
                "status": { "disruptionsAllowed": allowed, "disruptedPods": disrupted,
                    "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0 },
            }))
            .expect("a budget"),
        )
    }

    fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    fn web(name: &str) -> Arc<PodInfo> {
        Arc::new(pod(name, json!({ "labels": { "app": "web" } })))
    }

    #[test]
    fn pods_beyond_the_disruptions_allowed_violate_in_the_order_given() {
        let pods = vec![web("a"), web("b"), web("c"), Arc::new(pod("plain", json!({})))];
        let one = budget("default", json!({ "matchLabels": { "app": "web" } }), 1, &[]);
        let (violating, others) = split_by_violation(pods.clone(), [&one]);
        assert_eq!((names(&violating), names(&others)), (vec!["b", "c"], vec!["a", "plain"]));

        // Already disrupted pods are not counted again; other namespaces and empty selectors match nothing.
        let counted = budget("default", json!({ "matchLabels": { "app": "web" } }), 1, &["a"]);
        let (violating, _) = split_by_violation(pods.clone(), [&counted]);
        assert_eq!(names(&violating), ["c"]);
        let elsewhere = budget("other", json!({ "matchLabels": { "app": "web" } }), 0, &[]);
        let empty = budget("default", json!({}), 0, &[]);
        let invalid = budget("default", json!({ "matchExpressions": [{ "key": "app", "operator": "In" }] }), 0, &[]);
        let (violating, _) = split_by_violation(pods, [&elsewhere, &empty, &invalid]);
        assert!(violating.is_empty(), "{:?}", names(&violating));
    }

    #[test]
    fn a_budget_without_status_allows_no_disruption() {
        let fresh = DisruptionBudget::new(
            &serde_json::from_value(json!({ "metadata": { "name": "pdb", "namespace": "default" },
                "spec": { "selector": { "matchLabels": { "app": "web" } } } }))
            .expect("a budget"),
        );
        let (violating, _) = split_by_violation(vec![web("a")], [&fresh]);
        assert_eq!(names(&violating), ["a"]);
    }
}
