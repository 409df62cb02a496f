//! POST (create), PUT (update) and PATCH.

use axum::response::Response;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::Value;

use super::field_validation::{check_body, check_patched, dry_run, with_warnings};
use super::{Request, json as respond};
use crate::object::{check_type, name as object_name, namespace as object_namespace, resource_version};
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use crate::storage::revision_of;
use crate::strategy::{prepare_for_create, prepare_for_update, unchanged};

pub use super::delete::{delete, delete_collection};

/// Random suffixes for generateName: lower-case consonants and digits, as upstream.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(prefix: &str) -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String =
        bytes.iter().take(5).map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char).collect();
    format!("{prefix}{suffix}")
}

/// The namespace a write goes to: the path's, which the body may repeat but not contradict.
fn write_namespace(request: &Request, object: &Value) -> ApiResult<Option<String>> {
    let target = &request.target;
    if !target.resource.namespaced {
        return Ok(None);
    }
    let path = target.namespace.clone().ok_or_else(ApiError::method_not_allowed)?;
    match object_namespace(object) {
        Some(body) if body != path => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(Some(path)),
    }
}

/// POST: creates an object in the collection.
pub async fn create(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    if target.subresource.is_some() || !resource.supports("create") {
        return Err(ApiError::method_not_allowed());
    }
    let mut object = request.json_body()?;
    check_type(resource, &mut object)?;
    let warnings = check_body(request, resource, &mut object)?;
    let dry_run = dry_run(request)?;
    let namespace = write_namespace(request, &object)?;
    let generate = crate::object::meta_str(&object, "generateName").map(str::to_owned);
    let name = match (object_name(&object), &generate) {
        (Some(name), _) => name.to_owned(),
        (None, Some(prefix)) if !prefix.is_empty() => generated_name(prefix),
        _ => {
            return Err(ApiError::invalid(
                resource,
                "",
                format!(
                    "{}{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    resource.kind,
                    group_suffix(resource)
                ),
                vec![
                    serde_json::json!({ "reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name" }),
                ],
            ));
        }
    };
    let admitted_name = object_name(&object).unwrap_or_default();
    state.check_namespace_accepts(resource, namespace.as_deref(), admitted_name).await?;
    if (resource.group, resource.plural) == ("", "pods") {
        crate::priority::admit_pod(state, resource, &name, &mut object).await?;
    }
    prepare_for_create(resource, &mut object, namespace.as_deref(), &name)?;
    // Cluster IPs and node ports are taken before validation, as upstream, and given back if nothing is stored.
    let taken = state.services.on_create(resource, &mut object).await?;
    let stored = store_new(state, resource, namespace.as_deref(), &name, object, dry_run).await;
    if dry_run || stored.is_err() {
        state.services.give_back(taken).await;
    }
    Ok(with_warnings(respond(StatusCode::CREATED, &stored?), &warnings))
}

/// Admits and stores a new object (a dry run only checks the name is free).
async fn store_new(
    state: &ApiState,
    resource: &crate::registry::Resource,
    namespace: Option<&str>,
    name: &str,
    mut object: Value,
    dry_run: bool,
) -> ApiResult<Value> {
    state.admit(resource, &mut object, None)?;
    if !dry_run {
        return state.objects.create(resource, namespace, name, object).await;
    }
    if state.objects.get(resource, namespace, name).await.is_ok() {
        return Err(ApiError::already_exists(resource, name));
    }
    Ok(object)
}

/// `.apps` for non-core kinds, as messages name them (`Deployment.apps "x"`).
pub fn group_suffix(resource: &crate::registry::Resource) -> String {
    if resource.group.is_empty() { String::new() } else { format!(".{}", resource.group) }
}

/// PUT: replaces an object, its status, or a namespace's spec.finalizers
/// (`namespaces/{name}/finalize`).
pub async fn update(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    let subresource = target.subresource.as_deref();
    let finalize = subresource == Some("finalize") && (resource.group, resource.plural) == ("", "namespaces");
    if !(finalize || matches!(subresource, None | Some("status"))) || !resource.supports("update") {
        return Err(ApiError::method_not_allowed());
    }
    let name = target.name()?;
    let mut object = request.json_body()?;
    check_type(resource, &mut object)?;
    let warnings = check_body(request, resource, &mut object)?;
    if let Some(body_name) = object_name(&object)
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let namespace = write_namespace(request, &object)?;
    let precondition = resource_version(&object).map(crate::object::parse_resource_version).transpose()?;
    let change = |current: Value| {
        if precondition.is_some_and(|rv| Some(rv) != revision_of(&current).ok()) {
            return Err(ApiError::conflict(resource, name));
        }
        successor(state, resource, subresource, &current, object.clone())
    };
    if dry_run(request)? {
        return dry_update(state, resource, namespace.as_deref(), name, change, &warnings).await;
    }
    let stored = state.update_object(resource, namespace.as_deref(), name, change).await?;
    finish(state, resource, namespace.as_deref(), stored, &warnings).await
}

/// A dry-run update: the would-be result, nothing written.
async fn dry_update(
    state: &ApiState,
    resource: &crate::registry::Resource,
    namespace: Option<&str>,
    name: &str,
    mut change: impl FnMut(Value) -> ApiResult<Option<Value>>,
    warnings: &[String],
) -> ApiResult<Response> {
    let current = state.objects.get(resource, namespace, name).await?;
    let result = change(current.clone())?.unwrap_or(current);
    Ok(with_warnings(respond(StatusCode::OK, &result), warnings))
}

/// The version that replaces `current`, after the strategy and admission;
/// `None` when nothing would change (no write then).
fn successor(
    state: &ApiState,
    resource: &crate::registry::Resource,
    subresource: Option<&str>,
    current: &Value,
    mut next: Value,
) -> ApiResult<Option<Value>> {
    prepare_for_update(resource, subresource, current, &mut next)?;
    state.admit(resource, &mut next, Some(current))?;
    Ok((!unchanged(current, &next)).then_some(next))
}

/// Removes an object whose last finalizer the update took away, and answers with what was stored.
async fn finish(
    state: &ApiState,
    resource: &crate::registry::Resource,
    namespace: Option<&str>,
    stored: Value,
    warnings: &[String],
) -> ApiResult<Response> {
    let stored = state.finish_if_finalized(resource, namespace, stored).await?;
    Ok(with_warnings(respond(StatusCode::OK, &stored), warnings))
}

/// The patch formats, by Content-Type.
enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
}

fn patch_kind(request: &Request) -> ApiResult<PatchKind> {
    let content_type = request.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchKind::StrategicMerge),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Applies a patch document to an object.
fn apply_patch(
    kind: &PatchKind,
    resource: &crate::registry::Resource,
    current: &Value,
    patch: &Value,
) -> ApiResult<Value> {
    match kind {
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("the server rejected our request due to an error in our request: {e}"))
            })?;
            let mut patched = current.clone();
            json_patch::patch(&mut patched, &operations).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            Ok(patched)
        }
        PatchKind::Merge => Ok(crate::patch::merge_patch(current, patch)),
        PatchKind::StrategicMerge => crate::patch::strategic_merge_patch(resource.group, resource.kind, current, patch)
            .map_err(|e| {
                let code = e.status_code();
                let reason = match code {
                    400 => "BadRequest",
                    422 => "Invalid",
                    _ => "",
                };
                ApiError::new(code, reason, e.to_string())
            }),
    }
}

/// PATCH: applies a JSON, merge or strategic-merge patch to the current object.
pub async fn patch(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    let subresource = target.subresource.as_deref();
    if !matches!(subresource, None | Some("status")) || !resource.supports("patch") {
        return Err(ApiError::method_not_allowed());
    }
    let kind = patch_kind(request)?;
    if matches!(kind, PatchKind::StrategicMerge)
        && !crate::patch::supports_strategic_merge(resource.group, resource.kind)
    {
        return Err(ApiError::unsupported_media_type("application/strategic-merge-patch+json"));
    }
    let name = target.name()?;
    let patch: Value = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let namespace = target.ns().map(str::to_owned);
    let mut warnings = Vec::new();
    let change = |current: Value| {
        let mut next = apply_patch(&kind, resource, &current, &patch)?;
        check_type(resource, &mut next)?;
        warnings = check_patched(request, resource, name, &mut next)?;
        if object_name(&next) != Some(name) {
            return Err(ApiError::bad_request("metadata.name: Invalid value: the name may not be changed by a patch"));
        }
        if let Some(rv) = resource_version(&next)
            && Some(rv) != resource_version(&current)
        {
            return Err(ApiError::conflict(resource, name));
        }
        successor(state, resource, subresource, &current, next)
    };
    if dry_run(request)? {
        let current = state.objects.get(resource, namespace.as_deref(), name).await?;
        let result = {
            let mut change = change;
            change(current.clone())?.unwrap_or(current)
        };
        return Ok(with_warnings(respond(StatusCode::OK, &result), &warnings));
    }
    let stored = state.update_object(resource, namespace.as_deref(), name, change).await?;
    finish(state, resource, namespace.as_deref(), stored, &warnings).await
}
