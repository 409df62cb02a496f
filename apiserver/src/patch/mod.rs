//! The API server's patch engines over `serde_json::Value`: JSON merge patch (RFC 7386) and Kubernetes
//! strategic merge patch as kube-apiserver applies it (k8s.io/apimachinery/pkg/util/strategicpatch,
//! `StrategicMergeMapPatch`), with the patch metadata of the built-in kinds in a static table.

mod error;
mod merge;
mod order;
mod schema;
mod strategic;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_kubectl;

use serde_json::{Map, Value};

pub use error::StrategicPatchError;
pub use merge::merge_patch;

/// Whether kube-apiserver accepts `application/strategic-merge-patch+json` for this kind: true for the
/// built-in API groups, false for custom resources, which it refuses with 415 Unsupported Media Type
/// ("the body of the request was in an unknown format - accepted media types include:
/// application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml").
pub fn supports_strategic_merge(group: &str, _kind: &str) -> bool {
    schema::is_built_in_group(group)
}

/// Applies a strategic merge patch to `original`, an object of `kind` in API `group` ("" for core).
///
/// Kinds not in the schema table are patched with the metadata of `metadata` alone, i.e. JSON-merge
/// semantics plus the directives. A `null` patch leaves the object unchanged. Directive keys left over
/// where patch values are stored verbatim are removed, as kube-apiserver's decoding into Go types does.
pub fn strategic_merge_patch(
    group: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, StrategicPatchError> {
    let patch = match patch {
        Value::Object(patch) => patch.clone(),
        Value::Null => return Ok(original.clone()),
        Value::Array(_) => return Err(StrategicPatchError::NotAnObject("array")),
        Value::String(_) => return Err(StrategicPatchError::NotAnObject("string")),
        Value::Number(_) => return Err(StrategicPatchError::NotAnObject("number")),
        Value::Bool(_) => return Err(StrategicPatchError::NotAnObject("bool")),
    };
    let original = original.as_object().cloned().unwrap_or_else(Map::new);
    let ty = Some(schema::root_type(group, kind));
    let mut merged = Value::Object(strategic::merge_map(original, patch, ty)?);
    strategic::strip_directives(&mut merged, ty);
    Ok(merged)
}
