//! Container lifecycle hooks (postStart, preStop): exec in the container,
//! an HTTP GET against the pod, or a sleep, as upstream's handler runner.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::runtime::Runtime;

/// Why a hook failed (its Display is the event message's detail).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("command '{command}' exited with {code}: {output}")]
    Exec { command: String, code: i32, output: String },
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("HTTP lifecycle hook ({path}) for Container \"{container}\" in Pod \"{pod}\" failed - error: {message}")]
    Http { path: String, container: String, pod: String, message: String },
    #[error("hook has no handler")]
    Empty,
}

fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

/// Runs `handler` for the container with `container_id`; `timeout` bounds it.
pub async fn run(
    runtime: &dyn Runtime,
    handler: &LifecycleHandler,
    (pod, container, container_id): (&Pod, &Container, &str),
    pod_ip: Option<&str>,
    timeout: Duration,
) -> Result<(), HookError> {
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let response = runtime.exec_sync(container_id, command.clone(), timeout).await?;
        if response.exit_code != 0 {
            let output = String::from_utf8_lossy(&[response.stdout, response.stderr].concat()).into_owned();
            return Err(HookError::Exec { command: command.join(" "), code: response.exit_code, output });
        }
        return Ok(());
    }
    if let Some(get) = &handler.http_get {
        let host = get.host.clone().filter(|h| !h.is_empty()).or(pod_ip.map(str::to_owned)).unwrap_or_default();
        let port = resolve_port(&get.port, container).unwrap_or(80);
        let path = get.path.clone().unwrap_or_else(|| "/".into());
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let fail = |message: String| HookError::Http {
            path: path.clone(),
            container: container.name.clone(),
            pod: super::security::format_pod(pod),
            message,
        };
        if runtime.simulates_network() {
            let command = crate::probes::prober::simulated_network_command("httpGet", &host, port);
            let response = runtime.exec_sync(container_id, command, timeout).await?;
            // A simulated hook that "fails" answers as a server error would.
            return match response.exit_code {
                0 => Ok(()),
                _ => Err(fail(format!("HTTP lifecycle hook ({path}) returned 500"))),
            };
        }
        let uri = format!("http://{host}:{port}{path}");
        let mut request = http::Request::get(&uri);
        for header in get.http_headers.iter().flatten() {
            request = request.header(header.name.as_str(), header.value.as_str());
        }
        let request = request.body(Empty::<Bytes>::new()).map_err(|e| fail(e.to_string()))?;
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let response = tokio::time::timeout(timeout, client.request(request))
            .await
            .map_err(|_| fail(format!("Get \"{uri}\": context deadline exceeded")))?
            .map_err(|e| fail(format!("Get \"{uri}\": {e}")))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if !status.is_success() && !status.is_redirection() {
            return Err(fail(format!("HTTP lifecycle hook ({path}) returned {}", status.as_u16())));
        }
        return Ok(());
    }
    if let Some(sleep) = &handler.sleep {
        let seconds = u64::try_from(sleep.seconds).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(seconds).min(timeout)).await;
        return Ok(());
    }
    Err(HookError::Empty)
}
