//! Our SPDY server side against a real Go peer: kubectl 1.27 (client-go's
//! SPDY executor on moby/spdystream) runs `exec` against a stand-in API
//! server whose exec endpoint is a `skiff_kubelet::streaming::spdy::Connection`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use skiff_kubelet::streaming::spdy::{self, Connection, Headers, STREAM_PROTOCOL_HEADER, rst};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KUBECTL_SPDY_ONLY: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},
"spec":{"containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Running"}}"#;

const API_VERSIONS: &str = r#"{"kind":"APIVersions","versions":["v1"],
"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#;

const CORE_RESOURCES: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[
{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]},
{"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]}]}"#;

fn kubectl_or_skip() -> Option<&'static str> {
    if Path::new(KUBECTL_SPDY_ONLY).exists() {
        return Some(KUBECTL_SPDY_ONLY);
    }
    assert!(std::env::var_os("CI").is_none(), "{KUBECTL_SPDY_ONLY} is missing in CI");
    eprintln!("skipping: {KUBECTL_SPDY_ONLY} not installed");
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

#[tokio::test]
async fn kubectl_execs_over_our_spdy_server_with_stdin_eof_and_the_exit_code() {
    let Some(kubectl) = kubectl_or_skip() else { return };
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
        let _ = stdin.write_all(&sent).await;
        // Dropping the pipe is kubectl's stdin EOF.
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl finishes")
        .expect("kubectl output");
    writer.await.expect("stdin writer");
    server.abort();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
    assert!(output.stdout == input, "stdout has {} of {} bytes; stderr: {stderr}", output.stdout.len(), input.len());
    assert!(stderr.starts_with("done\n"), "stderr: {stderr}");
}
