//! What the kubelet does with an exec, attach or port-forward request once
//! the runtime gave it a streaming URL: SPDY is passed through to the CRI
//! streaming server byte for byte; WebSocket channel protocols (v5 … v1)
//! are translated to SPDY ([`super::translate`]); the port-forward tunnel of
//! kubectl 1.31+ (`SPDY/3.1+portforward.k8s.io`: SPDY inside WebSocket
//! binary messages) is unwrapped into a plain SPDY connection.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use skiff_apiserver::proxy::{forward, is_upgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::translate::{ChannelProtocol, ExecOptions, translate_exec, translate_port_forward};

/// The WebSocket sub-protocol of kubectl's port-forward tunnel (1.31+).
pub const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY sub-protocol of port-forward.
const SPDY_PORT_FORWARD: &str = "portforward.k8s.io";

/// Why a stream could not be set up (sent to the client as text, with the status).
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("Upgrade request required")]
    UpgradeRequired,
    #[error("unable to upgrade: unsupported WebSocket sub-protocols {0:?}")]
    UnsupportedProtocol(Vec<String>),
    #[error("the runtime's streaming URL {0:?} is not valid")]
    Url(String),
    #[error("connecting to the runtime's streaming server at {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("relaying to the runtime's streaming server")]
    Forward(#[from] skiff_apiserver::proxy::ForwardError),
    #[error("the runtime's streaming server refused the upgrade: {0}")]
    Refused(StatusCode),
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::UpgradeRequired | Self::UnsupportedProtocol(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        tracing::debug!(error = %self, "stream not set up");
        (status, self.to_string()).into_response()
    }
}

/// One streaming session.
#[derive(Debug, Clone)]
pub enum Session {
    /// An exec or attach with these streams.
    Exec(ExecOptions),
    /// A port-forward of these ports (from the `port` query parameter; SPDY clients name them per stream).
    PortForward(Vec<u16>),
}

/// Serves a client's upgrade request for `session` against the CRI streaming URL `cri_url`.
pub async fn serve(request: axum::extract::Request, cri_url: String, session: Session) -> Response {
    match serve_inner(request, cri_url, session).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn offered_protocols(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn is_websocket(headers: &http::HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn serve_inner(
    request: axum::extract::Request,
    cri_url: String,
    session: Session,
) -> Result<Response, RelayError> {
    if !is_upgrade(request.headers()) {
        return Err(RelayError::UpgradeRequired);
    }
    if !is_websocket(request.headers()) {
        // SPDY (kubectl before 1.30/1.31, or another proxy's translator): pass it on.
        return pass_through(request, &cri_url).await;
    }
    let offered = offered_protocols(request.headers());
    if matches!(session, Session::PortForward(_)) && offered.iter().any(|p| p == PORT_FORWARD_TUNNEL) {
        return tunnel(request, &cri_url).await;
    }
    let Some((name, protocol)) = ChannelProtocol::negotiate(offered.iter().map(String::as_str)) else {
        return Err(RelayError::UnsupportedProtocol(offered));
    };
    let name = name.to_owned();
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let upgrade = if name.is_empty() { upgrade } else { upgrade.protocols([name]) };
    Ok(upgrade.on_upgrade(move |socket| relay_channels(socket, protocol, cri_url, session)))
}

/// The boundary of the WebSocket channel-protocol relay: one session from
/// an upgraded WebSocket to the CRI streaming server.
async fn relay_channels(socket: WebSocket, protocol: ChannelProtocol, cri_url: String, session: Session) {
    // client-go treats a Close without a status code as an error (it wants
    // 1000, normal closure), so the closing message gets one.
    let socket = socket.with(|message: Message| {
        futures::future::ready(Ok::<_, axum::Error>(match message {
            Message::Close(None) => Message::Close(Some(CloseFrame { code: close_code::NORMAL, reason: "".into() })),
            other => other,
        }))
    });
    let result = match session {
        Session::Exec(options) => translate_exec(socket, protocol, &cri_url, options).await,
        Session::PortForward(ports) => translate_port_forward(socket, protocol, &cri_url, &ports).await,
    };
    if let Err(error) = result {
        tracing::debug!(%error, "stream relay ended with an error");
    }
}

/// The CRI URL (`http://127.0.0.1:port/exec/<token>`), with the client's query added.
fn target(cri_url: &str, client: &Uri) -> Result<Uri, RelayError> {
    let mut url = cri_url.to_owned();
    if let Some(query) = client.query() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    url.parse().map_err(|_| RelayError::Url(cri_url.to_owned()))
}

async fn connect(target: &Uri) -> Result<TcpStream, RelayError> {
    let authority = target.authority().map(ToString::to_string).ok_or_else(|| RelayError::Url(target.to_string()))?;
    TcpStream::connect(&authority).await.map_err(|source| RelayError::Connect { address: authority, source })
}

async fn pass_through(request: axum::extract::Request, cri_url: &str) -> Result<Response, RelayError> {
    let target = target(cri_url, request.uri())?;
    let io = connect(&target).await?;
    Ok(forward(request, io, &target).await?)
}

/// kubectl's port-forward tunnel: a SPDY upgrade towards the CRI server,
/// then the WebSocket's binary messages are the bytes of that connection.
async fn tunnel(request: axum::extract::Request, cri_url: &str) -> Result<Response, RelayError> {
    let target = target(cri_url, request.uri())?;
    let io = connect(&target).await?;
    let path = target.path_and_query().map_or("/", |p| p.as_str());
    let host = target.authority().map(ToString::to_string).unwrap_or_default();
    let spdy = Request::builder()
        .method(http::Method::GET)
        .uri(path)
        .header(header::HOST, host)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header(crate::streaming::spdy::STREAM_PROTOCOL_HEADER, SPDY_PORT_FORWARD)
        .body(Body::empty())
        .map_err(|_| RelayError::Url(cri_url.to_owned()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|source| skiff_apiserver::proxy::ForwardError::Handshake { backend: target.to_string(), source })?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut answer = sender
        .send_request(spdy)
        .await
        .map_err(|source| skiff_apiserver::proxy::ForwardError::Send { backend: target.to_string(), source })?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(RelayError::Refused(answer.status()));
    }
    let chosen = answer
        .headers()
        .get(crate::streaming::spdy::STREAM_PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(SPDY_PORT_FORWARD)
        .to_owned();
    let backend = hyper::upgrade::on(&mut answer);
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let protocol = format!("SPDY/3.1+{chosen}");
    let mut response = upgrade.protocols([protocol.clone()]).on_upgrade(move |socket| async move {
        match backend.await {
            Ok(backend) => splice_tunnel(socket, TokioIo::new(backend)).await,
            Err(error) => tracing::debug!(%error, "the runtime's SPDY upgrade failed"),
        }
    });
    // `protocols` only answers names the client offered; the tunnel's name is the one it offered.
    if let Ok(value) = HeaderValue::from_str(&protocol) {
        response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    Ok(response)
}

/// Copies WebSocket binary messages to `backend` and `backend`'s bytes back as binary messages.
async fn splice_tunnel<IO>(socket: WebSocket, backend: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut to_client, mut from_client) = socket.split();
    let (mut reader, mut writer) = tokio::io::split(backend);
    let upstream = async move {
        while let Some(Ok(message)) = from_client.next().await {
            let data = match message {
                Message::Binary(data) => data,
                Message::Close(_) => break,
                _ => continue,
            };
            if writer.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client.send(Message::Binary(bytes::Bytes::copy_from_slice(&buffer[..n]))).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_client.send(Message::Close(None)).await;
    };
    futures::future::join(upstream, downstream).await;
}
