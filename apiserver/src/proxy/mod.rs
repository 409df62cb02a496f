//! The API server's proxy to kubelets and pods: `pods/log`, `pods/exec`,
//! `pods/attach`, `pods/portforward`, `pods/proxy` and `nodes/proxy`.
//! Streams are passed through as they are (SPDY or WebSocket, upgraded
//! connections spliced after the kubelet's `101`); the kubelet speaks the
//! streaming protocols with the container runtime.

mod forward;
mod kubelet_client;
mod location;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{Method, StatusCode, Uri};
use http_body_util::BodyExt;
use serde_json::Value;
use tracing::Instrument;

pub use self::forward::{ForwardError, forward, is_upgrade};
pub use self::kubelet_client::{KubeletClient, KubeletClientError};
pub use self::location::{DEFAULT_KUBELET_PORT, KubeletAddress};
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};

/// How much of a kubelet's error answer is read into the `Status` message.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// The proxy's routes (more specific than the generic resource routes, so they win).
pub fn routes() -> Router<Arc<ApiState>> {
    let pod = "/api/v1/namespaces/{namespace}/pods/{name}";
    Router::new()
        .route(&format!("{pod}/log"), get(pod_log))
        .route(&format!("{pod}/exec"), any(exec))
        .route(&format!("{pod}/attach"), any(attach))
        .route(&format!("{pod}/portforward"), any(portforward))
        .route(&format!("{pod}/proxy"), any(pod_proxy))
        .route(&format!("{pod}/proxy/"), any(pod_proxy))
        .route(&format!("{pod}/proxy/{{*path}}"), any(pod_proxy_path))
        .route("/api/v1/nodes/{name}/proxy", any(node_proxy))
        .route("/api/v1/nodes/{name}/proxy/", any(node_proxy))
        .route("/api/v1/nodes/{name}/proxy/{*path}", any(node_proxy_path))
}

/// Query parameters in order.
struct Query(Vec<(String, String)>);

impl Query {
    fn of(uri: &Uri) -> Self {
        Self(form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A boolean as Go's strconv.ParseBool reads it; 400 otherwise.
    fn flag(&self, name: &str) -> ApiResult<bool> {
        match self.get(name) {
            None => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!("invalid value {other:?} for query parameter {name}"))),
        }
    }

    fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| ApiError::bad_request(format!("invalid value {v:?} for query parameter {name}")))
            })
            .transpose()
    }
}

impl ApiState {
    async fn pod(&self, namespace: &str, name: &str) -> ApiResult<Value> {
        let pods = self.registry.get("", "v1", "pods").ok_or_else(ApiError::no_such_path)?;
        self.objects.get(pods, Some(namespace), name).await
    }

    async fn kubelet_of(&self, node: &str) -> ApiResult<KubeletAddress> {
        let nodes = self.registry.get("", "v1", "nodes").ok_or_else(ApiError::no_such_path)?;
        location::kubelet_address(&self.objects.get(nodes, None, node).await?)
    }

    /// Sends `request` to the kubelet at `address` (path and query from `path`).
    async fn to_kubelet(&self, request: Request, address: &KubeletAddress, path: &str) -> ApiResult<Response> {
        let host = kubelet_client::bracket(&address.host);
        let url = format!("https://{host}:{}{path}", address.port);
        let target: Uri = url.parse().map_err(|_| ApiError::bad_request(format!("invalid kubelet path {path:?}")))?;
        let io = self.kubelets.connect(&address.host, address.port).await.map_err(|e| backend_error(&url, &e))?;
        forward(request, io, &target).await.map_err(|e| backend_error(&url, &e))
    }
}

/// A backend that could not be reached: 500 without a reason, as
/// upstream's proxy reports a transport error.
fn backend_error(url: &str, error: &dyn std::error::Error) -> ApiError {
    let mut message = format!("{url}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    tracing::debug!(%message, "backend unreachable");
    ApiError::new(500, "", message)
}

fn respond(result: ApiResult<Response>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET pods/{name}/log`: the container's log from its kubelet.
async fn pod_log(
    State(state): State<Arc<ApiState>>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let span = tracing::debug_span!("pod_log", %namespace, %name);
    respond(pod_log_inner(&state, &namespace, &name, request).instrument(span).await)
}

async fn pod_log_inner(state: &ApiState, namespace: &str, name: &str, request: Request) -> ApiResult<Response> {
    let pod = state.pod(namespace, name).await?;
    let query = Query::of(request.uri());
    let params = log_params(&query, name)?;
    let container = location::container(&pod, name, query.get("container"))?;
    let Some(node) = location::node_name(&pod) else {
        // Not scheduled: an empty log, as upstream's LocationStreamer without a location.
        return Ok((StatusCode::OK, [(http::header::CONTENT_TYPE, "text/plain")], "").into_response());
    };
    let address = state.kubelet_of(node).await?;
    let mut path = format!("/containerLogs/{namespace}/{name}/{container}");
    if !params.is_empty() {
        path.push('?');
        path.push_str(&params);
    }
    let (parts, _) = request.into_parts();
    let mut upstream = Request::from_parts(parts, Body::empty());
    *upstream.method_mut() = Method::GET;
    let response = state.to_kubelet(upstream, &address, &path).await?;
    if response.status().is_success() {
        let (mut parts, body) = response.into_parts();
        parts.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        return Ok(Response::from_parts(parts, body));
    }
    Err(kubelet_error(response).await)
}

/// The kubelet query of a `pods/log` request, validated as upstream's ValidatePodLogOptions.
fn log_params(query: &Query, name: &str) -> ApiResult<String> {
    let invalid = |field: &str, value: i64, why: &str| {
        ApiError::new(
            422,
            "Invalid",
            format!("PodLogOptions \"{name}\" is invalid: {field}: Invalid value: {value}: {why}"),
        )
    };
    let mut params = form_urlencoded::Serializer::new(String::new());
    for flag in ["follow", "previous", "timestamps"] {
        if query.flag(flag)? {
            params.append_pair(flag, "true");
        }
    }
    let since_seconds = query.int("sinceSeconds")?;
    if let Some(seconds) = since_seconds {
        if seconds < 1 {
            return Err(invalid("sinceSeconds", seconds, "must be greater than 0"));
        }
        params.append_pair("sinceSeconds", &seconds.to_string());
    }
    if let Some(time) = query.get("sinceTime") {
        if since_seconds.is_some() {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "PodLogOptions \"{name}\" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                ),
            ));
        }
        let parsed: jiff::Timestamp = time
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid value {time:?} for query parameter sinceTime")))?;
        params.append_pair("sinceTime", &parsed.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    if let Some(lines) = query.int("tailLines")? {
        if lines < 0 {
            return Err(invalid("tailLines", lines, "must be greater than or equal to 0"));
        }
        params.append_pair("tailLines", &lines.to_string());
    }
    if let Some(bytes) = query.int("limitBytes")? {
        if bytes < 1 {
            return Err(invalid("limitBytes", bytes, "must be greater than 0"));
        }
        params.append_pair("limitBytes", &bytes.to_string());
    }
    if let Some(stream) = query.get("stream") {
        params.append_pair("stream", stream);
    }
    Ok(params.finish())
}

/// A kubelet's error answer as the client sees it (upstream's GenericHttpResponseChecker).
async fn kubelet_error(response: Response) -> ApiError {
    let code = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ERROR_BODY).collect().await;
    let text = body.map(|b| String::from_utf8_lossy(&b.to_bytes()).trim_end().to_owned()).unwrap_or_default();
    match code {
        400 => ApiError::bad_request(text),
        500 => ApiError::new(500, "InternalError", format!("Internal error occurred: {text}")),
        401 => ApiError::new(401, "Unauthorized", text),
        403 => ApiError::new(403, "Forbidden", text),
        404 => ApiError::new(404, "NotFound", text),
        _ => ApiError::new(code, "", text),
    }
}

/// The streaming subresources.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Exec,
    Attach,
    PortForward,
}

type PodPath = Path<(String, String)>;

async fn exec(state: State<Arc<ApiState>>, path: PodPath, request: Request) -> Response {
    pod_stream(state, path, request, Stream::Exec).await
}

async fn attach(state: State<Arc<ApiState>>, path: PodPath, request: Request) -> Response {
    pod_stream(state, path, request, Stream::Attach).await
}

async fn portforward(state: State<Arc<ApiState>>, path: PodPath, request: Request) -> Response {
    pod_stream(state, path, request, Stream::PortForward).await
}

/// `pods/{exec,attach,portforward}` (GET or POST, upgraded): passed to the kubelet.
async fn pod_stream(
    State(state): State<Arc<ApiState>>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
    stream: Stream,
) -> Response {
    let span = tracing::debug_span!("pod_stream", ?stream, %namespace, %name);
    respond(pod_stream_inner(&state, &namespace, &name, request, stream).instrument(span).await)
}

async fn pod_stream_inner(
    state: &ApiState,
    namespace: &str,
    name: &str,
    request: Request,
    stream: Stream,
) -> ApiResult<Response> {
    if !matches!(*request.method(), Method::GET | Method::POST) {
        return Err(ApiError::method_not_allowed());
    }
    let pod = state.pod(namespace, name).await?;
    let query = Query::of(request.uri());
    let path = stream_path(&pod, &query, namespace, name, stream)?;
    let Some(node) = location::node_name(&pod) else {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    };
    if !is_upgrade(request.headers()) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let address = state.kubelet_of(node).await?;
    state.to_kubelet(request, &address, &path).await
}

/// The kubelet path and query of a stream (upstream's streamLocation and streamParams).
fn stream_path(pod: &Value, query: &Query, namespace: &str, name: &str, stream: Stream) -> ApiResult<String> {
    let mut params = form_urlencoded::Serializer::new(String::new());
    let path = match stream {
        Stream::Exec | Stream::Attach => {
            let container = location::container(pod, name, query.get("container"))?;
            // PodExecOptions' names become the kubelet's (upstream's ExecStdinParam etc.).
            for (flag, kubelet) in [("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")] {
                if query.flag(flag)? {
                    params.append_pair(kubelet, "1");
                }
            }
            let verb = if matches!(stream, Stream::Exec) { "exec" } else { "attach" };
            if matches!(stream, Stream::Exec) {
                for command in query.all("command") {
                    params.append_pair("command", command);
                }
            }
            format!("/{verb}/{namespace}/{name}/{container}")
        }
        Stream::PortForward => {
            let ports: Vec<&str> = query.all("ports").collect();
            if !ports.is_empty() {
                params.append_pair("port", &ports.join(","));
            }
            format!("/portForward/{namespace}/{name}")
        }
    };
    let params = params.finish();
    Ok(if params.is_empty() { path } else { format!("{path}?{params}") })
}

/// `name`, `name:port` or `scheme:name:port` (upstream's SplitSchemeNamePort).
fn split_scheme_name_port(id: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => (None, *name, None),
        [name, port] => (None, *name, Some(*port)),
        [scheme, name, port] => (Some(*scheme), *name, Some(*port)),
        _ => return None,
    };
    if name.is_empty() || scheme.is_some_and(|s| !matches!(s, "" | "http" | "https")) {
        return None;
    }
    Some((scheme.filter(|s| !s.is_empty()), name, port.filter(|p| !p.is_empty())))
}

fn proxied_path(path: &str, uri: &Uri) -> String {
    let mut target = format!("/{path}");
    if let Some(query) = uri.query() {
        target.push('?');
        target.push_str(query);
    }
    target
}

async fn node_proxy(state: State<Arc<ApiState>>, Path(name): Path<String>, request: Request) -> Response {
    node_proxy_path(state, Path((name, String::new())), request).await
}

/// `nodes/{name}/proxy/{path}`: the kubelet's own API (or another port of the node).
async fn node_proxy_path(
    State(state): State<Arc<ApiState>>,
    Path((id, path)): Path<(String, String)>,
    request: Request,
) -> Response {
    let span = tracing::debug_span!("node_proxy", node = %id);
    respond(
        async {
            let (scheme, name, port) = split_scheme_name_port(&id)
                .ok_or_else(|| ApiError::bad_request(format!("invalid node request {id:?}")))?;
            let kubelet = state.kubelet_of(name).await?;
            let target = proxied_path(&path, request.uri());
            match port.map(str::parse::<u16>).transpose() {
                Ok(None) => state.to_kubelet(request, &kubelet, &target).await,
                Ok(Some(port)) if port == kubelet.port => state.to_kubelet(request, &kubelet, &target).await,
                Ok(Some(port)) => to_plain(&state, request, scheme, &kubelet.host, port, &target).await,
                Err(_) => Err(ApiError::bad_request(format!("invalid node request {id:?}"))),
            }
        }
        .instrument(span)
        .await,
    )
}

async fn pod_proxy(
    state: State<Arc<ApiState>>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    pod_proxy_path(state, Path((namespace, name, String::new())), request).await
}

/// `pods/{name}/proxy/{path}`: HTTP to the pod's IP.
async fn pod_proxy_path(
    State(state): State<Arc<ApiState>>,
    Path((namespace, id, path)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let span = tracing::debug_span!("pod_proxy", %namespace, pod = %id);
    respond(
        async {
            let (scheme, name, port) = split_scheme_name_port(&id)
                .ok_or_else(|| ApiError::bad_request(format!("invalid pod request {id:?}")))?;
            let pod = state.pod(&namespace, name).await?;
            let port = match port {
                Some(port) => Some(port.to_owned()),
                None => pod
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_u64))
                    .map(|p| p.to_string()),
            };
            let ip = pod
                .pointer("/status/podIP")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .ok_or_else(|| ApiError::bad_request("address not allowed"))?;
            let port = match port.as_deref().map(str::parse::<u16>) {
                Some(Ok(port)) => port,
                None => 80,
                Some(Err(_)) => return Err(ApiError::bad_request(format!("invalid pod request {id:?}"))),
            };
            let target = proxied_path(&path, request.uri());
            to_plain(&state, request, scheme, &ip.to_string(), port, &target).await
        }
        .instrument(span)
        .await,
    )
}

/// Sends `request` to `host:port` over plain HTTP (or HTTPS without
/// verification when `scheme` says so).
async fn to_plain(
    state: &ApiState,
    request: Request,
    scheme: Option<&str>,
    host: &str,
    port: u16,
    path: &str,
) -> ApiResult<Response> {
    let https = scheme == Some("https");
    let url = format!("{}://{}:{port}{path}", if https { "https" } else { "http" }, kubelet_client::bracket(host));
    let target: Uri = url.parse().map_err(|_| ApiError::bad_request(format!("invalid path {path:?}")))?;
    if https {
        let io = state.kubelets.connect(host, port).await.map_err(|e| backend_error(&url, &e))?;
        return forward(request, io, &target).await.map_err(|e| backend_error(&url, &e));
    }
    let address = format!("{}:{port}", kubelet_client::bracket(host));
    let io = tokio::net::TcpStream::connect(&address).await.map_err(|e| backend_error(&url, &e))?;
    forward(request, io, &target).await.map_err(|e| backend_error(&url, &e))
}
