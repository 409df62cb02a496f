//! How the API server reaches kubelets: HTTPS with its client certificate
//! (when configured), without verifying the kubelet's serving certificate
//! (upstream's behaviour without `--kubelet-certificate-authority`), HTTP/1.1
//! so that SPDY and WebSocket upgrades work.

use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Why the kubelet client could not be configured or could not connect.
#[derive(Debug, thiserror::Error)]
pub enum KubeletClientError {
    #[error("the kubelet client certificate or key is not valid PEM")]
    Pem(#[from] rustls::pki_types::pem::Error),
    #[error("the kubelet client TLS configuration")]
    Tls(#[from] rustls::Error),
    #[error("dialing the kubelet at {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// The TLS client configuration for kubelet connections; replaceable at run time.
#[derive(Debug)]
pub struct KubeletClient {
    config: RwLock<Arc<rustls::ClientConfig>>,
}

impl Default for KubeletClient {
    fn default() -> Self {
        Self { config: RwLock::new(client_config(None).unwrap_or_else(|_| Arc::new(fallback_config()))) }
    }
}

impl KubeletClient {
    /// Presents `cert_pem` (with its chain) and `key_pem` to kubelets from now on.
    pub fn set_client_certificate(&self, cert_pem: &str, key_pem: &str) -> Result<(), KubeletClientError> {
        let config = client_config(Some((cert_pem, key_pem)))?;
        if let Ok(mut current) = self.config.write() {
            *current = config;
        }
        Ok(())
    }

    /// A TLS connection to the kubelet at `host:port`.
    pub async fn connect(&self, host: &str, port: u16) -> Result<TlsStream<TcpStream>, KubeletClientError> {
        let address = format!("{}:{port}", bracket(host));
        let connect_error = |source| KubeletClientError::Connect { address: address.clone(), source };
        let tcp = TcpStream::connect(&address).await.map_err(connect_error)?;
        let config = self.config.read().map(|c| Arc::clone(&c)).unwrap_or_else(|_| Arc::new(fallback_config()));
        // Any name will do: the kubelet's certificate is not verified.
        let name =
            ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::from(std::net::Ipv4Addr::LOCALHOST));
        TlsConnector::from(config).connect(name, tcp).await.map_err(connect_error)
    }
}

/// `[::1]` for IPv6 literals, as in URLs.
pub fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(identity: Option<(&str, &str)>) -> Result<Arc<rustls::ClientConfig>, KubeletClientError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)));
    let mut config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn fallback_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider())))
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
        })
}

/// Accepts any server certificate (signatures are still checked), as
/// kube-apiserver does towards kubelets when it has no kubelet CA.
#[derive(Debug)]
struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
