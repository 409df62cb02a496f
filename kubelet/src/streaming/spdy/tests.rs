//! A client and a server `Connection` over an in-memory pipe.

use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn pair(config: Config) -> (Connection, Connection) {
    let (a, b) = tokio::io::duplex(16 * 1024);
    (Connection::new(a, Role::Client, config.clone()), Connection::new(b, Role::Server, config))
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn a_client_stream_carries_headers_data_and_half_close_both_ways() {
    let (client, server) = pair(Config::default());
    let stream = client.open(Headers::new().with("streamType", "stdin")).expect("open");
    assert_eq!(stream.id(), 1);
    let mut writer = stream.clone();
    writer.write_all(b"hello").await.expect("write");
    writer.shutdown().await.expect("fin");

    let mut accepted = within("accept", server.accept()).await.expect("a stream");
    assert_eq!(accepted.headers().get("streamtype"), Some("stdin"));
    accepted.reply(Headers::new().with("x-answer", "yes"), false).expect("reply");
    let mut got = Vec::new();
    within("server read", accepted.read_to_end(&mut got)).await.expect("read");
    assert_eq!(got, b"hello");
    accepted.write_all(b"HELLO").await.expect("write back");
    accepted.shutdown().await.expect("fin back");

    let reply = within("reply", stream.reply_headers()).await.expect("reply headers");
    assert_eq!(reply.get("x-answer"), Some("yes"));
    let mut back = Vec::new();
    let mut reader = stream.clone();
    within("client read", reader.read_to_end(&mut back)).await.expect("read back");
    assert_eq!(back, b"HELLO");
}

#[tokio::test]
async fn the_server_opens_even_streams_and_the_client_accepts_them() {
    let (client, server) = pair(Config::default());
    let mut pushed = server.open(Headers::new().with("streamType", "data")).expect("open");
    assert_eq!(pushed.id(), 2);
    pushed.write_all(b"from the server").await.expect("write");
    pushed.shutdown().await.expect("fin");
    let mut accepted = within("accept", client.accept()).await.expect("a stream");
    assert_eq!(accepted.id(), 2);
    let mut got = String::new();
    within("read", accepted.read_to_string(&mut got)).await.expect("read");
    assert_eq!(got, "from the server");
    // Writing answered the stream with an empty SYN_REPLY first.
    accepted.write_all(b"ok").await.expect("write");
    assert_eq!(within("reply", pushed.reply_headers()).await.expect("replied"), Headers::new());
}

#[tokio::test]
async fn megabytes_flow_both_ways_at_once_without_window_enforcement() {
    let (client, server) = pair(Config::default());
    let data = payload(3 * 1024 * 1024 + 17);
    let mut stream = client.open(Headers::new()).expect("open");
    let mut accepted = within("accept", server.accept()).await.expect("a stream");
    let (mut client_read, mut client_write) = tokio::io::split(stream.clone());
    let (mut server_read, mut server_write) = tokio::io::split(accepted.clone());
    let sent = data.clone();
    let uploads = tokio::spawn(async move {
        client_write.write_all(&sent).await.expect("upload");
        client_write.shutdown().await.expect("fin");
    });
    let sent = data.clone();
    let downloads = tokio::spawn(async move {
        server_write.write_all(&sent).await.expect("download");
        server_write.shutdown().await.expect("fin");
    });
    let mut up = Vec::new();
    let mut down = Vec::new();
    let (a, b) = within("transfers", async {
        tokio::join!(server_read.read_to_end(&mut up), client_read.read_to_end(&mut down))
    })
    .await;
    a.expect("server read");
    b.expect("client read");
    assert!(up == data && down == data, "payloads differ");
    uploads.await.expect("upload task");
    downloads.await.expect("download task");
    stream.shutdown().await.expect("idempotent fin");
    accepted.shutdown().await.expect("idempotent fin");
}

#[tokio::test]
async fn with_enforcement_a_sender_stops_at_the_window_until_the_reader_consumes() {
    let config = Config { flow_control: true, ..Config::default() };
    let (client, server) = pair(config);
    let mut stream = client.open(Headers::new()).expect("open");
    let mut accepted = within("accept", server.accept()).await.expect("a stream");
    let window = 64 * 1024;
    within("first window", stream.write_all(&payload(window))).await.expect("fits the window");
    // The peer has read nothing, so no WINDOW_UPDATE can have come: the window is used up.
    assert!(stream.write(b"x").now_or_never().is_none(), "wrote past the window");

    let data = payload(5 * window + 3);
    let sent = data[window..].to_vec();
    let mut writer = stream.clone();
    let upload = tokio::spawn(async move {
        writer.write_all(&sent).await.expect("rest, as windows open");
        writer.shutdown().await.expect("fin");
    });
    let mut got = Vec::new();
    within("read all", accepted.read_to_end(&mut got)).await.expect("read");
    assert!(got == data, "payload differs ({} of {} bytes)", got.len(), data.len());
    within("upload", upload).await.expect("upload task");
}

#[tokio::test]
async fn pings_are_answered_by_either_side() {
    let (client, server) = pair(Config::default());
    within("client ping", client.ping()).await.expect("client ping");
    within("server ping", server.ping()).await.expect("server ping");
    within("second client ping", client.ping()).await.expect("again");
}

#[tokio::test]
async fn a_reset_ends_both_directions_but_keeps_unread_data() {
    let (client, server) = pair(Config::default());
    let mut stream = client.open(Headers::new()).expect("open");
    let accepted = within("accept", server.accept()).await.expect("a stream");
    let mut writer = accepted.clone();
    writer.write_all(b"last words").await.expect("write");
    accepted.reset(rst::CANCEL);

    let mut got = Vec::new();
    within("read", stream.read_to_end(&mut got)).await.expect("EOF after the data");
    assert_eq!(got, b"last words");
    assert_eq!(stream.reset_status(), Some(rst::CANCEL));
    let error = stream.write_all(b"too late").await.expect_err("write after reset");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn a_refused_stream_fails_its_reply() {
    let (client, server) = pair(Config::default());
    let stream = client.open(Headers::new()).expect("open");
    within("accept", server.accept()).await.expect("a stream").refuse();
    let result = within("reply", stream.reply_headers()).await;
    assert!(matches!(result, Err(ConnectionError::Reset { id: 1, status: rst::REFUSED_STREAM })), "{result:?}");
}

#[tokio::test]
async fn after_goaway_neither_side_opens_streams_but_open_ones_go_on() {
    let (client, server) = pair(Config::default());
    let mut stream = client.open(Headers::new()).expect("open");
    let mut accepted = within("accept", server.accept()).await.expect("a stream");
    client.go_away();
    assert!(matches!(client.open(Headers::new()), Err(ConnectionError::GoneAway)));
    // The server learns of it through the frame; ping orders after it.
    within("ping", server.ping()).await.expect("ping");
    assert!(matches!(server.open(Headers::new()), Err(ConnectionError::GoneAway)));
    accepted.write_all(b"still here").await.expect("write");
    accepted.shutdown().await.expect("fin");
    let mut got = Vec::new();
    within("read", stream.read_to_end(&mut got)).await.expect("read");
    assert_eq!(got, b"still here");
}

#[tokio::test]
async fn dropping_every_handle_closes_the_transport() {
    let (client, server) = pair(Config::default());
    let stream = client.open(Headers::new()).expect("open");
    let mut accepted = within("accept", server.accept()).await.expect("a stream");
    drop(client);
    assert!(!server.is_closed(), "a stream handle still holds the connection open");
    drop(stream);
    within("close", server.closed()).await;
    let mut rest = Vec::new();
    within("read", accepted.read_to_end(&mut rest)).await.expect("EOF when the connection ends");
    assert!(matches!(server.open(Headers::new()), Err(ConnectionError::Closed(_) | ConnectionError::GoneAway)));
    assert!(within("accept", server.accept()).await.is_none());
}
