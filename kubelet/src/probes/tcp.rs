//! tcpSocket probes: a TCP connection within the timeout, closed at once; the
//! errors read as Go's dialer writes them (`dial tcp 10.42.0.5:80: connect: connection refused`).

use std::time::Duration;

use tokio::net::TcpStream;

use super::Outcome;

/// `host:port`, with brackets around an IPv6 address (Go's `JoinHostPort`).
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Connects to `addr` within `timeout`; the error text is Go's (`dial tcp <addr>: ...`).
pub(super) async fn dial(addr: &str, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        Ok(Err(error)) => Err(format!("dial tcp {addr}: {}", os_error_text(&error))),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// An I/O error as Go prints a failed connect: `connect: connection refused`.
fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => return text,
    };
    format!("connect: {text}")
}

/// Probes `host:port` over TCP.
pub(super) async fn probe(host: &str, port: u16, timeout: Duration) -> Outcome {
    match dial(&join_host_port(host, port), timeout).await {
        Ok(stream) => {
            drop(stream);
            Outcome::Success(String::new())
        }
        Err(message) => Outcome::Failure(message),
    }
}
