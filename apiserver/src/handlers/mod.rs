//! The REST handlers for every registered resource: one entry point parses
//! the path into a [`Target`] and dispatches by verb.

mod as_table;
mod binding;
mod delete;
mod eviction;
mod field_validation;
mod read;
mod reviews;
mod scale;
mod target;
mod watch;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use tracing::Instrument;

pub use self::target::Target;
use crate::metrics::RequestLabels;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};

/// Request bodies over this size get 413, as kube-apiserver's limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Query parameters, in order.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    fn parse(uri: &Uri) -> Self {
        Self(form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The last value of a parameter, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true`/`1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }
}

/// Everything a handler needs about one request.
pub struct Request {
    pub target: Target,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Who sent it (`None` for in-process clients, which bypass authentication).
    pub user: Option<crate::authn::User>,
}

impl Request {
    /// The body as JSON, whatever media type the client sent it in: 415
    /// for types the server cannot read (clients such as kubectl then say
    /// so), 400 for a body that does not decode.
    pub fn body_value(&self) -> ApiResult<Value> {
        let content_type =
            self.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media == crate::protobuf::CONTENT_TYPE {
            return crate::protobuf::decode(&self.body)
                .map_err(|e| ApiError::new(e.status_code(), "BadRequest", e.to_string()));
        }
        if media == "application/yaml" {
            return serde_yaml::from_slice(&self.body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}")));
        }
        if !matches!(media, "application/json" | "" | "*/*") {
            return Err(ApiError::unsupported_media_type(media));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")))
    }

    /// The body as a JSON object.
    pub fn json_body(&self) -> ApiResult<Value> {
        let value = self.body_value()?;
        if !value.is_object() {
            return Err(ApiError::bad_request("the body of the request is not a JSON object"));
        }
        Ok(value)
    }
}

/// The entry point for `/api/v1/...` and `/apis/<group>/<version>/...`.
pub async fn resource_request(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    user: Option<axum::Extension<crate::authn::User>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let start = std::time::Instant::now();
    let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let _in_flight = state.metrics.in_flight(mutating);
    let mut labels = None;
    let user = user.map(|axum::Extension(user)| user);
    let response = match dispatch(&state, method, &uri, (headers, user), body, &mut labels).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Some(mut labels) = labels {
        labels.code = response.status().as_u16().to_string();
        state.metrics.request(labels, start.elapsed());
    }
    response
}

/// The metric labels of a parsed request.
fn request_labels(method: &Method, request: &Request) -> RequestLabels {
    let target = &request.target;
    let verb = match (method, target.name.is_some()) {
        (&Method::GET, false) if request.query.flag("watch") => "WATCH",
        (&Method::GET, false) => "LIST",
        (&Method::DELETE, false) => "DELETECOLLECTION",
        (method, _) => method.as_str(),
    };
    let scope = match (&target.name, &target.namespace) {
        (Some(_), _) => "resource",
        (None, Some(_)) => "namespace",
        (None, None) => "cluster",
    };
    RequestLabels {
        verb: verb.to_owned(),
        group: target.resource.group.to_owned(),
        version: target.resource.version.to_owned(),
        resource: target.resource.plural.to_owned(),
        subresource: target.subresource.clone().unwrap_or_default(),
        scope: scope.to_owned(),
        component: "apiserver".to_owned(),
        code: String::new(),
    }
}

async fn dispatch(
    state: &ApiState,
    method: Method,
    uri: &Uri,
    (headers, user): (HeaderMap, Option<crate::authn::User>),
    body: Body,
    labels: &mut Option<RequestLabels>,
) -> ApiResult<Response> {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_such_path()),
    };
    let target = Target::parse(&state.registry, group, version, rest)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let request = Request { target, query: Query::parse(uri), headers, body, user };
    *labels = Some(request_labels(&method, &request));
    let span = tracing::debug_span!(
        "request", %method, resource = request.target.resource.plural,
        namespace = request.target.namespace.as_deref(), name = request.target.name.as_deref()
    );
    let collection = request.target.name.is_none();
    let deprecation: Vec<String> =
        request.target.resource.deprecation_warning().map(str::to_owned).into_iter().collect();
    let handle = async move {
        if request.target.resource.is_review() {
            return match method {
                Method::POST => reviews::create(&request).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if request.target.subresource.as_deref() == Some("binding") && request.target.resource.plural == "pods" {
            return match method {
                Method::POST => binding::bind(state, &request).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if request.target.subresource.as_deref() == Some("eviction") && request.target.resource.plural == "pods" {
            return match method {
                Method::POST => eviction::evict(state, &request).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if request.target.subresource.as_deref() == Some("token") && request.target.resource.plural == "serviceaccounts"
        {
            return match method {
                Method::POST => crate::serviceaccount::create_token(state, &request).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if request.target.subresource.as_deref() == Some("scale") {
            return match method {
                Method::GET | Method::PUT | Method::PATCH => scale::scale(state, &request, &method).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if request.target.subresource.as_deref() == Some("finalize") {
            // namespaces/{name}/finalize only takes a PUT, as upstream's FinalizeREST.
            return match method {
                Method::PUT => write::update(state, &request).await,
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        if !matches!(request.target.subresource.as_deref(), None | Some("status")) {
            // Subresources still to come (log, exec, ...).
            return Err(ApiError::no_such_path());
        }
        match method {
            Method::GET if collection && request.query.flag("watch") => watch::watch(state, &request).await,
            Method::GET if collection => read::list(state, &request).await,
            Method::GET => read::get(state, &request).await,
            Method::POST if collection => write::create(state, &request).await,
            Method::PUT if !collection => write::update(state, &request).await,
            Method::PATCH if !collection => write::patch(state, &request).await,
            Method::DELETE if collection => write::delete_collection(state, &request).await,
            Method::DELETE => write::delete(state, &request).await,
            _ => Err(ApiError::method_not_allowed()),
        }
    };
    let response = handle.instrument(span).await.unwrap_or_else(|error| error.into_response());
    Ok(field_validation::with_warnings(response, &deprecation))
}

/// A JSON response.
pub fn json(code: StatusCode, value: &Value) -> Response {
    (code, [(CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}
