//! grpc probes: `grpc.health.v1.Health/Check` with the probe's service over
//! plaintext HTTP/2 (the tonic-health client), with upstream's messages.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::tcp::{dial, join_host_port};
use super::{Outcome, PROBE_USER_AGENT};

/// Checks `service` at `host:port` within `timeout`.
pub(super) async fn probe(host: &str, port: i32, service: &str, timeout: Duration) -> Outcome {
    let Ok(port) = u16::try_from(port) else {
        return Outcome::Error(format!("invalid port number: {port}"));
    };
    let addr = join_host_port(host, port);
    match tokio::time::timeout(timeout, check(&addr, service, timeout)).await {
        Err(_) => Outcome::Failure(format!("timeout: health rpc did not complete within {}", go_duration(timeout))),
        Ok(outcome) => outcome,
    }
}

async fn check(addr: &str, service: &str, timeout: Duration) -> Outcome {
    let unavailable = |message: String| {
        Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: {message}\""
        ))
    };
    // Dialled here so that a refused connection reads as upstream's; the channel then uses it.
    let stream = match dial(addr, timeout).await {
        Ok(stream) => stream,
        Err(message) => return unavailable(message),
    };
    let endpoint = match tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .and_then(|endpoint| endpoint.user_agent(PROBE_USER_AGENT))
    {
        Ok(endpoint) => endpoint.timeout(timeout),
        Err(error) => return Outcome::Failure(format!("error: failed to connect service at {addr:?}: {error}")),
    };
    let slot = Arc::new(Mutex::new(Some(stream)));
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let stream: Option<TcpStream> = slot.lock().ok().and_then(|mut slot| slot.take());
        async move {
            stream.map(TokioIo::new).ok_or_else(|| std::io::Error::other("the probe's connection was already used"))
        }
    });
    let channel = match endpoint.connect_with_connector(connector).await {
        Ok(channel) => channel,
        Err(error) => return unavailable(error.to_string()),
    };
    let request = HealthCheckRequest { service: service.to_owned() };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => {
            let status = response.into_inner().status;
            if status == ServingStatus::Serving as i32 {
                Outcome::Success("service healthy".into())
            } else {
                let name = ServingStatus::try_from(status).map_or("UNKNOWN", |s| s.as_str_name());
                Outcome::Failure(format!("service unhealthy (responded with {name:?})"))
            }
        }
        Err(status) => match status.code() {
            Code::Unimplemented => Outcome::Failure(format!(
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                status.message()
            )),
            Code::DeadlineExceeded | Code::Cancelled if status.message().contains("imeout") => {
                Outcome::Failure(format!("timeout: health rpc did not complete within {}", go_duration(timeout)))
            }
            code => Outcome::Failure(format!(
                "error: health rpc probe failed: rpc error: code = {code:?} desc = {}",
                status.message()
            )),
        },
    }
}

/// A duration as Go prints whole seconds (`1s`).
fn go_duration(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}
