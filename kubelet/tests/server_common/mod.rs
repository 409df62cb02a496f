//! A pod on a test containerd with the kubelet server in front of it, and
//! HTTPS/WebSocket clients for the server's routes.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use skiff_apiserver::proxy::KubeletClient;
use skiff_kubelet::runtime::{Runtime, api, labels};
use skiff_kubelet::server::{Config, KubeletServer};
use skiff_kubelet::testing::{TestContainerd, busybox_container_config};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// The main container's command: two stdout lines around a stderr one, an httpd on 8080.
pub const MAIN: &str = "echo line1; sleep 0.2; echo err1 >&2; sleep 0.2; mkdir -p /tmp/www; \
    echo hello-pf > /tmp/www/index.html; httpd -p 8080 -h /tmp/www; echo line2; exec sleep 3600";

pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pod `name` in `default` (sandbox + container `main`) and a kubelet server on 127.0.0.1.
pub struct TestNode {
    pub test: TestContainerd,
    pub runtime: Arc<dyn Runtime>,
    pub name: String,
    pub uid: String,
    pub sandbox: api::PodSandboxConfig,
    pub sandbox_id: String,
    pub container: String,
    pub port: u16,
    pub pki: Option<skiff_apiserver::pki::Pki>,
    _pki_dir: tempfile::TempDir,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl TestNode {
    pub async fn start(name: &str) -> Option<Self> {
        Self::start_inner(name, false).await
    }

    /// As [`Self::start`], with a cluster CA whose client certificates the server requires.
    pub async fn start_with_client_ca(name: &str) -> Option<Self> {
        Self::start_inner(name, true).await
    }

    /// As [`Self::start`], requiring client certificates of `pki`'s CA and serving its certificate.
    pub async fn start_with_pki(name: &str, pki: skiff_apiserver::pki::Pki) -> Option<Self> {
        let mut node = Self::start_inner(name, false).await?;
        let _ = std::mem::replace(&mut node.shutdown, tokio::sync::oneshot::channel().0);
        node.server.abort();
        let config = Config::new(Arc::clone(&node.runtime)).client_ca(pki.ca_cert.clone());
        let server = KubeletServer::new(config).expect("server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        node.port = listener.local_addr().expect("address").port();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        node.server = tokio::spawn(server.serve(listener, async move {
            let _ = stop.await;
        }));
        node.shutdown = shutdown;
        node.pki = Some(pki);
        Some(node)
    }

    async fn start_inner(name: &str, client_ca: bool) -> Option<Self> {
        let test = TestContainerd::start().await?;
        let runtime: Arc<dyn Runtime> = test.runtime();
        let uid = uuid::Uuid::new_v4().to_string();
        let log_dir: PathBuf = test.dir().join("logs").join(format!("default_{name}_{uid}"));
        let sandbox = test.sandbox_config(name, &uid, &log_dir);
        let sandbox_id = match runtime.run_pod_sandbox(sandbox.clone()).await {
            Ok(id) => id,
            Err(err) => panic!("RunPodSandbox: {err}\ncontainerd log:\n{}", test.log_tail()),
        };
        let pki_dir = tempfile::tempdir().expect("tempdir");
        let pki = client_ca.then(|| {
            skiff_apiserver::pki::Pki::load_or_create(pki_dir.path(), &["localhost".into(), "127.0.0.1".into()])
                .expect("pki")
        });
        let mut config = Config::new(Arc::clone(&runtime));
        if let Some(pki) = &pki {
            config = config.client_ca(pki.ca_cert.clone());
        }
        let server = KubeletServer::new(config).expect("server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server.serve(listener, async move {
            let _ = stop.await;
        }));
        let mut node = Self {
            test,
            runtime,
            name: name.to_owned(),
            uid,
            sandbox,
            sandbox_id,
            container: String::new(),
            port,
            pki,
            _pki_dir: pki_dir,
            shutdown,
            server,
        };
        node.container = node.start_container(0, &["sh", "-c", MAIN]).await;
        Some(node)
    }

    /// Creates and starts instance `attempt` of container `main`; returns its ID.
    pub async fn start_container(&self, attempt: u32, command: &[&str]) -> String {
        self.start_named("main", attempt, command, false).await
    }

    /// Creates and starts instance `attempt` of container `name` (with an open stdin when `stdin`).
    pub async fn start_named(&self, name: &str, attempt: u32, command: &[&str], stdin: bool) -> String {
        let mut config = busybox_container_config(name, command);
        config.metadata = Some(api::ContainerMetadata { name: name.into(), attempt });
        config.stdin = stdin;
        config.log_path = format!("{name}/{attempt}.log");
        config.labels.extend([
            (labels::POD_NAME.to_owned(), self.name.clone()),
            (labels::POD_NAMESPACE.to_owned(), "default".to_owned()),
            (labels::POD_UID.to_owned(), self.uid.clone()),
        ]);
        let id = self.runtime.create_container(&self.sandbox_id, config, &self.sandbox).await.expect("created");
        self.runtime.start_container(&id).await.expect("started");
        id
    }

    /// The kubelet client certificate (for the API server) signed by the node's client CA.
    pub fn client_identity(&self) -> (String, String) {
        let pki = self.pki.as_ref().expect("started with a client CA");
        pki.issue_client("kube-apiserver-kubelet-client", Some("system:masters")).expect("client certificate")
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = self.runtime.stop_pod_sandbox(&self.sandbox_id).await;
        let _ = self.runtime.remove_pod_sandbox(&self.sandbox_id).await;
    }
}

async fn tls(port: u16, identity: Option<(String, String)>) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let client = KubeletClient::default();
    if let Some((cert, key)) = identity {
        client.set_client_certificate(&cert, &key).expect("identity");
    }
    client.connect("127.0.0.1", port).await.expect("TLS connection")
}

async fn request(port: u16, path: &str, identity: Option<(String, String)>) -> http::Response<hyper::body::Incoming> {
    let io = tls(port, identity).await;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.expect("handshake");
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, format!("127.0.0.1:{port}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    sender.send_request(request).await.expect("response")
}

/// GET over HTTPS without a client certificate: the status and the body.
pub async fn get(port: u16, path: &str) -> (StatusCode, String) {
    read_all(request(port, path, None).await).await
}

/// GET with a client certificate.
pub async fn get_with_identity(port: u16, path: &str, identity: (String, String)) -> (StatusCode, String) {
    read_all(request(port, path, Some(identity)).await).await
}

async fn read_all(response: http::Response<hyper::body::Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = tokio::time::timeout(DEADLINE, response.into_body().collect()).await.expect("body in time");
    (status, String::from_utf8_lossy(&body.expect("body").to_bytes()).into_owned())
}

/// A streamed response body.
pub struct OpenStream(hyper::body::Incoming);

impl OpenStream {
    pub async fn next_text(&mut self) -> String {
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.0.frame()).await.expect("data in time");
            let frame = frame.expect("the stream goes on").expect("a frame");
            if let Ok(data) = frame.into_data() {
                return String::from_utf8_lossy(&data).into_owned();
            }
        }
    }
}

pub async fn open_stream(port: u16, path: &str) -> OpenStream {
    let response = request(port, path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    OpenStream(response.into_body())
}

pub type Ws = WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the kubelet server with one sub-protocol.
pub async fn websocket(port: u16, path: &str, protocol: &str) -> Ws {
    let io = tls(port, None).await;
    let mut request = format!("wss://127.0.0.1:{port}{path}").into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
    let (ws, response) = tokio_tungstenite::client_async(request, io).await.expect("WebSocket handshake");
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()), Some(protocol));
    ws
}

/// Reads a channel-protocol session to its end: (stdout, stderr) and the status on channel 3.
pub async fn read_session(ws: &mut Ws) -> ((String, String), Value) {
    let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let next = tokio::time::timeout(DEADLINE, ws.next()).await.expect("session ends in time");
        let Some(Ok(message)) = next else { break };
        match message {
            Message::Binary(frame) if !frame.is_empty() => match frame[0] {
                1 => stdout.extend_from_slice(&frame[1..]),
                2 => stderr.extend_from_slice(&frame[1..]),
                3 => status.extend_from_slice(&frame[1..]),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    let status = serde_json::from_slice(&status).unwrap_or(Value::Null);
    ((String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned()), status)
}

/// Runs `command` in pod `web`'s `main` over WebSocket v4.
pub async fn exec_v4(port: u16, command: &[&str]) -> ((String, String), Value) {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for part in command {
        query.append_pair("command", part);
    }
    query.append_pair("output", "1").append_pair("error", "1");
    let path = format!("/exec/default/web/main?{}", query.finish());
    let mut ws = websocket(port, &path, "v4.channel.k8s.io").await;
    read_session(&mut ws).await
}
