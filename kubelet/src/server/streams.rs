//! `/exec`, `/attach`, `/portForward` and `/run`: the runtime gives a
//! streaming URL for the container or sandbox, and [`relay`] serves the
//! client's upgraded connection against it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tracing::Instrument;

use super::{Config, containers, text_error};
use crate::runtime::api;
use crate::streaming::relay::{self, Session};
use crate::streaming::translate::ExecOptions;

/// How long `/run` lets a command take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

struct Query(Vec<(String, String)>);

impl Query {
    fn of(request: &Request) -> Self {
        Self(form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// A flag under its kubelet name (`input`, `output`, `error`, `tty`) or its PodExecOptions name.
    fn flag(&self, names: &[&str]) -> bool {
        self.0
            .iter()
            .any(|(k, v)| names.contains(&k.as_str()) && matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "t"))
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn exec_options(&self) -> ExecOptions {
        let tty = self.flag(&["tty"]);
        ExecOptions {
            stdin: self.flag(&["input", "stdin"]),
            stdout: self.flag(&["output", "stdout"]),
            stderr: self.flag(&["error", "stderr"]) && !tty,
            tty,
        }
    }

    fn ports(&self) -> Result<Vec<u16>, String> {
        self.all("port")
            .flat_map(|v| v.split(','))
            .filter(|p| !p.is_empty())
            .map(|p| p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port {p:?}")))
            .collect()
    }
}

/// The running container an exec or attach goes to, or the error response.
async fn running_container(config: &Config, namespace: &str, pod: &str, container: &str) -> Result<String, Response> {
    if config.pods.is_some() && config.pod(namespace, pod).is_none() {
        return Err(text_error(StatusCode::NOT_FOUND, "pod does not exist"));
    }
    match containers::running(config.runtime.as_ref(), namespace, pod, container).await {
        Ok(Some(found)) => Ok(found.id),
        Ok(None) => Err(text_error(StatusCode::NOT_FOUND, format!("container not found ({container:?})"))),
        Err(error) => Err(text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())),
    }
}

type ContainerPath = Path<(String, String, String)>;
type UidContainerPath = Path<(String, String, String, String)>;

pub async fn exec(state: State<Arc<Config>>, Path((ns, pod, container)): ContainerPath, request: Request) -> Response {
    exec_or_attach(state, ns, pod, container, request, true).await
}

pub async fn exec_uid(
    state: State<Arc<Config>>,
    Path((ns, pod, _uid, c)): UidContainerPath,
    request: Request,
) -> Response {
    exec_or_attach(state, ns, pod, c, request, true).await
}

pub async fn attach(
    state: State<Arc<Config>>,
    Path((ns, pod, container)): ContainerPath,
    request: Request,
) -> Response {
    exec_or_attach(state, ns, pod, container, request, false).await
}

pub async fn attach_uid(
    state: State<Arc<Config>>,
    Path((ns, pod, _uid, c)): UidContainerPath,
    request: Request,
) -> Response {
    exec_or_attach(state, ns, pod, c, request, false).await
}

async fn exec_or_attach(
    State(config): State<Arc<Config>>,
    namespace: String,
    pod: String,
    container: String,
    request: Request,
    is_exec: bool,
) -> Response {
    let span =
        tracing::debug_span!("stream", kind = if is_exec { "exec" } else { "attach" }, %namespace, %pod, %container);
    async move {
        let query = Query::of(&request);
        let options = query.exec_options();
        if !(options.stdin || options.stdout || options.stderr) {
            return text_error(StatusCode::BAD_REQUEST, "you must specify at least 1 of stdin, stdout, stderr");
        }
        let id = match running_container(&config, &namespace, &pod, &container).await {
            Ok(id) => id,
            Err(response) => return response,
        };
        let url = if is_exec {
            let cmd: Vec<String> = query.all("command").map(str::to_owned).collect();
            if cmd.is_empty() {
                return text_error(StatusCode::BAD_REQUEST, "you must specify at least one command for the container");
            }
            let request = api::ExecRequest {
                container_id: id,
                cmd,
                tty: options.tty,
                stdin: options.stdin,
                stdout: options.stdout,
                stderr: options.stderr,
            };
            config.runtime.exec(request).await
        } else {
            let request = api::AttachRequest {
                container_id: id,
                stdin: options.stdin,
                tty: options.tty,
                stdout: options.stdout,
                stderr: options.stderr,
            };
            config.runtime.attach(request).await
        };
        match url {
            Ok(url) => relay::serve(request, url, Session::Exec(options)).await,
            Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        }
    }
    .instrument(span)
    .await
}

pub async fn port_forward(
    state: State<Arc<Config>>,
    Path((ns, pod)): Path<(String, String)>,
    request: Request,
) -> Response {
    port_forward_inner(state, ns, pod, request).await
}

pub async fn port_forward_uid(
    state: State<Arc<Config>>,
    Path((ns, pod, _uid)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    port_forward_inner(state, ns, pod, request).await
}

async fn port_forward_inner(
    State(config): State<Arc<Config>>,
    namespace: String,
    pod: String,
    request: Request,
) -> Response {
    let span = tracing::debug_span!("port_forward", %namespace, %pod);
    async move {
        let ports = match Query::of(&request).ports() {
            Ok(ports) => ports,
            Err(message) => return text_error(StatusCode::BAD_REQUEST, message),
        };
        if config.pods.is_some() && config.pod(&namespace, &pod).is_none() {
            return text_error(StatusCode::NOT_FOUND, "pod does not exist");
        }
        let sandbox = match containers::sandbox(config.runtime.as_ref(), &namespace, &pod).await {
            Ok(Some(sandbox)) => sandbox,
            Ok(None) => return text_error(StatusCode::NOT_FOUND, format!("pod not found ({pod:?})")),
            Err(error) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        };
        let cri =
            api::PortForwardRequest { pod_sandbox_id: sandbox.id, port: ports.iter().map(|p| i32::from(*p)).collect() };
        match config.runtime.port_forward(cri).await {
            Ok(url) => relay::serve(request, url, Session::PortForward(ports)).await,
            Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        }
    }
    .instrument(span)
    .await
}

/// `POST /run/{ns}/{pod}/{container}?cmd=…`: runs a command and answers its output.
pub async fn run(
    State(config): State<Arc<Config>>,
    Path((namespace, pod, container)): ContainerPath,
    request: Request,
) -> Response {
    let query = Query::of(&request);
    let command: Vec<String> = query.all("cmd").flat_map(str::split_whitespace).map(str::to_owned).collect();
    if command.is_empty() {
        return text_error(StatusCode::BAD_REQUEST, "missing command");
    }
    let id = match running_container(&config, &namespace, &pod, &container).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    match config.runtime.exec_sync(&id, command, RUN_TIMEOUT).await {
        Ok(result) => {
            let mut output = result.stdout;
            output.extend_from_slice(&result.stderr);
            (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/plain")], output).into_response()
        }
        Err(error) => text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}
