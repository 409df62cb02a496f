//! The agent's side of joining a server (`skiff agent --server URL --token
//! TOKEN`, as k3s agents join): fetch the CA from `/cacerts`, check its
//! SHA-256 against the hash in the token (pinning the CA), then fetch a
//! client certificate for `system:node:<name>` and a serving certificate
//! from `/v1-skiff/client-kubelet` over TLS verified with that CA. The
//! credentials are kept under `<data-dir>/agent/` so a restart reuses them.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use skiff_apiserver::join::{
    CACERTS_PATH, CLIENT_KUBELET_PATH, KubeletCredentials, KubeletCredentialsRequest, ca_hash, parse_token,
};

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the server URL {0} is not an https://host[:port] URL")]
    ServerUrl(String),
    #[error("connecting to {url}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {url}")]
    Tls {
        url: String,
        #[source]
        source: rustls::Error,
    },
    #[error("HTTP with {url}")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("{url} answered {status}: {body}")]
    Refused { url: String, status: http::StatusCode, body: String },
    #[error(
        "the CA certificate from {url} has hash {actual}, but the token expects {expected}: this is not the server the token belongs to"
    )]
    CaMismatch { url: String, expected: String, actual: String },
    #[error("the credentials from {url} are not valid: {message}")]
    Decode { url: String, message: String },
    #[error("reading or writing {path}")]
    Files {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A `Result` with [`JoinError`].
pub type Result<T, E = JoinError> = std::result::Result<T, E>;

/// What a joined agent authenticates and serves with (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The cluster CA (verifies the API server; client CA of the kubelet server).
    pub ca_pem: String,
    /// The client certificate and key for `system:node:<name>`.
    pub client_cert: String,
    pub client_key: String,
    /// The kubelet server's certificate and key.
    pub serving_cert: String,
    pub serving_key: String,
}

/// The files the credentials are kept in, under the agent dir (k3s's names).
const FILES: [&str; 5] =
    ["server-ca.crt", "client-kubelet.crt", "client-kubelet.key", "serving-kubelet.crt", "serving-kubelet.key"];
/// The kubeconfig written beside them.
pub const KUBECONFIG_FILE: &str = "kubelet.kubeconfig";

impl Credentials {
    /// The credentials kept in `agent_dir`, if all files are there.
    pub fn load(agent_dir: &Path) -> Option<Self> {
        let read = |name: &str| std::fs::read_to_string(agent_dir.join(name)).ok().filter(|s| !s.is_empty());
        Some(Self {
            ca_pem: read(FILES[0])?,
            client_cert: read(FILES[1])?,
            client_key: read(FILES[2])?,
            serving_cert: read(FILES[3])?,
            serving_key: read(FILES[4])?,
        })
    }

    /// Writes the credentials (keys readable by the owner only) and a kubeconfig for `server_url`.
    pub fn save(&self, agent_dir: &Path, server_url: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let files = |path: &Path| {
            let path = path.display().to_string();
            move |source| JoinError::Files { path: path.clone(), source }
        };
        std::fs::create_dir_all(agent_dir).map_err(files(agent_dir))?;
        let kubeconfig = self.kubeconfig(server_url);
        let contents = [
            (FILES[0], &self.ca_pem),
            (FILES[1], &self.client_cert),
            (FILES[2], &self.client_key),
            (FILES[3], &self.serving_cert),
            (FILES[4], &self.serving_key),
            (KUBECONFIG_FILE, &kubeconfig),
        ];
        for (name, text) in contents {
            let path = agent_dir.join(name);
            std::fs::write(&path, text).map_err(files(&path))?;
            let mode = if name.ends_with(".crt") { 0o644 } else { 0o600 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(files(&path))?;
        }
        Ok(())
    }

    /// A kubeconfig for the API server at `server_url` with the client certificate.
    pub fn kubeconfig(&self, server_url: &str) -> String {
        skiff_apiserver::pki::kubeconfig(server_url, &self.ca_pem, &self.client_cert, &self.client_key)
    }
}

/// Joins the server at `server_url` with `token` as `node_name` (serving
/// certificate valid for the name and `addresses`).
pub async fn join(server_url: &str, token: &str, node_name: &str, addresses: &[IpAddr]) -> Result<Credentials> {
    let server = Server::parse(server_url)?;
    let parts = parse_token(token);
    let ca_pem = server.get_cacerts().await?;
    let actual = ca_hash(&ca_pem);
    match &parts.ca_hash {
        Some(expected) if *expected != actual => {
            return Err(JoinError::CaMismatch { url: server.url(CACERTS_PATH), expected: expected.clone(), actual });
        }
        Some(_) => {}
        None => tracing::warn!("the token carries no CA hash; trusting the CA the server sent"),
    }
    let request = KubeletCredentialsRequest {
        node_name: node_name.to_owned(),
        addresses: addresses.iter().map(IpAddr::to_string).collect(),
    };
    let issued = server.post_client_kubelet(&ca_pem, token, &request).await?;
    Ok(Credentials {
        ca_pem,
        client_cert: issued.client_certificate,
        client_key: issued.client_key,
        serving_cert: issued.serving_certificate,
        serving_key: issued.serving_key,
    })
}

/// The credentials kept in `agent_dir` when they match the token's CA,
/// else joins and keeps what it got.
pub async fn load_or_join(
    agent_dir: &Path,
    server_url: &str,
    token: &str,
    node_name: &str,
    addresses: &[IpAddr],
) -> Result<Credentials> {
    let expected = parse_token(token).ca_hash;
    if let Some(kept) = Credentials::load(agent_dir) {
        if expected.as_deref().is_none_or(|hash| hash == ca_hash(&kept.ca_pem)) {
            return Ok(kept);
        }
        tracing::info!("the kept agent credentials are for another CA; joining again");
    }
    let credentials = join(server_url, token, node_name, addresses).await?;
    credentials.save(agent_dir, server_url)?;
    Ok(credentials)
}

/// The server being joined.
struct Server {
    url: String,
    host: String,
    port: u16,
}

impl Server {
    fn parse(url: &str) -> Result<Self> {
        let bad = || JoinError::ServerUrl(url.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?.trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(Self { url: url.trim_end_matches('/').to_owned(), host, port: uri.port_u16().unwrap_or(6443) })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn get_cacerts(&self) -> Result<String> {
        // Nothing is trusted yet: the answer is checked against the token's hash instead.
        let tls = client_config(Arc::new(AcceptAnyServer(provider())));
        let body = self.request(tls, http::Method::GET, CACERTS_PATH, None, Vec::new()).await?;
        String::from_utf8(body).map_err(|e| JoinError::Decode { url: self.url(CACERTS_PATH), message: e.to_string() })
    }

    async fn post_client_kubelet(
        &self,
        ca_pem: &str,
        token: &str,
        request: &KubeletCredentialsRequest,
    ) -> Result<KubeletCredentials> {
        let url = self.url(CLIENT_KUBELET_PATH);
        let decode = |message: String| JoinError::Decode { url: url.clone(), message };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| decode(e.to_string()))?;
            roots.add(cert).map_err(|source| JoinError::Tls { url: url.clone(), source })?;
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| decode(e.to_string()))?;
        let body = serde_json::to_vec(request).map_err(|e| decode(e.to_string()))?;
        let answer =
            self.request(client_config(verifier), http::Method::POST, CLIENT_KUBELET_PATH, Some(token), body).await?;
        serde_json::from_slice(&answer).map_err(|e| decode(e.to_string()))
    }

    /// One HTTP/1.1 request over TLS; the body of a 2xx answer.
    async fn request(
        &self,
        tls: rustls::ClientConfig,
        method: http::Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let url = self.url(path);
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| JoinError::Connect { url: url.clone(), source })?;
        let name = ServerName::try_from(self.host.clone()).map_err(|_| JoinError::ServerUrl(self.url.clone()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .map_err(|source| JoinError::Connect { url: url.clone(), source })?;
        let http = |source| JoinError::Http { url: url.clone(), source };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(http)?;
        let driver = tokio::spawn(connection);
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| JoinError::Decode { url: url.clone(), message: e.to_string() })?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(http)?.to_bytes().to_vec();
        driver.abort();
        if !status.is_success() {
            return Err(JoinError::Refused { url, status, body: String::from_utf8_lossy(&body).into_owned() });
        }
        Ok(body)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
        .unwrap_or_else(|_| {
            // The ring provider supports the default versions; this branch is unreachable in practice.
            rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
                .with_no_client_auth()
        });
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Accepts any server certificate (signatures still checked): only for
/// `/cacerts`, whose answer is then checked against the token's hash.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
