//! The review APIs, answered and never stored: access reviews
//! (authorization.k8s.io) and SelfSubjectReview (authentication.k8s.io,
//! `kubectl auth whoami`). Until RBAC arrives every authenticated user may
//! do everything, as under kube-apiserver's AlwaysAllow authorizer, so every
//! access review is allowed.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Request, json as respond};
use crate::authn::User;
use crate::object::check_type;
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// Who an in-process client (no authentication layer) is: the cluster administrator.
fn in_process_admin() -> User {
    User {
        name: "system:admin".into(),
        uid: None,
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    }
}

/// POST of a review: the review with its status.
pub async fn create(request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    if target.name.is_some() || target.subresource.is_some() {
        return Err(ApiError::no_such_path());
    }
    let mut review = request.json_body()?;
    check_type(resource, &mut review)?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let mut errors = Vec::new();
    let status = match resource.kind {
        "SelfSubjectReview" => {
            let user = request.user.clone().unwrap_or_else(in_process_admin);
            let mut info = json!({ "username": user.name, "groups": user.groups });
            if let Some(uid) = user.uid {
                info["uid"] = json!(uid);
            }
            json!({ "userInfo": info })
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        }),
        kind => {
            let resource_attributes = spec.get("resourceAttributes").filter(|v| !v.is_null());
            if resource_attributes.is_some() == spec.get("nonResourceAttributes").is_some_and(|v| !v.is_null()) {
                errors.push(FieldError::invalid(
                    "spec.resourceAttributes",
                    "null",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                ));
            }
            let has_subject = |key: &str| {
                spec.get(key).is_some_and(|v| {
                    v.as_str().is_some_and(|s| !s.is_empty()) || v.as_array().is_some_and(|a| !a.is_empty())
                })
            };
            if kind != "SelfSubjectAccessReview" && !has_subject("user") && !has_subject("groups") {
                errors.push(FieldError::invalid("spec.user", "", "at least one of user or group must be specified"));
            }
            if kind == "LocalSubjectAccessReview" {
                let namespace = resource_attributes.and_then(|a| a.get("namespace")).and_then(Value::as_str);
                if namespace != target.namespace.as_deref() {
                    errors.push(FieldError::invalid(
                        "spec.resourceAttributes.namespace",
                        namespace.unwrap_or_default(),
                        "must match metadata.namespace",
                    ));
                }
            }
            json!({ "allowed": true })
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(resource, crate::object::name(&review).unwrap_or_default(), &errors));
    }
    if let Value::Object(map) = &mut review {
        map.entry("metadata").or_insert_with(|| json!({}));
        map.insert("status".into(), status);
    }
    Ok(respond(StatusCode::CREATED, &review))
}
