//! The API server assembled: shared state, the router, the namespaces a
//! cluster starts with, and an in-process `kube::Client`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::StatusCode;
use serde_json::{Value, json};
use skiff_store::Backend;

use crate::handlers::{self, json as respond};
use crate::metrics::Metrics;
use crate::object::{has_finalizers, is_terminating};
use crate::registry::{Registry, Resource};
use crate::status::{ApiError, ApiResult};
use crate::storage::{Objects, revision_of};
use crate::strategy::prepare_for_create;
use crate::watch_cache::WatchCaches;
use crate::{discovery, openapi_routes, validation};

/// The namespaces every cluster has from the start.
pub const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// What every handler shares.
#[derive(Debug)]
pub struct ApiState {
    pub registry: Registry,
    pub objects: Objects,
    /// Set when the server shuts down: long-running requests (watches) end.
    pub closing: tokio::sync::watch::Sender<bool>,
    pub caches: WatchCaches,
    pub metrics: Arc<Metrics>,
}

impl ApiState {
    fn namespaces(&self) -> ApiResult<&Resource> {
        self.registry.get("", "v1", "namespaces").ok_or_else(ApiError::no_such_path)
    }

    /// Namespace lifecycle admission: namespaced objects may only be
    /// created in a namespace that exists and is not terminating.
    pub async fn check_namespace_accepts(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<()> {
        let Some(namespace) = namespace else { return Ok(()) };
        let namespaces = self.namespaces()?;
        let object = self.objects.get(namespaces, None, namespace).await?;
        if is_terminating(&object) {
            return Err(ApiError::forbidden(
                resource,
                name,
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }

    /// Validating admission of a write (defaults were applied by the strategy):
    /// 422 Invalid with upstream's field errors, or 400 for values of the wrong type.
    pub fn admit(&self, resource: &Resource, object: &mut Value, old: Option<&Value>) -> ApiResult<()> {
        let errors = match old {
            None => validation::validate_create(resource.group, resource.kind, object),
            Some(old) => validation::validate_update(resource.group, resource.kind, object, old),
        };
        if errors.is_empty() {
            return Ok(());
        }
        if let Some(decode) = errors.iter().find(|e| e.is_decode_error()) {
            return Err(ApiError::bad_request(validation::decode_message(resource.kind, resource.version, decode)));
        }
        let name = crate::object::name(object).unwrap_or_default().to_owned();
        let message = validation::invalid_message(resource.group, resource.kind, &name, &errors);
        let causes = errors
            .iter()
            .map(|e| json!({ "reason": e.kind.reason(), "message": e.body(), "field": e.field }))
            .collect();
        Err(ApiError::invalid(resource, &name, message, causes))
    }

    /// After an update: an object being deleted whose last finalizer is gone
    /// is removed now, as kube-apiserver does.
    pub async fn finish_if_finalized(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        stored: Value,
    ) -> ApiResult<Value> {
        let namespace_finalizers =
            stored.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if !is_terminating(&stored) || has_finalizers(&stored) || namespace_finalizers {
            return Ok(stored);
        }
        let Some(name) = crate::object::name(&stored) else { return Ok(stored) };
        match self.objects.remove(resource, namespace, name, Some(revision_of(&stored)?)).await {
            Ok(_) => Ok(stored),
            Err(e) if e.code == 404 || e.code == 409 => Ok(stored),
            Err(e) => Err(e),
        }
    }
}

/// A Kubernetes API server over a store backend.
#[derive(Debug, Clone)]
pub struct ApiServer {
    state: Arc<ApiState>,
}

impl ApiServer {
    /// An API server over `backend`, with the initial namespaces created.
    pub async fn start(backend: Arc<dyn Backend>) -> ApiResult<Self> {
        let closing = tokio::sync::watch::channel(false).0;
        let caches = WatchCaches::new(Arc::clone(&backend));
        let metrics = Metrics::new();
        let objects = Objects::new(backend, Arc::clone(&metrics));
        let state = Arc::new(ApiState { registry: Registry::builtin(), objects, closing, caches, metrics });
        let server = Self { state };
        server.create_initial_namespaces().await?;
        Ok(server)
    }

    async fn create_initial_namespaces(&self) -> ApiResult<()> {
        let namespaces = self.state.namespaces()?;
        for name in INITIAL_NAMESPACES {
            let mut object = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
            prepare_for_create(namespaces, &mut object, None, name)?;
            match self.state.objects.create(namespaces, None, name, object).await {
                Ok(_) => tracing::info!(namespace = name, "created"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends every watch, so that a graceful shutdown does not wait for them.
    pub fn close(&self) {
        self.state.closing.send_replace(true);
    }

    /// The HTTP routes of the API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(|| async { respond(StatusCode::OK, &discovery::version()) }))
            .route("/healthz", get(ok))
            .route("/livez", get(ok))
            .route("/readyz", get(ok))
            .route("/metrics", get(metrics))
            .route("/openapi/v2", get(openapi_routes::v2))
            .route("/openapi/v3", get(openapi_routes::index))
            .route("/openapi/v3/{*path}", get(openapi_routes::document))
            .route("/api", get(core_groups))
            .route("/api/v1", get(core_resources))
            .route("/apis", get(named_groups))
            .route("/apis/{group}", get(group))
            .route("/apis/{group}/{version}", get(group_resources))
            .route("/api/v1/{*rest}", any(handlers::resource_request))
            .route("/apis/{group}/{version}/{*rest}", any(handlers::resource_request))
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
            .with_state(Arc::clone(&self.state))
    }

    /// A `kube::Client` that calls this server's router in-process: no
    /// socket, no TLS, every request as the cluster administrator.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.router(), "default")
    }
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (StatusCode::OK, [(http::header::CONTENT_TYPE, content_type)], state.metrics.render()).into_response()
}

async fn ok() -> &'static str {
    "ok"
}

/// `/api`: legacy APIVersions, or aggregated discovery when asked for.
async fn core_groups(State(state): State<Arc<ApiState>>, headers: http::HeaderMap) -> Response {
    match accept_aggregated(&headers) {
        Some(version) => aggregated(discovery::aggregated(&state.registry, true, version), version),
        None => respond(StatusCode::OK, &discovery::core_versions()),
    }
}

/// `/apis`: APIGroupList, or aggregated discovery when asked for.
async fn named_groups(State(state): State<Arc<ApiState>>, headers: http::HeaderMap) -> Response {
    match accept_aggregated(&headers) {
        Some(version) => aggregated(discovery::aggregated(&state.registry, false, version), version),
        None => respond(StatusCode::OK, &discovery::groups(&state.registry)),
    }
}

fn accept_aggregated(headers: &http::HeaderMap) -> Option<&'static str> {
    headers.get_all(http::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).find_map(discovery::aggregated_version)
}

fn aggregated(body: Value, version: &str) -> Response {
    let content_type = discovery::aggregated_content_type(version);
    (StatusCode::OK, [(http::header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

async fn core_resources(State(state): State<Arc<ApiState>>) -> Response {
    resource_list(&state, "", "v1")
}

async fn group_resources(
    State(state): State<Arc<ApiState>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    resource_list(&state, &group, &version)
}

fn resource_list(state: &ApiState, group: &str, version: &str) -> Response {
    match discovery::resources(&state.registry, group, version) {
        Some(list) => respond(StatusCode::OK, &list),
        None => ApiError::no_such_path().into_response(),
    }
}

async fn group(State(state): State<Arc<ApiState>>, Path(name): Path<String>) -> Response {
    match discovery::group(&state.registry, &name) {
        Some(group) => respond(StatusCode::OK, &group),
        None => ApiError::no_such_path().into_response(),
    }
}
