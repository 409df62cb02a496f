//! The Priority admission plugin: a new pod's priority and preemption
//! policy come from its PriorityClass, or from the class marked
//! globalDefault; the two system classes exist from the start.

use serde_json::{Value, json};

use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};

/// kube-apiserver's built-in PriorityClasses: name, value, description.
pub const SYSTEM_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The system classes as objects, to be created at start.
pub fn system_classes() -> Vec<Value> {
    SYSTEM_CLASSES
        .iter()
        .map(|(name, value, description)| {
            json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": { "name": name }, "value": value, "description": description,
                "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority",
            })
        })
        .collect()
}

/// Sets a new pod's `priority`, `preemptionPolicy` (and, from a global default,
/// `priorityClassName`); 403 for an unknown class or values that contradict it.
pub async fn admit_pod(state: &ApiState, pods: &Resource, name: &str, pod: &mut Value) -> ApiResult<()> {
    let classes =
        state.registry.get("scheduling.k8s.io", "v1", "priorityclasses").ok_or_else(ApiError::no_such_path)?;
    let wanted = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or_default().to_owned();
    let class = if wanted.is_empty() {
        let cache = state.caches.get(classes).await?;
        let (all, _) = cache.list(&classes.prefix(None));
        all.iter().find(|c| c.get("globalDefault") == Some(&Value::Bool(true))).map(|c| (**c).clone())
    } else {
        match state.objects.get(classes, None, &wanted).await {
            Ok(class) => Some(class),
            Err(e) if e.code == 404 => {
                return Err(ApiError::forbidden(pods, name, &format!("no PriorityClass with name {wanted} was found")));
            }
            Err(e) => return Err(e),
        }
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    let (value, policy) = match &class {
        Some(class) => (
            class.get("value").and_then(Value::as_i64).unwrap_or(0),
            class.get("preemptionPolicy").and_then(Value::as_str).unwrap_or("PreemptLowerPriority").to_owned(),
        ),
        None => (0, "PreemptLowerPriority".to_owned()),
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        let why = format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
        );
        return Err(ApiError::forbidden(pods, name, &why));
    }
    if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
        && class.is_some()
        && given != policy
    {
        let why = format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
        );
        return Err(ApiError::forbidden(pods, name, &why));
    }
    if let Some(class) = &class
        && wanted.is_empty()
        && let Some(class_name) = crate::object::name(class)
    {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(value));
    spec.entry("preemptionPolicy").or_insert_with(|| json!(policy));
    Ok(())
}
