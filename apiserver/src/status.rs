//! The one place where errors become Kubernetes `Status` responses, with
//! kube-apiserver's codes, reasons and messages.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::registry::Resource;

/// A request that failed, as the client will see it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `StatusDetails` (name, group, kind, causes, ...), when upstream sends them.
    pub details: Option<Value>,
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;

/// `StatusDetails` naming an object; an empty name is left out, as upstream's `omitempty`.
fn details(resource: &Resource, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": resource.plural });
    if name.is_empty()
        && let Value::Object(map) = &mut details
    {
        map.remove("name");
    }
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    details
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404: `deployments.apps "web" not found`.
    pub fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", resource.qualified_plural()))
            .with_details(details(resource, name))
    }

    /// 409: `configmaps "x" already exists`.
    pub fn already_exists(resource: &Resource, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", resource.qualified_plural()))
            .with_details(details(resource, name))
    }

    /// 409 after a failed compare-and-swap on the resourceVersion.
    pub fn conflict(resource: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                resource.qualified_plural()
            ),
        )
        .with_details(details(resource, name))
    }

    /// 409 with another reason for the conflict (e.g. a UID precondition).
    pub fn conflict_because(resource: &Resource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": {why}", resource.qualified_plural()),
        )
        .with_details(details(resource, name))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422 Invalid, with the field errors as causes.
    pub fn invalid(resource: &Resource, name: &str, message: String, causes: Vec<Value>) -> Self {
        let mut details = details(resource, name);
        details["kind"] = json!(resource.kind);
        details["causes"] = json!(causes);
        Self::new(422, "Invalid", message).with_details(details)
    }

    /// 422 Invalid from field errors: errors.NewInvalid's message and causes.
    pub fn invalid_fields(resource: &Resource, name: &str, errors: &[crate::validation::FieldError]) -> Self {
        let message = crate::validation::invalid_message(resource.group, resource.kind, name, errors);
        let causes = errors
            .iter()
            .map(|e| json!({ "reason": e.kind.reason(), "message": e.body(), "field": e.field }))
            .collect();
        Self::invalid(resource, name, message, causes)
    }

    /// 403 Forbidden for `verb`-independent refusals (admission, ...):
    /// `pods "x" is forbidden: why`, or `pods is forbidden: why` without a name.
    pub fn forbidden(resource: &Resource, name: &str, why: &str) -> Self {
        let message = match name {
            "" => format!("{} is forbidden: {why}", resource.qualified_plural()),
            name => format!("{} \"{name}\" is forbidden: {why}", resource.qualified_plural()),
        };
        Self::new(403, "Forbidden", message).with_details(details(resource, name))
    }

    /// 403 from namespace lifecycle admission for a create in a namespace
    /// being deleted, with upstream's `NamespaceTerminating` cause.
    pub fn namespace_terminating(resource: &Resource, name: &str, namespace: &str) -> Self {
        let why = format!("unable to create new content in namespace {namespace} because it is being terminated");
        let mut error = Self::forbidden(resource, name, &why);
        if let Some(details) = &mut error.details {
            details["causes"] = json!([{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {namespace} is being terminated"),
                "field": "metadata.namespace",
            }]);
        }
        error
    }

    /// 405: the resource does not support the verb.
    pub fn method_not_allowed() -> Self {
        Self::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    }

    /// 404 for a path that names no resource.
    pub fn no_such_path() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource").with_details(
            json!({ "causes": [{ "reason": "UnexpectedServerResponse", "message": "404 page not found" }] }),
        )
    }

    /// 410 Expired: a resource version or continue token that compaction removed.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 for bodies over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(413, "RequestEntityTooLarge", format!("Request entity too large: limit is {limit}"))
    }

    /// 415 for a body or patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type}"
            ),
        )
    }

    /// 500: details go to the log, not to the client.
    pub fn internal(context: &str, error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(500, "InternalError", format!("Internal error occurred: {context}"))
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if self.reason.is_empty()
            && let Value::Object(map) = &mut status
        {
            map.remove("reason");
        }
        status
    }
}

impl From<skiff_store::Error> for ApiError {
    fn from(error: skiff_store::Error) -> Self {
        match error {
            skiff_store::Error::Compacted { requested, compacted } => {
                ApiError::expired(format!("too old resource version: {requested} ({compacted})"))
            }
            skiff_store::Error::FutureRevision { requested, current } => ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {requested}, current: {current}"),
            )
            .with_details(json!({ "causes": [{ "reason": "ResourceVersionTooLarge", "message": "Too large resource version" }], "retryAfterSeconds": 1 })),
            other => ApiError::internal("the datastore failed", &other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, [(CONTENT_TYPE, "application/json")], self.status().to_string()).into_response()
    }
}

/// The `Status` of a successful delete that removed the object at once.
pub fn deleted(resource: &Resource, name: &str, uid: Option<&str>) -> Value {
    let mut details = details(resource, name);
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details })
}
