//! The client side of the HTTP upgrade to SPDY/3.1, as client-go's SPDY
//! round tripper does it: `POST` with `Connection: Upgrade`, `Upgrade:
//! SPDY/3.1` and the offered `X-Stream-Protocol-Version`s; `101 Switching
//! Protocols` names the chosen one.

use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::connection::{Config, Connection, Role};

/// The header that negotiates the stream sub-protocol.
pub const STREAM_PROTOCOL_HEADER: &str = "X-Stream-Protocol-Version";

/// Errors of connecting to a SPDY streaming endpoint.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("streaming URL {0:?} is not an http:// URL with a host")]
    BadUrl(String),
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("HTTP handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("sending the upgrade request: {0}")]
    Request(#[source] hyper::Error),
    #[error("building the upgrade request: {0}")]
    BuildRequest(#[from] http::Error),
    #[error("unable to upgrade connection: {status}: {body}")]
    Rejected { status: StatusCode, body: String },
    #[error("completing the upgrade: {0}")]
    Upgrade(#[source] hyper::Error),
}

/// Upgrades a connection to `url` (an `http://` URL such as containerd's
/// streaming server returns) offering `protocols` in order of preference;
/// the connection (client role) and the protocol the server chose.
pub async fn connect(url: &str, protocols: &[&str], config: Config) -> Result<(Connection, String), UpgradeError> {
    let uri: Uri = url.parse().map_err(|_| UpgradeError::BadUrl(url.to_owned()))?;
    if uri.scheme_str() != Some("http") {
        return Err(UpgradeError::BadUrl(url.to_owned()));
    }
    let authority = uri.authority().ok_or_else(|| UpgradeError::BadUrl(url.to_owned()))?.clone();
    let addr = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
    let tcp = TcpStream::connect(&addr).await.map_err(|source| UpgradeError::Connect { addr, source })?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(UpgradeError::Handshake)?;
    tokio::spawn(async move {
        if let Err(error) = conn.with_upgrades().await {
            tracing::debug!(%error, "SPDY upgrade connection ended");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, authority.as_str())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header(header::CONTENT_LENGTH, "0");
    for protocol in protocols {
        request = request.header(STREAM_PROTOCOL_HEADER, *protocol);
    }
    let request = request.body(Empty::<bytes::Bytes>::new())?;
    let mut response = sender.send_request(request).await.map_err(UpgradeError::Request)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = match response.body_mut().collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(error) => format!("(unreadable body: {error})"),
        };
        return Err(UpgradeError::Rejected { status, body });
    }
    let protocol =
        response.headers().get(STREAM_PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let upgraded = hyper::upgrade::on(response).await.map_err(UpgradeError::Upgrade)?;
    Ok((Connection::new(TokioIo::new(upgraded), Role::Client, config), protocol))
}
