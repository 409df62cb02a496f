//! Serving the OpenAPI documents: `/openapi/v3` (the index),
//! `/openapi/v3/<group-version>` with kube-apiserver's hash and caching
//! headers, and a minimal `/openapi/v2` for kubectl 1.27 and 1.28.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, LOCATION, VARY};
use http::{HeaderMap, StatusCode};

use crate::openapi::{self, ResourceRef};
use crate::registry::Registry;
use crate::server::ApiState;
use crate::status::ApiError;

/// The registry's resources as the OpenAPI module describes them.
pub fn resource_refs(registry: &Registry) -> Vec<ResourceRef> {
    registry
        .all()
        .iter()
        .map(|r| ResourceRef {
            group: r.group,
            version: r.version,
            kind: r.kind,
            plural: r.plural,
            namespaced: r.namespaced,
            verbs: r.verbs,
            subresources: r.subresources,
        })
        .collect()
}

/// `/openapi/v3`.
pub async fn index(State(state): State<Arc<ApiState>>) -> Response {
    crate::handlers::json(StatusCode::OK, &openapi::index(&resource_refs(&state.registry)))
}

/// `/openapi/v3/<path>?hash=<hash>`: a stale hash is redirected to the current one.
pub async fn document(
    State(state): State<Arc<ApiState>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let served = match openapi::document_at(&resource_refs(&state.registry), &path) {
        Ok(served) => served,
        Err(_) => return ApiError::no_such_path().into_response(),
    };
    let asked = query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "hash").map(|(_, v)| v.into_owned()));
    let mut response = match asked {
        Some(hash) if hash != served.hash => {
            let location = format!("/openapi/v3/{path}?hash={}", served.hash);
            return (StatusCode::MOVED_PERMANENTLY, [(LOCATION, location)]).into_response();
        }
        Some(_) => {
            let expires = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_hours(24 * 365))
                .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
                .unwrap_or_default();
            let mut response = (StatusCode::OK, served.body.clone()).into_response();
            response.headers_mut().insert(CACHE_CONTROL, http::HeaderValue::from_static("public, immutable"));
            if let Ok(expires) = http::HeaderValue::from_str(&expires) {
                response.headers_mut().insert(EXPIRES, expires);
            }
            response
        }
        None => {
            let mut response = (StatusCode::OK, served.body.clone()).into_response();
            response.headers_mut().insert(CACHE_CONTROL, http::HeaderValue::from_static("no-cache, private"));
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.insert(VARY, http::HeaderValue::from_static("Accept"));
    if let Ok(etag) = http::HeaderValue::from_str(&format!("\"{}\"", served.hash)) {
        headers.insert(ETAG, etag);
    }
    response
}

/// `/openapi/v2`: only the protobuf form kubectl 1.27/1.28 ask for, with no definitions
/// (kubectl then validates against the v3 documents / its built-in types).
pub async fn v2(headers: HeaderMap) -> Response {
    let wants_protobuf = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("protobuf"));
    if !wants_protobuf {
        return ApiError::no_such_path().into_response();
    }
    let version = format!("v{}.{}.0", crate::discovery::KUBERNETES_MAJOR, crate::discovery::KUBERNETES_MINOR);
    (StatusCode::OK, [(CONTENT_TYPE, openapi::V2_PROTOBUF_CONTENT_TYPE)], openapi::v2_document_protobuf(&version))
        .into_response()
}
