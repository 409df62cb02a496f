//! The translator between a tokio-tungstenite WebSocket pair (standing in for
//! kubectl) and a fake CRI streaming server built on our SPDY server side.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

use super::*;
use crate::streaming::spdy::{self, Connection, Headers, STREAM_PROTOCOL_HEADER, rst};

type Ws = WebSocketStream<tokio::io::DuplexStream>;

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn ws_pair() -> (Ws, Ws) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(a, WsRole::Client, None).await;
    let server = WebSocketStream::from_raw_socket(b, WsRole::Server, None).await;
    (client, server)
}

/// Serves one SPDY upgrade on 127.0.0.1 and hands the connection to `handler`
/// (or answers `reject` with 404); the URL to give the translator.
async fn fake_cri_server<F, Fut>(protocol: &'static str, reject: bool, handler: F) -> String
where
    F: FnOnce(Connection) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else { return };
        let handler = std::sync::Mutex::new(Some(handler));
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let handler = handler.lock().ok().and_then(|mut h| h.take());
            async move {
                let offered: Vec<_> = request.headers().get_all(STREAM_PROTOCOL_HEADER).iter().collect();
                assert_eq!(offered, vec![protocol]);
                assert_eq!(request.headers()[header::UPGRADE], "SPDY/3.1");
                if reject {
                    let body = Full::new(bytes::Bytes::from_static(b"no such session"));
                    return Ok::<_, std::convert::Infallible>(
                        Response::builder().status(StatusCode::NOT_FOUND).body(body).expect("response"),
                    );
                }
                let upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    let (Ok(upgraded), Some(handler)) = (upgrade.await, handler) else { return };
                    let conn = Connection::new(TokioIo::new(upgraded), spdy::Role::Server, spdy::Config::default());
                    handler(conn).await;
                });
                Ok(Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header(header::CONNECTION, "Upgrade")
                    .header(header::UPGRADE, "SPDY/3.1")
                    .header(STREAM_PROTOCOL_HEADER, protocol)
                    .body(Full::default())
                    .expect("response"))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades()
            .await;
    });
    format!("http://{addr}/exec/a-token")
}

/// Accepts the streams a remotecommand client opens, by `streamType`.
async fn accept_streams(conn: &Connection, count: usize) -> HashMap<String, spdy::Stream> {
    let mut streams = HashMap::new();
    while streams.len() < count {
        let stream = within("a stream", conn.accept()).await.expect("stream");
        stream.reply(Headers::new(), false).expect("reply");
        let kind = stream.headers().get("streamtype").unwrap_or_default().to_owned();
        streams.insert(kind, stream);
    }
    streams
}

/// As containerd would run `sh -c 'cat; echo done >&2; exit 3'`.
async fn fake_cat_then_exit_3(conn: Connection) {
    let streams = accept_streams(&conn, 4).await;
    let mut input = Vec::new();
    let mut stdin = streams["stdin"].clone();
    stdin.read_to_end(&mut input).await.expect("stdin");
    streams["stdout"].clone().write_all(&input).await.expect("stdout");
    streams["stderr"].clone().write_all(b"done\n").await.expect("stderr");
    let status = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
    streams["error"].clone().write_all(status).await.expect("status");
    // apimachinery's connection Close resets every stream.
    for stream in streams.values() {
        stream.reset(rst::CANCEL);
    }
}

/// Reads the client's side until the closing handshake is over: (channel, data) per message.
async fn collect(ws: &mut Ws) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    while let Some(Ok(message)) = within("a message", ws.next()).await {
        match message {
            Message::Binary(data) if !data.is_empty() => got.push((data[0], data[1..].to_vec())),
            Message::Text(text) => {
                let (channel, rest) = text.as_str().split_at(1);
                let data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, rest).expect("base64");
                got.push((channel.as_bytes()[0] - b'0', data));
            }
            // Keep polling: that sends our Close reply and ends the stream.
            _ => {}
        }
    }
    got
}

fn channel_data(messages: &[(u8, Vec<u8>)], channel: u8) -> Vec<u8> {
    messages.iter().filter(|(c, _)| *c == channel).flat_map(|(_, d)| d.clone()).collect()
}

fn status_of(messages: &[(u8, Vec<u8>)]) -> Value {
    serde_json::from_slice(&channel_data(messages, 3)).expect("status JSON")
}

const ALL: ExecOptions = ExecOptions { stdin: true, stdout: true, stderr: true, tty: false };

#[tokio::test]
async fn v5_stdin_close_signal_ends_stdin_and_the_exit_code_comes_back() {
    let url = fake_cri_server("v4.channel.k8s.io", false, fake_cat_then_exit_3).await;
    let (mut client, server) = ws_pair().await;
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V5, &url, ALL).await });
    let big = vec![b'x'; 200 * 1024];
    for chunk in big.chunks(10_000) {
        let mut message = vec![0];
        message.extend_from_slice(chunk);
        client.send(Message::Binary(message.into())).await.expect("stdin");
    }
    client.send(Message::Binary(vec![255, 0].into())).await.expect("close stdin");
    let messages = collect(&mut client).await;
    assert_eq!(messages.first(), Some(&(1, Vec::new())), "the empty hello on stdout comes first");
    assert!(channel_data(&messages, 1) == big, "stdout is what was written to stdin");
    assert_eq!(channel_data(&messages, 2), b"done\n");
    let status = status_of(&messages);
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0], serde_json::json!({"reason": "ExitCode", "message": "3"}));
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn v4_success_is_a_success_status_and_base64_frames_are_text() {
    let url = fake_cri_server("v4.channel.k8s.io", false, |conn: Connection| async move {
        let streams = accept_streams(&conn, 2).await;
        streams["stdout"].clone().write_all(b"hi\n").await.expect("stdout");
        streams["error"].clone().write_all(br#"{"metadata":{},"status":"Success"}"#).await.expect("status");
        for stream in streams.values() {
            stream.reset(rst::CANCEL);
        }
    })
    .await;
    let (mut client, server) = ws_pair().await;
    let options = ExecOptions { stdout: true, ..ExecOptions::default() };
    let translator =
        tokio::spawn(async move { translate_exec(server, ChannelProtocol::V4Base64, &url, options).await });
    let messages = collect(&mut client).await;
    assert_eq!(channel_data(&messages, 1), b"hi\n");
    assert_eq!(status_of(&messages), serde_json::json!({"metadata": {}, "status": "Success"}));
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn a_refused_upgrade_is_an_internal_error_status() {
    let url = fake_cri_server("v4.channel.k8s.io", true, |_conn: Connection| async {}).await;
    let (mut client, server) = ws_pair().await;
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V5, &url, ALL).await });
    let messages = collect(&mut client).await;
    let status = status_of(&messages);
    assert_eq!(status["reason"], "InternalError");
    assert_eq!(status["code"], 500);
    assert!(status["message"].as_str().is_some_and(|m| m.contains("no such session")), "{status}");
    assert!(within("translator", translator).await.expect("task").is_err());
}

#[tokio::test]
async fn v1_reports_only_failures_as_text() {
    let url = fake_cri_server("v4.channel.k8s.io", false, |conn: Connection| async move {
        let streams = accept_streams(&conn, 3).await;
        let status = br#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        streams["error"].clone().write_all(status).await.expect("status");
        for stream in streams.values() {
            stream.reset(rst::CANCEL);
        }
    })
    .await;
    let (mut client, server) = ws_pair().await;
    let options = ExecOptions { stdout: true, stderr: true, ..ExecOptions::default() };
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V1, &url, options).await });
    let messages = collect(&mut client).await;
    assert_eq!(
        String::from_utf8_lossy(&channel_data(&messages, 3)),
        "command terminated with non-zero exit code: command terminated with exit code 3"
    );
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn port_forward_relays_each_port_on_its_channel_pair() {
    let url = fake_cri_server("portforward.k8s.io", false, |conn: Connection| async move {
        let mut by_request: HashMap<String, Vec<spdy::Stream>> = HashMap::new();
        for _ in 0..4 {
            let stream = within("a stream", conn.accept()).await.expect("stream");
            stream.reply(Headers::new(), false).expect("reply");
            let id = stream.headers().get("requestid").unwrap_or_default().to_owned();
            by_request.entry(id).or_default().push(stream);
        }
        let mut tasks = Vec::new();
        for streams in by_request.into_values() {
            let data = streams.iter().find(|s| s.headers().get("streamtype") == Some("data")).expect("data").clone();
            let port = data.headers().get("port").unwrap_or_default().to_owned();
            tasks.push(tokio::spawn(async move {
                let (mut input, mut output) = (data.clone(), data.clone());
                let mut buf = vec![0; 1024];
                loop {
                    let n = input.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    let answer = format!("{port}:{}", String::from_utf8_lossy(&buf[..n]).to_uppercase());
                    output.write_all(answer.as_bytes()).await.expect("write");
                }
                output.shutdown().await.expect("fin");
            }));
        }
        for task in tasks {
            task.await.expect("port task");
        }
    })
    .await;
    let (mut client, server) = ws_pair().await;
    let translator =
        tokio::spawn(async move { translate_port_forward(server, ChannelProtocol::V4, &url, &[8080, 53]).await });
    client.send(Message::Binary(b"\x00hello".to_vec().into())).await.expect("port 0 data");
    client.send(Message::Binary(b"\x02dns".to_vec().into())).await.expect("port 1 data");
    let mut messages = Vec::new();
    while channel_data(&messages, 0) != b"\x90\x1f8080:HELLO" || channel_data(&messages, 2) != b"\x35\x0053:DNS" {
        if let Some(Ok(Message::Binary(data))) = within("answers", client.next()).await {
            messages.push((data[0], data[1..].to_vec()));
        }
    }
    // Each channel starts with its port, little-endian.
    for (channel, port) in [(0u8, 8080u16), (1, 8080), (2, 53), (3, 53)] {
        let first = messages.iter().find(|(c, _)| *c == channel).map(|(_, d)| d.clone());
        assert_eq!(first, Some(port.to_le_bytes().to_vec()), "channel {channel}");
    }
    client.close(None).await.expect("close");
    let result = within("translator", translator).await.expect("task");
    assert!(matches!(result, Ok(()) | Err(TranslateError::ClientGone)), "{result:?}");
}

/// Offered sub-protocols and the (name, protocol) chosen.
type NegotiationCase = (&'static [&'static str], Option<(&'static str, ChannelProtocol)>);

#[test]
fn the_first_offered_served_sub_protocol_wins() {
    let cases: &[NegotiationCase] = &[
        (&["v5.channel.k8s.io"], Some(("v5.channel.k8s.io", ChannelProtocol::V5))),
        (&["v4.channel.k8s.io", "v5.channel.k8s.io"], Some(("v4.channel.k8s.io", ChannelProtocol::V4))),
        (&["bogus", " base64.channel.k8s.io"], Some(("base64.channel.k8s.io", ChannelProtocol::V1Base64))),
        (&[], Some(("", ChannelProtocol::V1))),
        (&["bogus"], None),
    ];
    for (offered, expected) in cases {
        assert_eq!(ChannelProtocol::negotiate(offered.iter().copied()), *expected, "{offered:?}");
    }
}

#[test]
fn channel_messages_round_trip_in_binary_and_base64() {
    for protocol in [ChannelProtocol::V5, ChannelProtocol::V4Base64] {
        let message = protocol.encode(2, b"\x00\xffdata");
        assert_eq!(protocol.decode(&message), Some((2, bytes::Bytes::from_static(b"\x00\xffdata"))));
    }
    assert_eq!(ChannelProtocol::V4Base64.encode(1, b"hi"), WsMessage::Text("1aGk=".into()));
    assert_eq!(ChannelProtocol::V5.encode(255, &[0]), WsMessage::Binary(bytes::Bytes::from_static(&[255, 0])));
}
