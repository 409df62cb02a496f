//! An agent joins a server over HTTPS as k3s agents do: the token pins the
//! CA, a wrong token gets 401, and the issued client certificate
//! authenticates as system:node:<name> in system:nodes; the credentials
//! are kept and reused.

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use skiff_apiserver::authn::Authenticator;
use skiff_apiserver::join::{self, JoinToken};
use skiff_apiserver::pki::Pki;
use skiff_apiserver::{ApiServer, serve};
use skiff_kubelet::node::join::{Credentials, JoinError, load_or_join};
use skiff_store::MemoryBackend;

struct Server {
    url: String,
    token: JoinToken,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// A skiff API server over HTTPS with the join routes, wired as `skiff server` wires them.
async fn server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let pki = Pki::load_or_create(&dir.path().join("server/tls"), &["127.0.0.1".into(), "localhost".into()])
        .expect("certificates");
    let token = JoinToken::load_or_create(&dir.path().join("server"), &pki.ca_cert).expect("token");
    let tls = serve::tls_config(&pki).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("address").port());
    let router = api.router().merge(join::routes(pki.clone(), token.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve::serve(listener, router, tls, Arc::new(Authenticator::default()), async move {
        let _ = stopped.await;
    }));
    Server { url, token, _stop: stop, _dir: dir }
}

async fn whoami(kubeconfig: &str) -> (String, Vec<String>) {
    let config = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("client config");
    let client = kube::Client::try_from(config).expect("client");
    let reviews: Api<SelfSubjectReview> = Api::all(client);
    let review = reviews.create(&PostParams::default(), &SelfSubjectReview::default()).await.expect("whoami");
    let user = review.status.and_then(|s| s.user_info).expect("user info");
    (user.username.unwrap_or_default(), user.groups.unwrap_or_default())
}

#[tokio::test]
async fn an_agent_joins_with_the_token_and_authenticates_as_its_node() {
    let server = server().await;
    let agent_dir = tempfile::tempdir().expect("agent dir");
    let addresses = ["10.0.0.9".parse().expect("ip")];
    let credentials =
        load_or_join(agent_dir.path(), &server.url, &server.token.token, "worker-1", &addresses).await.expect("join");
    assert!(credentials.ca_pem.contains("BEGIN CERTIFICATE"));
    assert!(credentials.serving_cert.contains("BEGIN CERTIFICATE") && credentials.serving_key.contains("PRIVATE KEY"));

    let kubeconfig = std::fs::read_to_string(agent_dir.path().join("kubelet.kubeconfig")).expect("kubeconfig kept");
    let (user, groups) = whoami(&kubeconfig).await;
    assert_eq!(user, "system:node:worker-1");
    assert_eq!(groups, ["system:nodes", "system:authenticated"]);

    // The serving certificate is valid for the node's name and address, and nothing else.
    assert_eq!(serving_certificate_verifies(&credentials, "worker-1").await, Ok(()));
    assert_eq!(serving_certificate_verifies(&credentials, "10.0.0.9").await, Ok(()));
    assert!(serving_certificate_verifies(&credentials, "other-node").await.is_err());

    // A restart reuses the kept credentials instead of joining again.
    let again = load_or_join(agent_dir.path(), "https://127.0.0.1:1", &server.token.token, "worker-1", &addresses)
        .await
        .expect("reuse");
    assert_eq!(again, credentials);
    assert_eq!(Credentials::load(agent_dir.path()), Some(credentials));
}

#[tokio::test]
async fn a_wrong_secret_gets_401_and_a_wrong_ca_hash_is_refused() {
    let server = server().await;
    let (hash, _) = server.token.token.split_once("::").expect("token parts");
    let wrong_secret = format!("{hash}::server:not-the-secret");
    let error = skiff_kubelet::node::join(&server.url, &wrong_secret, "worker-2", &[]).await.expect_err("401");
    match error {
        JoinError::Refused { status, body, .. } => {
            assert_eq!(status, 401);
            assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
        }
        other => panic!("expected a 401, got {other}"),
    }

    let secret = server.token.token.rsplit_once(':').expect("secret").1;
    let other_ca = format!("K10{}::server:{secret}", "0".repeat(64));
    let error = skiff_kubelet::node::join(&server.url, &other_ca, "worker-2", &[]).await.expect_err("pinned CA");
    assert!(matches!(error, JoinError::CaMismatch { .. }), "{error}");
}

#[tokio::test]
async fn cacerts_needs_no_credentials_but_the_api_still_does() {
    let server = server().await;
    let credentials = skiff_kubelet::node::join(&server.url, &server.token.token, "worker-3", &[]).await.expect("join");
    // The API itself is not opened by the join routes: a kubeconfig with the join token is refused.
    let anonymous = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: c\n\
         contexts:\n- context:\n    cluster: c\n    user: u\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {}\n",
        base64_encode(&credentials.ca_pem),
        server.url,
        server.token.token,
    );
    let config = kube::config::Kubeconfig::from_yaml(&anonymous).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("client config");
    let client = kube::Client::try_from(config).expect("client");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    match namespaces.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

/// A TLS handshake (over an in-memory pipe) with the kubelet serving
/// certificate, verified against the cluster CA for `name`.
async fn serving_certificate_verifies(credentials: &Credentials, name: &str) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(credentials.serving_cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("serving certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(credentials.serving_key.as_bytes()).expect("serving key PEM");
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(credentials.ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let (server_side, client_side) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let (_, connected) = tokio::join!(acceptor.accept(server_side), connector.connect(name, client_side));
    connected.map(drop).map_err(|e| e.to_string())
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
