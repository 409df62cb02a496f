//! Our SPDY server side against a real Go peer: kubectl 1.27 (client-go's
//! SPDY executor on moby/spdystream) runs `exec` against a stand-in API
//! server whose exec endpoint is a `skiff_kubelet::streaming::spdy::Connection`;
//! and kubectl 1.32 (WebSocket v5) through `translate_exec` to that endpoint.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use skiff_kubelet::streaming::spdy::{self, Connection, Headers, STREAM_PROTOCOL_HEADER, rst};
use skiff_kubelet::streaming::translate::{ChannelProtocol, ExecOptions, translate_exec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

const KUBECTL_SPDY_ONLY: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
/// 1.30+ speaks WebSocket v5 for exec.
const KUBECTL_WEBSOCKET: &str = "/usr/bin/kubectl";

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
"spec":{"containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Running"}}"#;

const API_VERSIONS: &str = r#"{"kind":"APIVersions","versions":["v1"],
"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#;

const CORE_RESOURCES: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[
{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]},
{"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]}]}"#;

fn kubectl_or_skip(path: &'static str) -> Option<&'static str> {
    if Path::new(path).exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "{path} is missing in CI");
    eprintln!("skipping: {path} not installed");
    None
}

/// Plays the container: `cat; echo done >&2; exit 3`, then closes the
/// connection the way apimachinery does (reset every stream).
async fn run_cat_then_exit_3(conn: Connection) {
    let mut streams = HashMap::new();
    while streams.len() < 4 {
        let Some(stream) = conn.accept().await else { return };
        stream.reply(Headers::new(), false).expect("reply");
        let kind = stream.headers().get("streamtype").unwrap_or_default().to_owned();
        streams.insert(kind, stream);
    }
    let mut input = Vec::new();
    streams["stdin"].clone().read_to_end(&mut input).await.expect("stdin");
    streams["stdout"].clone().write_all(&input).await.expect("stdout");
    streams["stderr"].clone().write_all(b"done\n").await.expect("stderr");
    let status = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
    streams["error"].clone().write_all(status).await.expect("status");
    let mut error = streams["error"].clone();
    error.flush().await.expect("flush");
    for stream in streams.values() {
        stream.reset(rst::CANCEL);
    }
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<bytes::Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let json = match path.as_str() {
        "/api/v1/namespaces/default/pods/p" => Some(POD),
        "/api" => Some(API_VERSIONS),
        "/apis" => Some(r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#),
        "/api/v1" => Some(CORE_RESOURCES),
        _ => None,
    };
    if let (Some(json), &Method::GET) = (json, request.method()) {
        let body = Full::new(bytes::Bytes::from_static(json.as_bytes()));
        return Ok(Response::builder().header(header::CONTENT_TYPE, "application/json").body(body).expect("response"));
    }
    let offered: Vec<String> = request
        .headers()
        .get_all(STREAM_PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    if request.headers().get(header::UPGRADE).is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return Ok(translate_websocket(request));
    }
    let is_spdy = request.headers().get(header::UPGRADE).is_some_and(|u| u == "SPDY/3.1");
    if path != "/api/v1/namespaces/default/pods/p/exec" || !is_spdy || !offered.iter().any(|p| p == "v4.channel.k8s.io")
    {
        let body = Full::new(bytes::Bytes::from(format!("unexpected {} {path} {offered:?}", request.method())));
        return Ok(Response::builder().status(StatusCode::BAD_REQUEST).body(body).expect("response"));
    }
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let conn = Connection::new(TokioIo::new(upgraded), spdy::Role::Server, spdy::Config::default());
            run_cat_then_exit_3(conn).await;
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header(STREAM_PROTOCOL_HEADER, "v4.channel.k8s.io")
        .body(Full::default())
        .expect("response"))
}

/// The API server's part since 1.30: accept the WebSocket and translate it to
/// SPDY toward the (same) SPDY exec endpoint.
fn translate_websocket(mut request: Request<Incoming>) -> Response<Full<bytes::Bytes>> {
    let offered = request
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((name, protocol)) = ChannelProtocol::negotiate(offered.split(',')) else {
        return Response::builder().status(StatusCode::BAD_REQUEST).body(Full::default()).expect("response");
    };
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let query = request.uri().query().unwrap_or_default().to_owned();
    let flag = |name: &str| query.split('&').any(|kv| kv == format!("{name}=true"));
    let options =
        ExecOptions { stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty") };
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned();
    let cri_url = format!("http://{host}{}", request.uri().path());
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let result = translate_exec(ws, protocol, &cri_url, options).await;
        eprintln!("translate_exec {protocol:?} {options:?}: {result:?}");
    });
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, key.unwrap_or_default());
    if !name.is_empty() {
        response = response.header(header::SEC_WEBSOCKET_PROTOCOL, name);
    }
    response.body(Full::default()).expect("response")
}

async fn serve_fake_api_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, server)
}

/// Runs `kubectl exec -i` of `cat; echo done >&2; exit 3` with 300 KB of stdin.
async fn exec_cat(kubectl: &str, addr: std::net::SocketAddr) {
    // More than one 64 KiB window each way.
    let input: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut child = tokio::process::Command::new(kubectl)
        .env("KUBECONFIG", "/dev/null")
        .args(["--server", &format!("http://{addr}"), "exec", "-i", "p", "-c", "c", "--"])
        .args(["sh", "-c", "cat; echo done >&2; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl starts");
    let mut stdin = child.stdin.take().expect("stdin pipe");
    let sent = input.clone();
    let writer = tokio::spawn(async move {
        // Dropping the pipe afterwards is kubectl's stdin EOF.
        let _ = stdin.write_all(&sent).await;
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl finishes")
        .expect("kubectl output");
    writer.await.expect("stdin writer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("kubectl: {:?}, {} bytes of stdout, stderr {stderr:?}", output.status, output.stdout.len());
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
    assert!(output.stdout == input, "stdout has {} of {} bytes; stderr: {stderr}", output.stdout.len(), input.len());
    assert!(stderr.starts_with("done\n"), "stderr: {stderr}");
}

#[tokio::test]
async fn kubectl_1_32_execs_over_websocket_v5_through_the_translator() {
    let Some(kubectl) = kubectl_or_skip(KUBECTL_WEBSOCKET) else { return };
    let (addr, server) = serve_fake_api_server().await;
    exec_cat(kubectl, addr).await;
    server.abort();
}

#[tokio::test]
async fn kubectl_execs_over_our_spdy_server_with_stdin_eof_and_the_exit_code() {
    let Some(kubectl) = kubectl_or_skip(KUBECTL_SPDY_ONLY) else { return };
    let (addr, server) = serve_fake_api_server().await;
    exec_cat(kubectl, addr).await;
    server.abort();
}
