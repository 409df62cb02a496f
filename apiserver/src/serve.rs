//! Serving the API over HTTPS (rustls; HTTP/2 and HTTP/1.1): client
//! certificates are verified against the cluster CA when presented, every
//! request is authenticated, and shutdown lets in-flight requests finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::authn::{Authenticator, PeerCertificate, authenticate};
use crate::pki::Pki;

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the certificate or key in {0} is not valid PEM")]
    Pem(String),
    #[error("TLS configuration")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verification")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The rustls configuration: the serving certificate, and optional client
/// certificates verified against the cluster CA.
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let dir = pki.dir.display().to_string();
    let pem = |_| ServeError::Pem(dir.clone());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        roots.add(cert.map_err(pem)?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()?;
    let chain =
        CertificateDer::pem_slice_iter(pki.serving_cert.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(pem)?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving_key.as_bytes()).map_err(pem)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    authenticator: Arc<Authenticator>,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(axum::middleware::from_fn_with_state(authenticator, authenticate));
    serve_tls(listener, router, tls, DRAIN, shutdown).await;
}

/// Serves `router` over HTTPS (HTTP/1.1 with upgrades, and HTTP/2) on `listener` until `shutdown`
/// resolves, then lets requests finish for up to `drain`. Each request carries the client's
/// certificate, when it sent one, as a [`PeerCertificate`] extension. Also the kubelet's server.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    drain: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (acceptor, router, watcher) = (acceptor.clone(), router.clone(), graceful.watcher());
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| PeerCertificate(Arc::new(cert.to_vec())));
            let service = router.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                if let Some(certificate) = &certificate {
                    request.extensions_mut().insert(certificate.clone());
                }
                request
            });
            let connection = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections did not finish within {drain:?}");
    }
}
