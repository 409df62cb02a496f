//! Placeholder until the patch module lands.
use serde_json::Value;
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    let mut out = original.clone();
    json_patch::merge(&mut out, patch);
    out
}
#[derive(Debug, thiserror::Error)]
#[error("strategic merge patch is not supported yet")]
pub struct StrategicPatchError;
pub fn strategic_merge_patch(
    _g: &str,
    _k: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, StrategicPatchError> {
    Ok(merge_patch(original, patch))
}
