//! `pods/binding`: how a scheduler assigns a pod to a node.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Request, json as respond};
use crate::object::{is_terminating, metadata_mut, now_rfc3339, uid};
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// POST of a Binding: sets the pod's node, the binding's annotations and PodScheduled=True.
pub async fn bind(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let pods = &target.resource;
    let name = target.name()?;
    let binding = request.json_body()?;
    let text = |pointer: &str| binding.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    if text("/metadata/name") != name {
        return Err(ApiError::bad_request("name in URL does not match name in Binding object"));
    }
    let (kind, node) = (text("/target/kind"), text("/target/name"));
    let mut errors = Vec::new();
    if !kind.is_empty() && kind != "Node" {
        errors.push(FieldError::not_supported("target.kind", kind.as_str(), &["Node", "<empty>"]));
    }
    if node.is_empty() {
        errors.push(FieldError::required("target.name", ""));
    }
    if !errors.is_empty() {
        let bindings = crate::registry::Resource { kind: "Binding", ..pods.clone() };
        return Err(ApiError::invalid_fields(&bindings, name, &errors));
    }
    // A binding is a create, which namespace lifecycle admission refuses in a terminating namespace.
    state.check_namespace_accepts(pods, target.ns(), name).await?;
    let want_uid = text("/metadata/uid");
    let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    let binding_resource = crate::registry::Resource { plural: "pods/binding", ..pods.clone() };
    let refuse = |why: String| ApiError::conflict_because(&binding_resource, name, &why);
    let change = |mut pod: Value| {
        if !want_uid.is_empty() && uid(&pod) != Some(want_uid.as_str()) {
            return Err(refuse(format!(
                "Precondition failed: UID in precondition: {want_uid}, UID in object meta: {}",
                uid(&pod).unwrap_or_default()
            )));
        }
        if is_terminating(&pod) {
            return Err(refuse(format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        let assigned = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
        if !assigned.is_empty() {
            return Err(refuse(format!("pod {name} is already assigned to node \"{assigned}\"")));
        }
        if pod.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()) {
            return Err(refuse(format!("pod {name} has non-empty .spec.schedulingGates")));
        }
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        if !annotations.is_empty() {
            let meta = metadata_mut(&mut pod)?;
            let existing = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(existing) = existing.as_object_mut() {
                existing.extend(annotations.clone());
            }
        }
        set_scheduled(&mut pod);
        Ok(Some(pod))
    };
    if !super::field_validation::dry_run(request)? {
        state.update_object(pods, target.ns(), name, change).await?;
    }
    let status = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 });
    Ok(respond(StatusCode::CREATED, &status))
}

/// Sets PodScheduled=True (upstream's UpdatePodCondition: the transition time only changes with the status).
fn set_scheduled(pod: &mut Value) {
    let Some(object) = pod.as_object_mut() else { return };
    let status = object.entry("status").or_insert_with(|| json!({}));
    let Some(status) = status.as_object_mut() else { return };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    let Some(conditions) = conditions.as_array_mut() else { return };
    let scheduled =
        json!({ "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339() });
    match conditions.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
        Some(condition) if condition.get("status").and_then(Value::as_str) == Some("True") => {}
        Some(condition) => *condition = scheduled,
        None => conditions.push(scheduled),
    }
}
