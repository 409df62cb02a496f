//! Reading and writing the metadata of objects kept as JSON.

use serde_json::{Map, Value, json};

use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};

/// `metadata`, created if missing (an object must be a JSON object already).
pub fn metadata_mut(object: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    let Value::Object(map) = object else {
        return Err(ApiError::bad_request("the object is not a JSON object"));
    };
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        return Err(ApiError::bad_request("metadata must be a JSON object"));
    }
    meta.as_object_mut().ok_or_else(|| ApiError::bad_request("metadata must be a JSON object"))
}

/// A string field of `metadata`.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

pub fn name(object: &Value) -> Option<&str> {
    meta_str(object, "name").filter(|n| !n.is_empty())
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace").filter(|n| !n.is_empty())
}

pub fn resource_version(object: &Value) -> Option<&str> {
    meta_str(object, "resourceVersion").filter(|rv| !rv.is_empty())
}

pub fn uid(object: &Value) -> Option<&str> {
    meta_str(object, "uid").filter(|uid| !uid.is_empty())
}

/// The labels of an object (empty if none or malformed).
pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.get("labels")?.as_object()
}

/// Whether the object carries finalizers.
pub fn has_finalizers(object: &Value) -> bool {
    object.get("metadata").and_then(|m| m.get("finalizers")).and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// Whether the object is being deleted.
pub fn is_terminating(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// Parses a resourceVersion as the store revision it is.
pub fn parse_resource_version(rv: &str) -> ApiResult<i64> {
    rv.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| {
        ApiError::bad_request(format!("invalid resource version: strconv.ParseUint: parsing \"{rv}\": invalid syntax"))
    })
}

/// Checks that the body's `kind` and `apiVersion`, when given, are this resource's.
pub fn check_type(resource: &Resource, object: &mut Value) -> ApiResult<()> {
    let api_version = resource.api_version();
    let body_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
    let body_kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    if (!body_version.is_empty() && body_version != api_version)
        || (!body_kind.is_empty() && body_kind != resource.kind)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({body_version}) does not match the expected API version ({api_version})"
        ))
        .kind_mismatch(resource, &body_kind));
    }
    if let Value::Object(map) = object {
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(resource.kind));
    }
    Ok(())
}

impl ApiError {
    /// Upstream words a wrong kind differently from a wrong version.
    fn kind_mismatch(self, resource: &Resource, body_kind: &str) -> Self {
        if body_kind.is_empty() || body_kind == resource.kind {
            return self;
        }
        ApiError::bad_request(format!(
            "the kind in the data ({body_kind}) does not match the expected kind ({})",
            resource.kind
        ))
    }
}

/// The current time as kube-apiserver writes timestamps (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Removes the field at a path as upstream names fields in messages
/// (`spec.template.spec.containers[0].imagePullPolicyy`); a no-op if absent.
pub fn remove_path(object: &mut Value, path: &str) {
    let mut steps: Vec<Result<&str, usize>> = Vec::new();
    for segment in path.split('.') {
        let (name, indices) = segment.split_once('[').map_or((segment, ""), |(n, rest)| (n, rest));
        if !name.is_empty() {
            steps.push(Ok(name));
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            match index.trim_end_matches(']').parse::<usize>() {
                Ok(i) => steps.push(Err(i)),
                Err(_) => return,
            }
        }
    }
    let Some((last, parents)) = steps.split_last() else { return };
    let mut node = object;
    for step in parents {
        let next = match step {
            Ok(key) => node.get_mut(*key),
            Err(index) => node.get_mut(*index),
        };
        match next {
            Some(next) => node = next,
            None => return,
        }
    }
    match (last, node) {
        (Ok(key), Value::Object(map)) => {
            map.remove(*key);
        }
        (Err(index), Value::Array(list)) if *index < list.len() => {
            list.remove(*index);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn remove_path_follows_upstream_field_paths() {
        let mut object = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "a", "typo": 1 }] } } }, "extra": true });
        remove_path(&mut object, "spec.template.spec.containers[0].typo");
        remove_path(&mut object, "extra");
        remove_path(&mut object, "missing.field[3]");
        assert_eq!(object, json!({ "spec": { "template": { "spec": { "containers": [{ "name": "a" }] } } } }));
    }
}
