//! `fieldValidation` (Strict, Warn — the default — or Ignore) for unknown
//! fields in a write, and `dryRun`: the parts of a write request that are
//! about how it is checked rather than what it writes.

use axum::response::Response;
use serde_json::Value;

use super::Request;
use crate::object::remove_path;
use crate::openapi;
use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};

/// What the client asked to happen to unknown fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ignore,
    Warn,
    Strict,
}

fn mode(request: &Request) -> ApiResult<Mode> {
    match request.query.get("fieldValidation") {
        None | Some("Warn") => Ok(Mode::Warn),
        Some("Strict") => Ok(Mode::Strict),
        Some("Ignore") => Ok(Mode::Ignore),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

/// Unknown fields of a request body: 400 under Strict; otherwise they are
/// dropped (as decoding into the API types drops them) and, under Warn,
/// returned as warnings for the response.
pub fn check_body(request: &Request, resource: &Resource, object: &mut Value) -> ApiResult<Vec<String>> {
    let unknown = openapi::unknown_fields(resource.group, resource.version, resource.kind, object);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let mode = mode(request)?;
    if mode == Mode::Strict {
        return Err(ApiError::bad_request(openapi::decode_error_message(resource.kind, resource.version, &unknown)));
    }
    for path in &unknown {
        remove_path(object, path);
    }
    Ok(if mode == Mode::Warn {
        unknown.iter().map(|p| openapi::unknown_field_message(p)).collect()
    } else {
        Vec::new()
    })
}

/// The same for the result of a patch: under Strict, 422 on the patch.
pub fn check_patched(request: &Request, resource: &Resource, name: &str, object: &mut Value) -> ApiResult<Vec<String>> {
    check_body(request, resource, object).map_err(|error| {
        if error.code != 400 {
            return error;
        }
        let detail = openapi::strict_error_message(&openapi::unknown_fields(resource.group, resource.version, resource.kind, object));
        let message = format!(
            "{}{} \"{name}\" is invalid: patch: Invalid value: \"...\": {detail}",
            resource.kind,
            super::write::group_suffix(resource)
        );
        let cause = serde_json::json!({ "reason": "FieldValueInvalid", "message": format!("Invalid value: \"...\": {detail}"), "field": "patch" });
        ApiError::invalid(resource, name, message, vec![cause])
    })
}

/// Adds `Warning: 299 - "<text>"` headers, as kube-apiserver reports warnings.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
    response
}

/// Whether the request is a server-side dry run (`dryRun=All`): everything but the write.
pub fn dry_run(request: &Request) -> ApiResult<bool> {
    match request.query.get("dryRun") {
        None => Ok(false),
        Some("All") => Ok(true),
        Some(other) => {
            Err(ApiError::bad_request(format!("dryRun: Unsupported value: \"{other}\": supported values: \"All\"")))
        }
    }
}
