//! The Pod mutations of two admission plugins that every cluster runs and users see on new pods:
//! ServiceAccount (`serviceAccountName: default`) and Priority (`priority` and `preemptionPolicy`).

use serde_json::{Value, json};

use super::json::{Obj, default_ptr, get_str, str_is_empty};

/// The built-in PriorityClasses kube-apiserver creates at startup.
const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] =
    &[("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)];

/// Mutates a new Pod as the ServiceAccount and Priority admission plugins do.
pub(crate) fn admit_pod(pod: &mut Obj) {
    let mirror = pod
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("kubernetes.io/config.mirror"))
        .is_some();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    if !mirror {
        default_service_account(spec);
        super::token_volume::mount_service_account_token(spec);
    }
    default_priority(spec);
    default_toleration_seconds(spec);
}

/// How long pods stay on a not-ready or unreachable node (DefaultTolerationSeconds' default).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// DefaultTolerationSeconds: a pod that does not tolerate the not-ready or
/// unreachable NoExecute taints gets a toleration of each for 300 s.
fn default_toleration_seconds(spec: &mut Obj) {
    let tolerations = spec.entry("tolerations").or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = tolerations.as_array_mut() else { return };
    let tolerates = |list: &[Value], key: &str| {
        list.iter().any(|t| {
            let t_key = t.get("key").and_then(Value::as_str).unwrap_or_default();
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
            (t_key == key || t_key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        })
    };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        if !tolerates(list, key) {
            list.push(json!({ "key": key, "operator": "Exists", "effect": "NoExecute",
                              "tolerationSeconds": DEFAULT_TOLERATION_SECONDS }));
        }
    }
}

fn default_service_account(spec: &mut Obj) {
    if str_is_empty(spec, "serviceAccountName") && str_is_empty(spec, "serviceAccount") {
        spec.insert("serviceAccountName".into(), Value::from("default"));
    }
    if str_is_empty(spec, "serviceAccountName")
        && let Some(name) = get_str(spec, "serviceAccount").map(str::to_owned)
    {
        spec.insert("serviceAccountName".into(), Value::from(name));
    }
    if let Some(name) = get_str(spec, "serviceAccountName").map(str::to_owned) {
        spec.insert("serviceAccount".into(), Value::from(name));
    }
}

/// Without a class a pod gets priority 0 (assuming no globalDefault PriorityClass exists); the
/// built-in system classes are resolved here; any other class needs a lookup and is left alone.
fn default_priority(spec: &mut Obj) {
    let value = if str_is_empty(spec, "priorityClassName") {
        0
    } else {
        let class = get_str(spec, "priorityClassName").unwrap_or_default();
        match SYSTEM_PRIORITY_CLASSES.iter().find(|(name, _)| *name == class) {
            Some((_, value)) => *value,
            None => return,
        }
    };
    default_ptr(spec, "priority", json!(value));
    default_ptr(spec, "preemptionPolicy", Value::from("PreemptLowerPriority"));
}
