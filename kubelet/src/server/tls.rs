//! The kubelet server's TLS: its serving certificate (given, or made
//! self-signed at start as upstream's kubelet does without one) and client
//! certificates verified against the client CA.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the {what} is not valid PEM")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("making a self-signed serving certificate")]
    SelfSigned(#[from] rcgen::Error),
    #[error("the TLS configuration")]
    Tls(#[from] rustls::Error),
    #[error("the client certificate verifier")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The rustls server configuration. With `client_ca`, clients may present
/// a certificate, which must chain to it (those that present none are
/// refused per request, with 401).
pub fn server_config(
    serving: Option<&(String, String)>,
    client_ca: Option<&str>,
    hosts: &[String],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert, key) = match serving {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => {
            let made = rcgen::generate_simple_self_signed(hosts.to_vec())?;
            (made.cert.pem(), made.signing_key.serialize_pem())
        }
    };
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what: "serving certificate", source })?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|source| TlsError::Pem { what: "serving key", source })?;
    let builder =
        rustls::ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.map_err(|source| TlsError::Pem { what: "client CA", source })?)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
