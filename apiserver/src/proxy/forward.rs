//! An upgrade-aware HTTP/1.1 forwarder over any connection: the request
//! goes to the backend as it came (minus the caller's credentials); a
//! `101 Switching Protocols` answer is passed back and then both upgraded
//! connections are spliced byte for byte, as upstream's UpgradeAwareHandler
//! does. The kubelet uses it too, to pass SPDY and WebSocket streams on to
//! the container runtime's streaming server.

use axum::body::Body;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("connecting to {backend}")]
    Connect {
        backend: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP handshake with {backend}")]
    Handshake {
        backend: String,
        #[source]
        source: hyper::Error,
    },
    #[error("sending the request to {backend}")]
    Send {
        backend: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the request to {backend} could not be built")]
    Build {
        backend: String,
        #[source]
        source: http::Error,
    },
}

/// Headers a proxy never passes on: the caller's credentials for this
/// server (the backend gets the proxy's own), and `Host`.
const DROPPED: &[&str] =
    &["authorization", "host", "impersonate-user", "impersonate-group", "impersonate-uid", "proxy-authorization"];

/// Whether a request asks to switch protocols (SPDY or WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// Forwards `request` to `target` (path and query are used; the authority
/// becomes `Host`) over `io`, an already connected (and, if wanted, TLS)
/// stream. Upgrades are spliced; other responses are streamed back.
pub async fn forward<IO>(mut request: Request<Body>, io: IO, target: &Uri) -> Result<Response, ForwardError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let backend = target.authority().map(ToString::to_string).unwrap_or_default();
    let upgrade = is_upgrade(request.headers());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|source| ForwardError::Handshake { backend: backend.clone(), source })?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "backend connection ended with an error");
        }
    });

    let path = target.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut builder = Request::builder().method(request.method().clone()).uri(path);
    for (name, value) in request.headers() {
        if !DROPPED.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    if let Ok(host) = HeaderValue::from_str(&backend) {
        builder = builder.header(header::HOST, host);
    }
    let body = if upgrade { Body::empty() } else { std::mem::take(request.body_mut()) };
    let outgoing = builder.body(body).map_err(|source| ForwardError::Build { backend: backend.clone(), source })?;
    let mut response = sender
        .send_request(outgoing)
        .await
        .map_err(|source| ForwardError::Send { backend: backend.clone(), source })?;

    if !upgrade || response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response.map(Body::new));
    }
    let backend_upgrade = hyper::upgrade::on(&mut response);
    let client_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let (client, backend) = match tokio::try_join!(client_upgrade, backend_upgrade) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                return;
            }
        };
        let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!(%error, "upgraded connection ended with an error");
        }
    });
    let mut answer = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    Ok(answer.body(Body::empty()).unwrap_or_default())
}
