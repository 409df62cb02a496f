//! httpGet probes as upstream's `pkg/probe/http`: one GET per connection
//! (no keep-alive, no proxy, no compression), HTTPS without certificate
//! verification, `User-Agent: kube-probe/1.33` and `Accept: */*` unless the
//! probe sets them, redirects followed only to the same host (at most 10),
//! success for 200–399, a redirect elsewhere a warning.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::HTTPGetAction;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};

use super::prober::MAX_OUTPUT;
use super::tcp::{dial, join_host_port};
use super::{Outcome, PROBE_USER_AGENT};

/// The most redirects followed (Go's http.Client default).
const MAX_REDIRECTS: usize = 10;

/// A probe request: where to and with which headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpRequest {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The path and query as written in the probe (may be empty).
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// The request for an httpGet action against `host:port`.
    pub fn from_action(get: &HTTPGetAction, host: &str, port: u16) -> Self {
        let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let mut headers: Vec<(String, String)> =
            get.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has(&headers, "user-agent") {
            headers.push(("User-Agent".into(), PROBE_USER_AGENT.into()));
        }
        if !has(&headers, "accept") {
            headers.push(("Accept".into(), "*/*".into()));
        } else {
            headers.retain(|(name, value)| !(name.eq_ignore_ascii_case("accept") && value.is_empty()));
        }
        let scheme = if scheme.is_empty() { "http".into() } else { scheme };
        Self { scheme, host: host.into(), port, path: get.path.clone().unwrap_or_default(), headers }
    }

    /// The URL as upstream prints it in errors (`http://10.42.0.5:8080/healthz`).
    pub fn url(&self) -> String {
        let slash = if self.path.is_empty() || self.path.starts_with('/') { "" } else { "/" };
        format!("{}://{}{slash}{}", self.scheme, join_host_port(&self.host, self.port), self.path)
    }

    fn target(&self) -> String {
        if self.path.is_empty() {
            "/".into()
        } else if self.path.starts_with('/') {
            self.path.clone()
        } else {
            format!("/{}", self.path)
        }
    }

    /// The request a redirect to `location` makes (same headers), resolved against this one.
    fn redirect(&self, location: &str) -> Option<Self> {
        let mut next = self.clone();
        let rest = if let Some((scheme, rest)) = location.split_once("://").filter(|(s, _)| !s.contains('/')) {
            next.scheme = scheme.to_lowercase();
            Some(rest)
        } else {
            location.strip_prefix("//")
        };
        match rest {
            Some(rest) => {
                let (authority, path) = rest.find(['/', '?']).map_or((rest, ""), |at| rest.split_at(at));
                let default_port = if next.scheme == "https" { 443 } else { 80 };
                let (host, port) = split_authority(authority, default_port)?;
                next.host = host;
                next.port = port;
                next.path = path.to_owned();
            }
            None if location.starts_with('/') => next.path = without_dot_segments(location),
            None => {
                let current = self.target();
                let path = current.split('?').next().unwrap_or("/");
                let dir = &path[..path.rfind('/').map_or(0, |at| at + 1)];
                next.path = without_dot_segments(&format!("{dir}{location}"));
            }
        }
        Some(next)
    }
}

/// An absolute path with `.` and `..` segments resolved (RFC 3986 §5.2.4), the query kept.
fn without_dot_segments(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (index, part) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        match *part {
            "." | ".." => {
                if *part == ".." {
                    segments.pop();
                }
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').map_or(Some(default_port), |p| p.parse().ok())?;
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
}

/// Runs an httpGet probe, bounded as a whole (connects, redirects and body) by `timeout`.
pub(super) async fn probe(request: &HttpRequest, tls: &Arc<rustls::ClientConfig>, timeout: Duration) -> Outcome {
    let first_url = request.url();
    match tokio::time::timeout(timeout, follow(request, tls, timeout)).await {
        Err(_) => Outcome::Failure(format!(
            "Get {first_url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Ok(Err(message)) => Outcome::Failure(format!("Get {first_url:?}: {message}")),
        Ok(Ok((status, body))) => {
            let body = String::from_utf8_lossy(&body).into_owned();
            match status {
                200..=299 => Outcome::Success(body),
                300..=399 => Outcome::Warning(format!("Probe terminated redirects, Response body: {body}")),
                _ => Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")),
            }
        }
    }
}

/// Sends the request and follows same-host redirects; the final status and (at most 10 KiB of) body.
async fn follow(
    request: &HttpRequest,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let mut current = request.clone();
    for _ in 0..=MAX_REDIRECTS {
        let (status, location, body) = send(&current, tls, timeout).await?;
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308).then_some(location).flatten();
        let Some(next) = redirect.and_then(|location| current.redirect(&location)) else {
            return Ok((status, body));
        };
        if next.host != request.host {
            return Ok((status, body));
        }
        current = next;
    }
    Err("stopped after 10 redirects".into())
}

async fn send(
    request: &HttpRequest,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let addr = join_host_port(&request.host, request.port);
    let stream = dial(&addr, timeout).await?;
    match request.scheme.as_str() {
        "https" => {
            let name = ServerName::try_from(request.host.clone()).map_err(|e| e.to_string())?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
            let stream = connector.connect(name, stream).await.map_err(|e| format!("remote error: tls: {e}"))?;
            exchange(request, stream).await
        }
        "http" => exchange(request, stream).await,
        other => Err(format!("unsupported protocol scheme {other:?}")),
    }
}

async fn exchange<S>(request: &HttpRequest, stream: S) -> Result<(u16, Option<String>, Vec<u8>), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let mut builder = http::Request::get(request.target());
    let host_given = request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    if !host_given {
        builder = builder.header(http::header::HOST, join_host_port(&request.host, request.port));
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder = builder.header(http::header::CONNECTION, "close");
    let outgoing = builder.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let response = sender.send_request(outgoing).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while kept.len() < MAX_OUTPUT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    kept.extend_from_slice(&data);
                }
            }
            Some(Err(error)) => return Err(error.to_string()),
            None => break,
        }
    }
    kept.truncate(MAX_OUTPUT);
    driver.abort();
    Ok((status, location, kept))
}

/// A TLS client configuration that accepts any server certificate, as upstream's prober
/// (`InsecureSkipVerify`): probes check liveness, not identity.
pub(super) fn insecure_tls_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth());
    // The ring provider supports the safe default versions; should it ever not, probes of
    // HTTPS endpoints fail verification instead of the kubelet failing.
    Arc::new(config.unwrap_or_else(|_| {
        rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
    }))
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
