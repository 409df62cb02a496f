//! DELETE of one object and of a collection: finalizers and graceful
//! deletion only mark the object; otherwise it is removed at once.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::read::Filter;
use super::{Request, json as respond};
use crate::object::{has_finalizers, is_terminating, metadata_mut, now_rfc3339, uid};
use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult, deleted};
use crate::storage::revision_of;
use crate::strategy::grace_period_seconds;

/// The parts of DeleteOptions (body or query) the server honours.
#[derive(Debug, Default, Clone)]
pub(super) struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    pub(super) uid: Option<String>,
    pub(super) resource_version: Option<String>,
}

impl DeleteOptions {
    /// The options of a DeleteOptions object (as an Eviction carries them).
    pub(super) fn from_value(options: &Value) -> Self {
        let text = |pointer: &str| options.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        Self {
            grace_period_seconds: options.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation_policy: text("/propagationPolicy"),
            uid: text("/preconditions/uid"),
            resource_version: text("/preconditions/resourceVersion"),
        }
    }

    fn from_request(request: &Request) -> ApiResult<Self> {
        let body: Value = if request.body.is_empty() { json!({}) } else { request.body_value()? };
        let query_grace = match request.query.get("gracePeriodSeconds") {
            Some(g) => {
                Some(g.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?)
            }
            None => None,
        };
        let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64).or(query_grace),
            propagation_policy: text("/propagationPolicy")
                .or_else(|| request.query.get("propagationPolicy").map(str::to_owned)),
            uid: text("/preconditions/uid"),
            resource_version: text("/preconditions/resourceVersion"),
        })
    }
}

/// DELETE of one object.
pub async fn delete(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    if target.subresource.is_some() || !target.resource.supports("delete") {
        return Err(ApiError::method_not_allowed());
    }
    let options = DeleteOptions::from_request(request)?;
    if super::field_validation::dry_run(request)? {
        // A server-side dry run: the object as it is, nothing deleted.
        let current = state.objects.get(&target.resource, target.ns(), target.name()?).await?;
        return Ok(respond(StatusCode::OK, &current));
    }
    let (code, body) = delete_one(state, &target.resource, target.ns(), target.name()?, &options).await?;
    Ok(respond(code, &body))
}

/// Deletes or marks one object; returns the response status and body.
pub(super) async fn delete_one(
    state: &ApiState,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    options: &DeleteOptions,
) -> ApiResult<(StatusCode, Value)> {
    let current = state.objects.get(resource, namespace, name).await?;
    if let Some(want) = &options.uid
        && uid(&current) != Some(want.as_str())
    {
        let why = format!(
            "Precondition failed: UID in precondition: {want}, UID in object meta: {}",
            uid(&current).unwrap_or_default()
        );
        return Err(ApiError::conflict_because(resource, name, &why));
    }
    if let Some(want) = &options.resource_version
        && crate::object::resource_version(&current) != Some(want.as_str())
    {
        let why = format!(
            "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
            crate::object::resource_version(&current).unwrap_or_default()
        );
        return Err(ApiError::conflict_because(resource, name, &why));
    }
    let finalizer = match options.propagation_policy.as_deref() {
        Some("Foreground") => Some("foregroundDeletion"),
        Some("Orphan") => Some("orphan"),
        Some("Background") | None => None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.PropagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    let grace = grace_period_seconds(resource, &current, options.grace_period_seconds);
    let namespace_object = (resource.group, resource.plural) == ("", "namespaces");
    if has_finalizers(&current) || finalizer.is_some() || grace > 0 || namespace_object {
        let marked = mark_deleted(state, resource, namespace, name, finalizer, grace, namespace_object).await?;
        if has_finalizers(&marked) || grace > 0 || namespace_object {
            return Ok((StatusCode::OK, marked));
        }
    }
    let removed = state.remove_object(resource, namespace, name, Some(revision_of(&current)?)).await?;
    Ok((StatusCode::OK, deleted(resource, name, uid(&removed))))
}

/// Sets deletionTimestamp (and the finalizer a propagation policy asks
/// for) without removing the object.
async fn mark_deleted(
    state: &ApiState,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    finalizer: Option<&str>,
    grace: i64,
    namespace_object: bool,
) -> ApiResult<Value> {
    state
        .update_object(resource, namespace, name, |mut object| {
            let was_terminating = is_terminating(&object);
            let meta = metadata_mut(&mut object)?;
            if let Some(finalizer) = finalizer {
                let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
                if let Value::Array(list) = finalizers
                    && !list.iter().any(|f| f == finalizer)
                {
                    list.push(json!(finalizer));
                }
            }
            if !was_terminating {
                let at = if grace > 0 {
                    jiff::Timestamp::now()
                        .checked_add(jiff::SignedDuration::from_secs(grace))
                        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_else(|_| now_rfc3339())
                } else {
                    now_rfc3339()
                };
                meta.insert("deletionTimestamp".into(), json!(at));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if namespace_object && let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
                    status.insert("phase".into(), json!("Terminating"));
                }
                return Ok(Some(object));
            }
            Ok(finalizer.is_some().then_some(object))
        })
        .await
}

/// DELETE of a collection: every object the selectors match, as a list.
pub async fn delete_collection(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    if target.subresource.is_some() || !resource.supports("deletecollection") {
        return Err(ApiError::method_not_allowed());
    }
    let filter = Filter::from_request(request)?;
    let options = DeleteOptions::from_request(request)?;
    let page = state.objects.list(resource, target.ns(), None, None, None).await?;
    let mut items = Vec::new();
    for object in page.items.into_iter().filter(|o| filter.matches(o)) {
        let (Some(name), namespace) = (crate::object::name(&object), crate::object::namespace(&object)) else {
            continue;
        };
        match delete_one(state, resource, namespace, name, &options).await {
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
