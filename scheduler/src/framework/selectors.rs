//! Label selectors and node selector terms, matched as upstream matches them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Labels of an object (empty when it has none).
pub type Labels = BTreeMap<String, String>;

/// Whether a metav1.LabelSelector selects `labels`. An empty selector selects
/// everything; an unknown operator selects nothing (upstream refuses those).
pub fn selector_matches(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_label = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(&e.key),
                "DoesNotExist" => !labels.contains_key(&e.key),
                _ => false,
            }
        })
}

/// Refuses the selectors upstream cannot convert (unknown operators, values where none belong).
pub fn validate_selector(selector: &LabelSelector) -> Result<(), String> {
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default().len();
        let valid = match requirement.operator.as_str() {
            "In" | "NotIn" => values > 0,
            "Exists" | "DoesNotExist" => values == 0,
            _ => false,
        };
        if !valid {
            return Err(format!(
                "invalid label selector requirement {:?} {} with {values} value(s)",
                requirement.key, requirement.operator
            ));
        }
    }
    Ok(())
}

/// Whether a selector is the nil-or-empty one that selects nothing in affinity terms.
pub fn is_empty_selector(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    })
}

/// One node selector requirement against a node's labels (matchExpressions).
fn requirement_matches_labels(requirement: &NodeSelectorRequirement, labels: &Labels) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let value = labels.get(&requirement.key);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt/Lt take exactly one integer value and compare the label as an integer.
        "Gt" | "Lt" => {
            let (Some(label), [bound]) = (value.and_then(|v| v.parse::<i64>().ok()), values) else { return false };
            let Ok(bound) = bound.parse::<i64>() else { return false };
            if requirement.operator == "Gt" { label > bound } else { label < bound }
        }
        _ => false,
    }
}

/// One requirement against the node's fields (matchFields: only metadata.name, with In/NotIn).
fn requirement_matches_fields(requirement: &NodeSelectorRequirement, node_name: &str) -> bool {
    if requirement.key != "metadata.name" {
        return false;
    }
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => values.len() == 1 && values[0] == node_name,
        "NotIn" => values.len() == 1 && values[0] != node_name,
        _ => false,
    }
}

/// Whether one term matches: all of its expressions and fields. A term with
/// neither matches no node.
pub fn term_matches(term: &NodeSelectorTerm, labels: &Labels, node_name: &str) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions.iter().all(|r| requirement_matches_labels(r, labels))
        && fields.iter().all(|r| requirement_matches_fields(r, node_name))
}

/// Whether any of the terms matches (the terms are ORed).
pub fn any_term_matches(terms: &[NodeSelectorTerm], labels: &Labels, node_name: &str) -> bool {
    terms.iter().any(|t| term_matches(t, labels, node_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn node_selector_operators() {
        let node = labels(&[("zone", "a"), ("cores", "8")]);
        let term =
            |r: NodeSelectorRequirement| NodeSelectorTerm { match_expressions: Some(vec![r]), match_fields: None };
        assert!(term_matches(&term(requirement("zone", "In", &["a", "b"])), &node, "n1"));
        assert!(!term_matches(&term(requirement("zone", "NotIn", &["a"])), &node, "n1"));
        assert!(term_matches(&term(requirement("gpu", "NotIn", &["x"])), &node, "n1"), "NotIn matches a missing label");
        assert!(term_matches(&term(requirement("cores", "Gt", &["4"])), &node, "n1"));
        assert!(!term_matches(&term(requirement("cores", "Lt", &["4"])), &node, "n1"));
        assert!(!term_matches(&term(requirement("zone", "Gt", &["4"])), &node, "n1"), "a non-integer label");
        assert!(term_matches(&term(requirement("gpu", "DoesNotExist", &[])), &node, "n1"));
        let empty = NodeSelectorTerm { match_expressions: None, match_fields: None };
        assert!(!term_matches(&empty, &node, "n1"), "an empty term matches nothing");
        let by_name = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement("metadata.name", "In", &["n1"])]),
        };
        assert!(term_matches(&by_name, &node, "n1") && !term_matches(&by_name, &node, "n2"));
    }

    #[test]
    fn label_selectors() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let selector: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": { "app": "web" },
            "matchExpressions": [{ "key": "tier", "operator": "In", "values": ["front", "back"] }],
        }))
        .expect("selector");
        assert!(selector_matches(&selector, &pod));
        assert!(selector_matches(&LabelSelector::default(), &pod), "empty selects everything");
        assert!(is_empty_selector(Some(&LabelSelector::default())) && is_empty_selector(None));
    }
}
