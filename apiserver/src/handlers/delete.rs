//! DELETE of one object and of a collection: the options are read and
//! validated, the deletion strategy ([`crate::deletion`]) plans what
//! happens to each object, and the plan is applied with compare-and-swap,
//! planning again after a lost race.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::read::Filter;
use super::{Request, json as respond};
use crate::deletion::{self, DeleteOptions, IMMORTAL_NAMESPACES, Plan};
use crate::object::uid;
use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult, deleted};
use crate::storage::{MAX_RETRIES, revision_of};
use crate::strategy::unchanged;

/// The options of a DELETE: the body's, with the query's as fallback.
fn options(request: &Request) -> ApiResult<DeleteOptions> {
    let body: Value = if request.body.is_empty() { json!({}) } else { request.body_value()? };
    DeleteOptions::parse(&body, |name| request.query.get(name))
}

/// DELETE of one object.
pub async fn delete(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    if target.subresource.is_some() || !resource.supports("delete") {
        return Err(ApiError::method_not_allowed());
    }
    let options = options(request)?;
    let name = target.name()?;
    if (resource.group, resource.plural) == ("", "namespaces") && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(resource, name, "this namespace may not be deleted"));
    }
    let dry_run = super::field_validation::dry_run(request)?;
    let (code, body) = delete_one(state, resource, target.ns(), name, &options, dry_run).await?;
    Ok(respond(code, &body))
}

/// Deletes or marks one object; returns the response status and body.
pub(super) async fn delete_one(
    state: &ApiState,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    options: &DeleteOptions,
    dry_run: bool,
) -> ApiResult<(StatusCode, Value)> {
    // Upstream answers 202 when the legacy orphanDependents=false left the object in place.
    let kept = if options.orphan_dependents == Some(false) { StatusCode::ACCEPTED } else { StatusCode::OK };
    for _ in 0..MAX_RETRIES {
        let current = state.objects.get(resource, namespace, name).await?;
        options.check_preconditions(resource, name, &current)?;
        let plan = deletion::plan(resource, &current, options, jiff::Timestamp::now())?;
        let revision = revision_of(&current)?;
        match plan {
            Plan::Keep => return Ok((kept, current)),
            // An update that changes nothing is not written (as etcd3's GuaranteedUpdate).
            Plan::Mark(marked) if unchanged(&current, &marked) => return Ok((kept, current)),
            Plan::Mark(marked) if dry_run => return Ok((kept, marked)),
            Plan::Remove if dry_run => return Ok((StatusCode::OK, gone(resource, name, current))),
            Plan::Mark(marked) => match state.objects.replace(resource, namespace, name, marked, revision).await? {
                Ok(stored) => return Ok((kept, stored)),
                Err(None) => return Err(ApiError::not_found(resource, name)),
                Err(Some(_)) => continue,
            },
            Plan::Remove => match state.remove_object(resource, namespace, name, Some(revision)).await {
                Ok(removed) => return Ok((StatusCode::OK, gone(resource, name, removed))),
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Err(ApiError::conflict(resource, name))
}

/// The answer to a delete that removed the object: the object itself for
/// the kinds upstream returns it for, otherwise a `Status`.
fn gone(resource: &Resource, name: &str, removed: Value) -> Value {
    if deletion::returns_deleted_object(resource) {
        return removed;
    }
    deleted(resource, name, uid(&removed))
}

/// DELETE of a collection: every object the selectors match, as a list.
pub async fn delete_collection(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    if target.subresource.is_some() || !resource.supports("deletecollection") {
        return Err(ApiError::method_not_allowed());
    }
    let filter = Filter::from_request(request)?;
    let options = options(request)?;
    let dry_run = super::field_validation::dry_run(request)?;
    let page = state.objects.list(resource, target.ns(), None, None, None).await?;
    let mut items = Vec::new();
    for object in page.items.into_iter().filter(|o| filter.matches(o)) {
        let (Some(name), namespace) = (crate::object::name(&object), crate::object::namespace(&object)) else {
            continue;
        };
        match delete_one(state, resource, namespace, name, &options, dry_run).await {
            Ok(_) => items.push(object),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": resource.list_kind(),
        "apiVersion": resource.api_version(),
        "metadata": { "resourceVersion": page.revision.to_string() },
        "items": items,
    });
    Ok(respond(StatusCode::OK, &body))
}
