//! The `scale` subresource (autoscaling/v1 Scale) of deployments,
//! replicasets, statefulsets and replicationcontrollers, as `kubectl scale`
//! and autoscalers use it.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Request, json as respond};
use crate::object::parse_resource_version;
use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use crate::storage::revision_of;

/// The label selector of a workload as the Scale's `status.selector` string.
fn selector_string(object: &Value) -> String {
    let selector = object.pointer("/spec/selector");
    let labels = selector.and_then(|s| s.get("matchLabels")).or(selector).and_then(Value::as_object);
    let mut terms: Vec<String> = labels
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}"))).collect())
        .unwrap_or_default();
    for expression in selector.and_then(|s| s.get("matchExpressions")).and_then(Value::as_array).into_iter().flatten() {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expression.get("operator").and_then(Value::as_str).unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        });
    }
    terms.sort();
    terms.join(",")
}

/// The Scale view of a workload.
pub fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut scale_meta = Map::new();
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(value) = meta.get(field) {
            scale_meta.insert(field.to_owned(), value.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": { "replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) },
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(object),
        },
    })
}

fn replicas(scale: &Value, resource: &Resource, name: &str) -> ApiResult<i64> {
    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas < 0 {
        let message = format!(
            "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        );
        let cause = json!({ "reason": "FieldValueInvalid", "message": format!("Invalid value: {replicas}: must be greater than or equal to 0"), "field": "spec.replicas" });
        return Err(ApiError::invalid(resource, name, message, vec![cause]));
    }
    Ok(replicas)
}

/// GET, PUT or PATCH of `<workload>/scale`.
pub async fn scale(state: &ApiState, request: &Request, method: &http::Method) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    let name = target.name()?;
    let namespace = target.ns();
    if method == http::Method::GET {
        let object = state.objects.get(resource, namespace, name).await?;
        return Ok(respond(StatusCode::OK, &scale_of(&object)));
    }
    let body: Value = if method == http::Method::PUT {
        request.json_body()?
    } else {
        serde_json::from_slice(&request.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    let stored = state
        .update_object(resource, namespace, name, |mut current| {
            let current_scale = scale_of(&current);
            let wanted = if method == http::Method::PUT {
                if let Some(rv) =
                    body.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty())
                    && Some(parse_resource_version(rv)?) != revision_of(&current).ok()
                {
                    return Err(ApiError::conflict(resource, name));
                }
                body.clone()
            } else {
                crate::patch::merge_patch(&current_scale, &body)
            };
            let replicas = replicas(&wanted, resource, name)?;
            if current.pointer("/spec/replicas").and_then(Value::as_i64) == Some(replicas) {
                return Ok(None);
            }
            let Some(spec) = current.get_mut("spec").and_then(Value::as_object_mut) else {
                return Err(ApiError::bad_request("the object has no spec"));
            };
            spec.insert("replicas".into(), json!(replicas));
            let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0) + 1;
            crate::object::metadata_mut(&mut current)?.insert("generation".into(), json!(generation));
            Ok(Some(current))
        })
        .await?;
    Ok(respond(StatusCode::OK, &scale_of(&stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_reports_replicas_and_the_selector_as_a_string() {
        let deployment = json!({
            "metadata": { "name": "web", "namespace": "default", "resourceVersion": "7" },
            "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web", "tier": "front" },
                "matchExpressions": [{ "key": "env", "operator": "In", "values": ["a", "b"] }] } },
            "status": { "replicas": 2 },
        });
        let scale = scale_of(&deployment);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"], json!({ "replicas": 2, "selector": "app=web,env in (a,b),tier=front" }));
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
    }
}
