//! One run of one probe against one container, as upstream's `prober.runProbe`:
//! the handler (exec, httpGet, tcpSocket, grpc) with the probe's timeout, and
//! the outcome with the output upstream puts in its events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ProbeKind;
use crate::runtime::Runtime;

/// How much of an exec probe's output or an HTTP response body is kept (upstream's 10 KiB).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// What one probe run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Healthy; the output (exec output, response body, `service healthy`).
    Success(String),
    /// Healthy with a warning (an HTTP redirect to another host was not followed).
    Warning(String),
    /// Unhealthy; the message (`HTTP probe failed with statuscode: 500`).
    Failure(String),
    /// The probe could not be run (a named port that does not exist, the runtime failing);
    /// upstream discards such runs.
    Error(String),
}

impl Outcome {
    /// The Warning event upstream records for this outcome of a `kind` probe, as (reason, message).
    pub fn event(&self, kind: ProbeKind) -> Option<(&'static str, String)> {
        let kind = kind.as_str();
        match self {
            Outcome::Success(_) => None,
            Outcome::Warning(output) => Some(("ProbeWarning", format!("{kind} probe warning: {output}"))),
            Outcome::Failure(output) => Some(("Unhealthy", format!("{kind} probe failed: {output}"))),
            Outcome::Error(error) => {
                Some(("Unhealthy", format!("{kind} probe errored and resulted in unknown state: {error}")))
            }
        }
    }
}

/// The container a probe runs against.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The container's spec (its ports name the probes' named ports; its literal env expands exec commands).
    pub container: Container,
    /// The runtime's container ID (exec probes).
    pub container_id: String,
    /// The pod's IP (the host of httpGet without host, tcpSocket without host, and grpc).
    pub pod_ip: String,
}

/// Runs probes: exec through the runtime, the others over the network from the node.
#[derive(Debug, Clone)]
pub struct Prober {
    runtime: Arc<dyn Runtime>,
    tls: Arc<rustls::ClientConfig>,
}

impl Prober {
    /// A prober that runs exec probes on `runtime`.
    pub fn new(runtime: Arc<dyn Runtime>) -> Self {
        Self { runtime, tls: super::http::insecure_tls_config() }
    }

    /// Runs `probe` once against `target`, bounded by its timeoutSeconds (default 1).
    pub async fn run(&self, probe: &Probe, target: &ProbeTarget) -> Outcome {
        let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
        if let Some(exec) = &probe.exec {
            let command = expand_static(exec.command.as_deref().unwrap_or_default(), &target.container);
            return self.exec(target, command, timeout).await;
        }
        if let Some(get) = &probe.http_get {
            let port = match resolve_port(&get.port, &target.container) {
                Ok(port) => port,
                Err(error) => return Outcome::Error(error),
            };
            let host = get.host.as_deref().filter(|h| !h.is_empty()).unwrap_or(&target.pod_ip);
            if self.runtime.simulates_network() {
                return self.exec(target, simulated_network_command("httpGet", host, port), timeout).await;
            }
            let request = super::http::HttpRequest::from_action(get, host, port);
            return super::http::probe(&request, &self.tls, timeout).await;
        }
        if let Some(socket) = &probe.tcp_socket {
            let port = match resolve_port(&socket.port, &target.container) {
                Ok(port) => port,
                Err(error) => return Outcome::Error(error),
            };
            let host = socket.host.as_deref().filter(|h| !h.is_empty()).unwrap_or(&target.pod_ip);
            if self.runtime.simulates_network() {
                return self.exec(target, simulated_network_command("tcpSocket", host, port), timeout).await;
            }
            return super::tcp::probe(host, port, timeout).await;
        }
        if let Some(grpc) = &probe.grpc {
            let service = grpc.service.clone().unwrap_or_default();
            if self.runtime.simulates_network() {
                let port = u16::try_from(grpc.port).unwrap_or_default();
                return self.exec(target, simulated_network_command("grpc", &target.pod_ip, port), timeout).await;
            }
            return super::grpc::probe(&target.pod_ip, grpc.port, &service, timeout).await;
        }
        Outcome::Error(format!("missing probe handler for {}", target.container.name))
    }

    async fn exec(&self, target: &ProbeTarget, command: Vec<String>, timeout: Duration) -> Outcome {
        let line = command.join(" ");
        // The runtime enforces the timeout; the margin only guards against one that does not.
        let call = self.runtime.exec_sync(&target.container_id, command, timeout);
        let timed_out = || Outcome::Failure(format!("command {line:?} timed out"));
        match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
            Err(_) => timed_out(),
            Ok(Err(error)) => {
                let message = error.to_string();
                if message.contains("DeadlineExceeded") || message.contains("deadline exceeded") {
                    timed_out()
                } else {
                    Outcome::Error(message)
                }
            }
            Ok(Ok(response)) => {
                let mut output = response.stdout;
                output.extend_from_slice(&response.stderr);
                output.truncate(MAX_OUTPUT);
                let output = String::from_utf8_lossy(&output).into_owned();
                if response.exit_code == 0 { Outcome::Success(output) } else { Outcome::Failure(output) }
            }
        }
    }
}

/// What a runtime that simulates the network is asked to run in place of a network probe or hook.
pub(crate) fn simulated_network_command(kind: &str, host: &str, port: u16) -> Vec<String> {
    vec![kind.to_owned(), super::tcp::join_host_port(host, port)]
}

/// `$(VAR)` in an exec probe's command, from the container's literal env values only
/// (upstream's `ExpandContainerCommandOnlyStatic`).
fn expand_static(command: &[String], container: &Container) -> Vec<String> {
    let env: BTreeMap<&str, &str> = container
        .env
        .iter()
        .flatten()
        .map(|var| (var.name.as_str(), var.value.as_deref().unwrap_or_default()))
        .collect();
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    command.iter().map(|part| crate::pod::env::expand(part, &lookup)).collect()
}

/// A probe's port: a number, or the name of one of the container's ports (or a number written
/// as a string), as upstream's `ResolveContainerPort`.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(number) => i64::from(*number),
        IntOrString::String(name) => {
            let named = container.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str()));
            match named {
                Some(found) => i64::from(found.container_port),
                None => name.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {name:?}: invalid syntax"))?,
            }
        }
    };
    u16::try_from(number).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {number}"))
}
