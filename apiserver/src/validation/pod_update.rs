//! The parts of ValidatePodUpdate that compare the old and new specs.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::access::Errs;
use super::field::FieldError;

fn list<'a>(spec: &'a Value, key: &str) -> &'a [Value] {
    spec.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// validateOnlyAddedTolerations and validateOnlyDeletedSchedulingGates.
pub fn validate_tolerations_and_gates(errs: &mut Errs, spec: &Value, old_spec: &Value) {
    let same_toleration =
        |a: &Value, b: &Value| ["key", "operator", "value", "effect"].iter().all(|k| text(a, k) == text(b, k));
    let new_tolerations = list(spec, "tolerations");
    if list(old_spec, "tolerations").iter().any(|old| !new_tolerations.iter().any(|new| same_toleration(old, new))) {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let new_gates = list(spec, "schedulingGates");
    let old_gates: BTreeSet<&str> = list(old_spec, "schedulingGates").iter().map(|g| text(g, "name")).collect();
    let mut added: Vec<(usize, &str)> = Vec::new();
    for (i, gate) in new_gates.iter().enumerate() {
        let name = text(gate, "name");
        if !old_gates.contains(name) {
            added.retain(|(_, n)| *n != name);
            added.push((i, name));
        }
    }
    for (i, name) in added {
        errs.push(FieldError::forbidden(
            &format!("spec.schedulingGates[{i}].name"),
            format!("only deletion is allowed, but found new scheduling gate '{name}'"),
        ));
    }
}

/// The new spec with every field a user may change put back to its old
/// value; null fields and empty lists dropped (Semantic.DeepEqual treats
/// nil and empty alike).
pub fn munge(spec: &Value, old_spec: &Value) -> Value {
    let mut munged = spec.clone();
    let Some(map) = munged.as_object_mut() else { return normalize(&munged) };
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = map.get_mut(key) {
            for (i, container) in containers.iter_mut().enumerate() {
                let old_image = list(old_spec, key).get(i).and_then(|c| c.get("image")).cloned();
                if let (Some(c), Some(image)) = (container.as_object_mut(), old_image) {
                    c.insert("image".into(), image);
                }
            }
        }
    }
    for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        restore(map, old_spec, key);
    }
    let old_grace = old_spec.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    let new_grace = map.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
        restore(map, old_spec, "terminationGracePeriodSeconds");
    }
    if !list(old_spec, "schedulingGates").is_empty() {
        restore(map, old_spec, "nodeSelector");
        let old_node_affinity = old_spec.pointer("/affinity/nodeAffinity").cloned();
        if let Some(Value::Object(affinity)) = map.get_mut("affinity") {
            match old_node_affinity {
                Some(node_affinity) => affinity.insert("nodeAffinity".into(), node_affinity),
                None => affinity.remove("nodeAffinity"),
            };
            if affinity.is_empty() && old_spec.get("affinity").is_none() {
                map.remove("affinity");
            }
        }
    }
    normalize(&munged)
}

fn restore(map: &mut Map<String, Value>, old_spec: &Value, key: &str) {
    match old_spec.get(key) {
        Some(value) => map.insert(key.to_string(), value.clone()),
        None => map.remove(key),
    };
}

/// Drops null members and empty lists, recursively.
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && !v.as_array().is_some_and(Vec::is_empty))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// A go-cmp-like diff of two pod specs, one line per changed field (go-cmp's
/// own output is deliberately unstable, so only its shape is kept).
pub fn diff(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
    let mut out = String::from("  core.PodSpec{\n");
    for key in keys {
        let (before, after) = (old_map.get(key), new_map.get(key));
        if before == after {
            continue;
        }
        let name = go_field_name(key);
        if let Some(before) = before {
            out.push_str(&format!("- \t{name}: {before},\n"));
        }
        if let Some(after) = after {
            out.push_str(&format!("+ \t{name}: {after},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

fn go_field_name(json_name: &str) -> String {
    match json_name {
        "dnsPolicy" => "DNSPolicy".to_string(),
        "dnsConfig" => "DNSConfig".to_string(),
        "hostPID" => "HostPID".to_string(),
        "hostIPC" => "HostIPC".to_string(),
        "os" => "OS".to_string(),
        other => {
            let mut chars = other.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        }
    }
}
