//! Service account tokens end to end: the TokenRequest subresource issues a
//! JWT that authenticates as the service account over HTTPS, is refused as
//! upstream refuses bad requests, and stops working once the account is gone.

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, SelfSubjectReview, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use skiff_apiserver::authn::Authenticator;
use skiff_apiserver::pki::Pki;
use skiff_apiserver::serviceaccount::SigningKey;
use skiff_apiserver::{ApiServer, serve};
use skiff_store::MemoryBackend;

/// An API server over HTTPS on a loopback port, with service account tokens on.
struct Https {
    api: ApiServer,
    url: String,
    ca: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Https {
    async fn start() -> Self {
        let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), &["127.0.0.1".to_owned()]).expect("certificates");
        api.use_service_account_key(SigningKey::load_or_create(dir.path()).expect("service account key"));
        assert!(dir.path().join("service-account.key").exists() && dir.path().join("service-account.pub").exists());
        let tls = serve::tls_config(&pki).expect("TLS");
        let authenticator = Arc::new(Authenticator {
            service_accounts: Some(api.service_account_authenticator()),
            ..Authenticator::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("address").port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = api.router();
        let task = tokio::spawn(serve::serve(listener, router, tls, authenticator, async move {
            let _ = stopped.await;
        }));
        Self { api, url, ca: pki.ca_cert.clone(), _dir: dir, stop: Some(stop), task }
    }

    /// A client that presents `token` and verifies the server with the CA.
    fn client_with_token(&self, token: &str) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().expect("url"));
        let ca = rustls_pemfile_der(&self.ca);
        config.root_cert = Some(vec![ca]);
        config.auth_info.token = Some(token.to_owned().into());
        kube::Client::try_from(config).expect("client")
    }

    async fn stop(mut self) {
        self.api.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// The DER bytes of the first certificate of a PEM bundle.
fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body")
}

fn token_request(expiration: Option<i64>, bound: Option<BoundObjectReference>) -> TokenRequest {
    TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], expiration_seconds: expiration, bound_object_ref: bound },
        ..TokenRequest::default()
    }
}

fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn create_account(client: &kube::Client, name: &str) -> ServiceAccount {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let account = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("account");
    accounts.create(&PostParams::default(), &account).await.expect("create the service account")
}

async fn whoami(client: kube::Client) -> Result<k8s_openapi::api::authentication::v1::UserInfo, kube::Error> {
    let reviews: Api<SelfSubjectReview> = Api::all(client);
    let review = reviews.create(&PostParams::default(), &SelfSubjectReview::default()).await?;
    Ok(review.status.and_then(|s| s.user_info).unwrap_or_default())
}

#[tokio::test]
async fn an_issued_token_authenticates_as_the_service_account_until_the_account_is_deleted() {
    let server = Https::start().await;
    let admin = server.api.client();
    let account = create_account(&admin, "robot").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let issued = accounts
        .create_token_request("robot", &PostParams::default(), &token_request(None, None))
        .await
        .expect("token request");
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    assert_eq!(issued.spec.audiences, vec!["https://kubernetes.default.svc.cluster.local".to_owned()]);
    let status = issued.status.expect("status");
    let lifetime = status.expiration_timestamp.0.as_second() - jiff::Timestamp::now().as_second();
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");
    assert_eq!(status.token.split('.').count(), 3, "a JWT");

    let robot = server.client_with_token(&status.token);
    let user = whoami(robot.clone()).await.expect("the token authenticates");
    assert_eq!(user.username.as_deref(), Some("system:serviceaccount:default:robot"));
    assert_eq!(user.uid, account.metadata.uid);
    assert_eq!(
        user.groups,
        Some(vec![
            "system:serviceaccounts".to_owned(),
            "system:serviceaccounts:default".to_owned(),
            "system:authenticated".to_owned()
        ])
    );
    let namespaces: Api<Namespace> = Api::all(robot.clone());
    assert!(namespaces.get("default").await.is_ok());

    let forged = format!("{}x", status.token);
    assert_eq!(api_error(whoami(server.client_with_token(&forged)).await.expect_err("forged")).code, 401);

    accounts.delete("robot", &DeleteParams::default()).await.expect("delete the account");
    assert_eq!(api_error(whoami(robot).await.expect_err("account deleted")).code, 401);
    server.stop().await;
}

#[tokio::test]
async fn a_token_bound_to_a_pod_names_the_pod_and_dies_with_it() {
    let server = Https::start().await;
    let admin = server.api.client();
    create_account(&admin, "default").await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let pod = serde_json::from_value(json!({ "metadata": { "name": "web" },
        "spec": { "containers": [{ "name": "c", "image": "busybox" }] } }))
    .expect("pod");
    let pod = pods.create(&PostParams::default(), &pod).await.expect("create the pod");
    let bound = BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some("web".into()),
        uid: pod.metadata.uid.clone(),
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let wrong_uid = BoundObjectReference { uid: Some("not-the-uid".into()), ..bound.clone() };
    let conflict = accounts
        .create_token_request("default", &PostParams::default(), &token_request(Some(3607), Some(wrong_uid)))
        .await
        .expect_err("uid mismatch");
    assert_eq!(api_error(conflict).code, 409);
    let issued = accounts
        .create_token_request("default", &PostParams::default(), &token_request(Some(3607), Some(bound)))
        .await
        .expect("token request");
    let token = issued.status.expect("status").token;
    let payload = token.split('.').nth(1).expect("claims");
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url claims"),
    )
    .expect("claims JSON");
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "web");
    assert_eq!(claims["kubernetes.io"]["pod"]["uid"], json!(pod.metadata.uid));
    assert_eq!(claims["exp"].as_i64().unwrap_or_default() - claims["iat"].as_i64().unwrap_or_default(), 3607);

    let client = server.client_with_token(&token);
    assert!(whoami(client.clone()).await.is_ok());
    pods.delete("web", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() })
        .await
        .expect("delete the pod");
    assert_eq!(api_error(whoami(client).await.expect_err("pod deleted")).code, 401);
    server.stop().await;
}

#[tokio::test]
async fn token_requests_are_refused_as_upstream_refuses_them() {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let client = api.client();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let missing = api_error(
        accounts
            .create_token_request("nobody", &PostParams::default(), &token_request(None, None))
            .await
            .expect_err("404"),
    );
    assert_eq!((missing.code, missing.message.as_str()), (404, "serviceaccounts \"nobody\" not found"));
    create_account(&client, "robot").await;
    let short = api_error(
        accounts
            .create_token_request("robot", &PostParams::default(), &token_request(Some(60), None))
            .await
            .expect_err("422"),
    );
    assert_eq!(short.code, 422);
    assert_eq!(
        short.message,
        "TokenRequest.authentication.k8s.io \"robot\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    );
    let other_pod = BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some("ghost".into()),
        uid: None,
    };
    let gone = api_error(
        accounts
            .create_token_request("robot", &PostParams::default(), &token_request(None, Some(other_pod)))
            .await
            .expect_err("no such pod"),
    );
    assert_eq!((gone.code, gone.message.as_str()), (404, "pods \"ghost\" not found"));
}
