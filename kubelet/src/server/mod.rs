//! The kubelet's HTTPS server: container logs, exec, attach, port-forward,
//! stats, for the API server (authenticated by its client certificate).
//!
//! Routes as upstream's kubelet server: `/healthz`, `/pods`,
//! `/containerLogs/{ns}/{pod}/{container}`, `/exec/…`, `/attach/…`,
//! `/portForward/{ns}/{pod}`, `/run/…`, `/stats/summary`, `/metrics/resource`.
//! With a client CA configured, every request needs a client certificate
//! that chains to it (401 otherwise); without one, anyone may call.

mod containers;
mod logs;
mod streams;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::StatusCode;
use k8s_openapi::api::core::v1::Pod;
use skiff_apiserver::authn::PeerCertificate;
use tokio::net::TcpListener;

pub use self::tls::TlsError;
use crate::config::KubeletConfig;
use crate::runtime::Runtime;

/// How long shutdown waits for in-flight requests (streams are cut after it).
const DRAIN: Duration = Duration::from_secs(5);

/// The node's pods, as the kubelet knows them (with status), for `/pods` and log checks.
pub type PodsProvider = Arc<dyn Fn() -> Vec<Pod> + Send + Sync>;

/// Where `/stats/summary` and `/metrics/resource` get their content.
#[async_trait::async_trait]
pub trait StatsProvider: Send + Sync + 'static {
    /// The Summary API object (`stats/v1alpha1` Summary) as JSON.
    async fn summary(&self) -> Result<serde_json::Value, String>;
    /// The resource metrics in the Prometheus text format.
    async fn resource_metrics(&self) -> Result<String, String>;
}

/// What the server serves and how.
#[derive(Clone)]
pub struct Config {
    /// The runtime containers, logs and streams come from.
    pub runtime: Arc<dyn Runtime>,
    /// The serving certificate and key (PEM); self-signed when `None`.
    pub serving_cert: Option<(String, String)>,
    /// The CA (PEM) client certificates must chain to; `None`: no authentication.
    pub client_ca: Option<String>,
    /// The names and addresses a self-signed certificate is made for.
    pub hosts: Vec<String>,
    /// The node's pods; without it `/pods` is empty and pods are known by their containers only.
    pub pods: Option<PodsProvider>,
    /// Stats; without it the stats routes answer 404.
    pub stats: Option<Arc<dyn StatsProvider>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("runtime", &self.runtime)
            .field("hosts", &self.hosts)
            .field("client_ca", &self.client_ca.is_some())
            .field("pods", &self.pods.is_some())
            .field("stats", &self.stats.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A server on `runtime` with a self-signed certificate for localhost and no authentication.
    pub fn new(runtime: Arc<dyn Runtime>) -> Self {
        Self {
            runtime,
            serving_cert: None,
            client_ca: None,
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            pods: None,
            stats: None,
        }
    }

    /// The server of the kubelet `config` describes (its certificate, client CA, node name and IP).
    pub fn from_kubelet(config: &KubeletConfig) -> Self {
        let mut server = Self::new(Arc::clone(&config.runtime));
        server.serving_cert = config.serving_cert.clone();
        server.client_ca = config.client_ca.clone();
        server.hosts.extend([config.node_name.clone(), config.node_ip.to_string()]);
        server
    }

    /// Serves the node's pods from `pods`.
    pub fn pods(mut self, pods: PodsProvider) -> Self {
        self.pods = Some(pods);
        self
    }

    /// Serves stats from `stats`.
    pub fn stats(mut self, stats: Arc<dyn StatsProvider>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Requires client certificates signed by `ca` (PEM).
    pub fn client_ca(mut self, ca: impl Into<String>) -> Self {
        self.client_ca = Some(ca.into());
        self
    }

    /// Serves with this certificate and key (PEM).
    pub fn serving_cert(mut self, cert: impl Into<String>, key: impl Into<String>) -> Self {
        self.serving_cert = Some((cert.into(), key.into()));
        self
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let pods = self.pods.as_ref()?;
        pods().into_iter().find(|pod| {
            pod.metadata.namespace.as_deref() == Some(namespace) && pod.metadata.name.as_deref() == Some(name)
        })
    }
}

/// The kubelet's HTTPS server.
#[derive(Debug, Clone)]
pub struct KubeletServer {
    config: Arc<Config>,
    tls: Arc<rustls::ServerConfig>,
}

impl KubeletServer {
    /// The server for `config` (the TLS configuration is made now).
    pub fn new(config: Config) -> Result<Self, TlsError> {
        let tls = tls::server_config(config.serving_cert.as_ref(), config.client_ca.as_deref(), &config.hosts)?;
        Ok(Self { config: Arc::new(config), tls })
    }

    /// The routes, without TLS or authentication (for in-process use and tests).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/pods", get(pods))
            .route("/pods/", get(pods))
            .route("/containerLogs/{namespace}/{pod}/{container}", get(logs::container_logs))
            .route("/exec/{namespace}/{pod}/{container}", any(streams::exec))
            .route("/exec/{namespace}/{pod}/{uid}/{container}", any(streams::exec_uid))
            .route("/attach/{namespace}/{pod}/{container}", any(streams::attach))
            .route("/attach/{namespace}/{pod}/{uid}/{container}", any(streams::attach_uid))
            .route("/portForward/{namespace}/{pod}", any(streams::port_forward))
            .route("/portForward/{namespace}/{pod}/{uid}", any(streams::port_forward_uid))
            .route("/run/{namespace}/{pod}/{container}", any(streams::run))
            .route("/stats/summary", get(stats_summary))
            .route("/metrics/resource", get(resource_metrics))
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
            .with_state(Arc::clone(&self.config))
    }

    /// Serves HTTPS on `listener` until `shutdown` resolves, then lets requests finish for a while.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let require_certificate = self.config.client_ca.is_some();
        let router = self.router().layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            authenticate(require_certificate, request, next)
        }));
        skiff_apiserver::serve::serve_tls(listener, router, Arc::clone(&self.tls), DRAIN, shutdown).await;
    }
}

/// 401 for requests without a client certificate where one is required, as upstream's kubelet authn.
async fn authenticate(require_certificate: bool, request: Request, next: Next) -> Response {
    if require_certificate && request.extensions().get::<PeerCertificate>().is_none() {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    next.run(request).await
}

/// A plain-text error, as upstream's kubelet writes them.
pub(crate) fn text_error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::debug!(%status, %message, "kubelet server error");
    (status, [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

async fn pods(State(config): State<Arc<Config>>) -> Response {
    let items = config.pods.as_ref().map(|pods| pods()).unwrap_or_default();
    let list = k8s_openapi::List::<Pod> { items, metadata: Default::default() };
    json(&list)
}

async fn stats_summary(State(config): State<Arc<Config>>) -> Response {
    let Some(stats) = &config.stats else { return text_error(StatusCode::NOT_FOUND, "404 page not found\n") };
    match stats.summary().await {
        Ok(summary) => json(&summary),
        Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, format!("Internal Error: {error}")),
    }
}

async fn resource_metrics(State(config): State<Arc<Config>>) -> Response {
    let Some(stats) = &config.stats else { return text_error(StatusCode::NOT_FOUND, "404 page not found\n") };
    match stats.resource_metrics().await {
        Ok(text) => (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
            .into_response(),
        Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}
