//! The network probes (httpGet, tcpSocket, grpc) against servers on 127.0.0.1.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Container, Probe};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::runtime::ScriptedRuntime;
use crate::probes::{Outcome, ProbeTarget, Prober};

/// An HTTP/1.1 server answering each request from `respond(path)`; it keeps the requests' heads.
struct HttpServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    async fn start(respond: fn(&str, u16) -> String) -> Self {
        Self::start_with(respond, None).await
    }

    async fn start_with(respond: fn(&str, u16) -> String, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                answer(stream, respond, port, seen).await;
                            }
                        }
                        None => answer(stream, respond, port, seen).await,
                    }
                });
            }
        });
        Self { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    respond: fn(&str, u16) -> String,
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    seen.lock().unwrap().push(head);
    let response = respond(&path, port);
    if response.is_empty() {
        // Never answer (the timeout case): hold the connection open.
        std::future::pending::<()>().await;
    }
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn reply(status: &str, headers: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}", body.len())
}

fn routes(path: &str, port: u16) -> String {
    match path {
        "/ok" | "/" => reply("200 OK", "", "fine"),
        "/fail" => reply("500 Internal Server Error", "", "broken"),
        "/moved" => reply("302 Found", "Location: /ok\r\n", ""),
        "/relative/moved" => reply("301 Moved Permanently", "Location: ../ok\r\n", ""),
        "/elsewhere" => reply("302 Found", &format!("Location: http://127.0.0.2:{port}/ok\r\n"), "gone"),
        "/loop" => reply("307 Temporary Redirect", "Location: /loop\r\n", ""),
        "/hang" => String::new(),
        _ => reply("404 Not Found", "", ""),
    }
}

fn target() -> ProbeTarget {
    let container: Container = serde_json::from_value(json!({
        "name": "app", "ports": [{"name": "web", "containerPort": 8080}]
    }))
    .unwrap();
    ProbeTarget { container, container_id: "c-1".into(), pod_ip: "127.0.0.1".into() }
}

fn probe(value: serde_json::Value) -> Probe {
    serde_json::from_value(value).unwrap()
}

async fn run(value: serde_json::Value) -> Outcome {
    Prober::new(Arc::new(ScriptedRuntime::default())).run(&probe(value), &target()).await
}

async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn http_probes_judge_the_status_and_follow_same_host_redirects() {
    let server = HttpServer::start(routes).await;
    let port = server.port;
    let cases = [
        ("/ok", Outcome::Success("fine".into())),
        ("/fail", Outcome::Failure("HTTP probe failed with statuscode: 500".into())),
        ("/missing", Outcome::Failure("HTTP probe failed with statuscode: 404".into())),
        ("/moved", Outcome::Success("fine".into())),
        ("/relative/moved", Outcome::Success("fine".into())),
        ("/elsewhere", Outcome::Warning("Probe terminated redirects, Response body: gone".into())),
        ("/loop", Outcome::Failure(format!("Get \"http://127.0.0.1:{port}/loop\": stopped after 10 redirects"))),
    ];
    for (path, want) in cases {
        assert_eq!(run(json!({"httpGet": {"path": path, "port": port}})).await, want, "{path}");
    }
}

#[tokio::test]
async fn http_probes_send_upstreams_headers_unless_the_probe_sets_them() {
    let server = HttpServer::start(routes).await;
    let headers = json!([{"name": "X-Probe", "value": "yes"}]);
    run(json!({"httpGet": {"path": "/ok", "port": server.port, "httpHeaders": headers}})).await;
    let overridden = json!([{"name": "user-agent", "value": "mine"}, {"name": "Accept", "value": ""}]);
    run(json!({"httpGet": {"port": server.port, "httpHeaders": overridden}})).await;
    let requests: Vec<String> = server.requests().iter().map(|r| r.to_lowercase()).collect();
    let first = &requests[0];
    assert!(first.starts_with("get /ok http/1.1\r\n"), "{first}");
    for header in ["user-agent: kube-probe/1.33", "accept: */*", "x-probe: yes", "connection: close"] {
        assert!(first.contains(header), "{header} in {first}");
    }
    assert!(first.contains(&format!("host: 127.0.0.1:{}", server.port)), "{first}");
    let second = &requests[1];
    assert!(second.starts_with("get / http/1.1\r\n"), "{second}");
    assert!(
        second.contains("user-agent: mine") && !second.contains("kube-probe") && !second.contains("accept:"),
        "{second}"
    );
}

#[tokio::test]
async fn http_probes_resolve_named_ports_and_report_bad_ones() {
    let server = HttpServer::start(routes).await;
    let mut target = target();
    target.container.ports =
        Some(vec![serde_json::from_value(json!({"name": "web", "containerPort": server.port})).unwrap()]);
    let prober = Prober::new(Arc::new(ScriptedRuntime::default()));
    let named = probe(json!({"httpGet": {"path": "/ok", "port": "web"}}));
    assert_eq!(prober.run(&named, &target).await, Outcome::Success("fine".into()));
    let unknown = probe(json!({"httpGet": {"port": "nope"}}));
    assert_eq!(
        prober.run(&unknown, &target).await,
        Outcome::Error("strconv.Atoi: parsing \"nope\": invalid syntax".into())
    );
}

#[tokio::test]
async fn http_probes_fail_with_gos_words_when_nothing_listens_or_answers() {
    let port = closed_port().await;
    assert_eq!(
        run(json!({"httpGet": {"path": "/", "port": port}})).await,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
    let server = HttpServer::start(routes).await;
    let started = std::time::Instant::now();
    assert_eq!(
        run(json!({"httpGet": {"path": "/hang", "port": server.port}, "timeoutSeconds": 1})).await,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{}/hang\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            server.port
        ))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn https_probes_do_not_verify_the_certificate() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .unwrap();
    let server = HttpServer::start_with(routes, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await;
    let outcome = run(json!({"httpGet": {"scheme": "HTTPS", "path": "/ok", "port": server.port}})).await;
    assert_eq!(outcome, Outcome::Success("fine".into()));
}

#[tokio::test]
async fn tcp_probes_succeed_on_connect_and_fail_with_gos_words() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    assert_eq!(run(json!({"tcpSocket": {"port": open}})).await, Outcome::Success(String::new()));
    let closed = closed_port().await;
    assert_eq!(
        run(json!({"tcpSocket": {"port": closed}})).await,
        Outcome::Failure(format!("dial tcp 127.0.0.1:{closed}: connect: connection refused"))
    );
}

#[tokio::test]
async fn grpc_probes_ask_the_health_service() {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("db", tonic_health::ServingStatus::NotServing).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(service, incoming));
    let cases = [
        (json!({"port": port}), Outcome::Success("service healthy".into())),
        (
            json!({"port": port, "service": "db"}),
            Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into()),
        ),
        (
            json!({"port": port, "service": "cache"}),
            Outcome::Failure(
                "error: health rpc probe failed: rpc error: code = NotFound desc = service not registered".into(),
            ),
        ),
    ];
    for (grpc, want) in cases {
        assert_eq!(run(json!({"grpc": grpc.clone()})).await, want, "{grpc}");
    }
    server.abort();
    let closed = closed_port().await;
    assert_eq!(
        run(json!({"grpc": {"port": closed}})).await,
        Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:{closed}: connect: connection refused\""
        ))
    );
}

#[tokio::test]
async fn grpc_probes_of_servers_without_the_health_service_say_so() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    // A gRPC server that implements nothing.
    let nothing = tower::service_fn(|_request: http::Request<tonic::body::Body>| async {
        Ok::<_, std::convert::Infallible>(
            tonic::Status::unimplemented("unknown service grpc.health.v1.Health").into_http::<tonic::body::Body>(),
        )
    });
    let server = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(nothing, incoming));
    let outcome = run(json!({"grpc": {"port": port}})).await;
    server.abort();
    assert_eq!(
        outcome,
        Outcome::Failure(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"
                .into()
        )
    );
}
