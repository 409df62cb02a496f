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
use crate::services::{Allocator, ServiceNetwork};
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
    /// Services' cluster IPs and node ports.
    pub services: Allocator,
    /// The key and issuer of service account tokens.
    pub tokens: crate::serviceaccount::TokenIssuer,
    /// How the proxy (logs, exec, port-forward, nodes/proxy) reaches kubelets.
    pub kubelets: crate::proxy::KubeletClient,
}

impl ApiState {
    fn namespaces(&self) -> ApiResult<&Resource> {
        self.registry.get("", "v1", "namespaces").ok_or_else(ApiError::no_such_path)
    }

    /// Namespace lifecycle admission: namespaced objects may only be
    /// created in a namespace that exists and is not terminating. `name` is
    /// the one the request gave (empty for a generateName), as upstream's
    /// admission sees it.
    pub async fn check_namespace_accepts(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<()> {
        let Some(namespace) = namespace else { return Ok(()) };
        let namespaces = self.namespaces()?;
        let object = self.objects.get(namespaces, None, namespace).await?;
        let phase = object.pointer("/status/phase").and_then(Value::as_str);
        if is_terminating(&object) || phase == Some("Terminating") {
            return Err(ApiError::namespace_terminating(resource, name, namespace));
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
        let name = crate::object::name(object).unwrap_or_default();
        Err(ApiError::invalid_fields(resource, name, &errors))
    }

    /// Applies `change` to the current object and stores the result,
    /// re-reading and re-applying after a lost race (kube-apiserver's
    /// GuaranteedUpdate); `change` returns `None` to leave the object as is.
    /// Service allocations the new version needs are taken first, those it
    /// no longer needs given back after.
    pub async fn update_object<F>(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        mut change: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(Value) -> ApiResult<Option<Value>>,
    {
        for _ in 0..crate::storage::MAX_RETRIES {
            let current = self.objects.get(resource, namespace, name).await?;
            let revision = revision_of(&current)?;
            let Some(mut next) = change(current.clone())? else { return Ok(current) };
            let (taken, freed) = self.services.on_update(resource, &current, &mut next).await?;
            match self.objects.replace(resource, namespace, name, next, revision).await {
                Ok(Ok(stored)) => {
                    self.services.release(&stored, freed).await;
                    return Ok(stored);
                }
                Ok(Err(now)) => {
                    self.services.give_back(taken).await;
                    if now.is_none() {
                        return Err(ApiError::not_found(resource, name));
                    }
                }
                Err(error) => {
                    self.services.give_back(taken).await;
                    return Err(error);
                }
            }
        }
        Err(ApiError::conflict(resource, name))
    }

    /// Removes an object if it is still at `expected`, giving back what it held.
    pub async fn remove_object(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        expected: Option<i64>,
    ) -> ApiResult<Value> {
        let removed = self.objects.remove(resource, namespace, name, expected).await?;
        self.services.on_removed(resource, &removed).await;
        Ok(removed)
    }

    /// Creates an object the server itself keeps (the initial namespaces,
    /// the `kubernetes` service and its endpoints) unless it exists; returns
    /// the stored object.
    async fn ensure_object(&self, resource: &Resource, mut object: Value) -> ApiResult<Value> {
        let name = crate::object::name(&object).unwrap_or_default().to_owned();
        let namespace = crate::object::namespace(&object).map(str::to_owned);
        if let Ok(existing) = self.objects.get(resource, namespace.as_deref(), &name).await {
            return Ok(existing);
        }
        prepare_for_create(resource, &mut object, namespace.as_deref(), &name)?;
        let taken = self.services.on_create(resource, &mut object).await?;
        match self.objects.create(resource, namespace.as_deref(), &name, object).await {
            Ok(stored) => {
                tracing::info!(resource = resource.plural, name, "created");
                Ok(stored)
            }
            Err(error) => {
                self.services.give_back(taken).await;
                match error.code {
                    409 => self.objects.get(resource, namespace.as_deref(), &name).await,
                    _ => Err(error),
                }
            }
        }
    }

    /// Makes a server-kept object's fields (other than metadata) what `wanted` says.
    async fn put_object(&self, resource: &Resource, wanted: Value) -> ApiResult<()> {
        let current = self.ensure_object(resource, wanted.clone()).await?;
        let name = crate::object::name(&current).unwrap_or_default().to_owned();
        let namespace = crate::object::namespace(&current).map(str::to_owned);
        self.update_object(resource, namespace.as_deref(), &name, |current| {
            let mut next = current.clone();
            for (key, value) in wanted.as_object().into_iter().flatten().filter(|(k, _)| k.as_str() != "metadata") {
                if let Some(map) = next.as_object_mut() {
                    map.insert(key.clone(), value.clone());
                }
            }
            crate::strategy::prepare_for_update(resource, None, &current, &mut next)?;
            Ok((!crate::strategy::unchanged(&current, &next)).then_some(next))
        })
        .await
        .map(drop)
    }

    /// A v1 resource of the registry.
    fn resource(&self, group: &str, plural: &str) -> ApiResult<&Resource> {
        self.registry.get(group, "v1", plural).ok_or_else(ApiError::no_such_path)
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
        match self.remove_object(resource, namespace, name, Some(revision_of(&stored)?)).await {
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
    /// An API server over `backend` with the default service network.
    pub async fn start(backend: Arc<dyn Backend>) -> ApiResult<Self> {
        Self::start_with(backend, ServiceNetwork::default()).await
    }

    /// An API server over `backend`: the initial namespaces and the
    /// `kubernetes` service are created, service allocations checked.
    pub async fn start_with(backend: Arc<dyn Backend>, network: ServiceNetwork) -> ApiResult<Self> {
        let closing = tokio::sync::watch::channel(false).0;
        let caches = WatchCaches::new(Arc::clone(&backend));
        let metrics = Metrics::new();
        let services = Allocator::new(network, Arc::clone(&backend));
        let objects = Objects::new(backend, Arc::clone(&metrics));
        let state = Arc::new(ApiState {
            registry: Registry::builtin(),
            objects,
            closing,
            caches,
            metrics,
            services,
            tokens: crate::serviceaccount::TokenIssuer::default(),
            kubelets: crate::proxy::KubeletClient::default(),
        });
        let server = Self { state };
        let namespaces = server.state.namespaces()?;
        for name in INITIAL_NAMESPACES {
            let object = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
            server.state.ensure_object(namespaces, object).await?;
        }
        let classes = server
            .state
            .registry
            .get("scheduling.k8s.io", "v1", "priorityclasses")
            .ok_or_else(ApiError::no_such_path)?;
        for class in crate::priority::system_classes() {
            server.state.ensure_object(classes, class).await?;
        }
        let services = server.state.resource("", "services")?;
        let existing = server.state.objects.list(services, None, None, None, None).await?;
        server.state.services.repair(&existing.items).await?;
        let kubernetes = crate::services::kubernetes::service(&network, crate::services::ADVERTISED_PORT);
        server.state.ensure_object(services, kubernetes).await?;
        Ok(server)
    }

    /// Points the `kubernetes` service, its Endpoints and its EndpointSlice
    /// at the address and port the API is served on.
    pub async fn publish(&self, address: std::net::IpAddr, port: u16) -> ApiResult<()> {
        use crate::services::kubernetes;
        let state = &self.state;
        let network = *state.services.network();
        state.put_object(state.resource("", "services")?, kubernetes::service(&network, port)).await?;
        state.put_object(state.resource("", "endpoints")?, kubernetes::endpoints(address, port)).await?;
        let slices = state.resource("discovery.k8s.io", "endpointslices")?;
        state.put_object(slices, kubernetes::endpoint_slice(address, port)).await
    }

    /// Presents this client certificate (PEM, signed by the CA kubelets
    /// trust) when proxying to kubelets (logs, exec, port-forward, nodes/proxy).
    pub fn with_kubelet_client(self, cert_pem: &str, key_pem: &str) -> Result<Self, crate::proxy::KubeletClientError> {
        self.state.kubelets.set_client_certificate(cert_pem, key_pem)?;
        Ok(self)
    }

    /// Signs service account tokens with `key` (kept in the PKI dir, see
    /// [`SigningKey::load_or_create`](crate::serviceaccount::SigningKey::load_or_create));
    /// without it a key is made in memory for the first token.
    pub fn use_service_account_key(&self, key: crate::serviceaccount::SigningKey) {
        self.state.tokens.set_key(key);
    }

    /// The authenticator of this server's service account tokens, for [`Authenticator`](crate::authn::Authenticator).
    pub fn service_account_authenticator(&self) -> crate::serviceaccount::TokenAuthenticator {
        crate::serviceaccount::TokenAuthenticator::new(Arc::clone(&self.state))
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
            .merge(crate::proxy::routes())
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
