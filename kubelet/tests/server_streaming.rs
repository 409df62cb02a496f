//! The kubelet's HTTPS server on a real containerd: container logs (tail,
//! timestamps, follow, previous), exec over WebSocket v4 and v5 (streams,
//! exit status, stdin half-close), port-forward over WebSocket, and 401
//! without a client certificate.

#![cfg(feature = "testing")]

mod server_common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::StatusCode;
use server_common::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_kubelet_server_serves_logs_exec_and_port_forward_from_containerd() {
    let Some(node) = TestNode::start("web").await else { return };
    let port = node.port;

    // Logs.
    let log = wait_for("the container logged its lines", async || {
        let (status, body) = get(port, "/containerLogs/default/web/main").await;
        (status == StatusCode::OK && body.contains("line2")).then_some(body)
    })
    .await;
    assert_eq!(log, "line1\nerr1\nline2\n");
    assert_eq!(get(port, "/containerLogs/default/web/main?tailLines=1").await, (StatusCode::OK, "line2\n".into()));
    let (_, stamped) = get(port, "/containerLogs/default/web/main?tailLines=2&timestamps=true").await;
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 2, "{stamped}");
    for (line, text) in lines.iter().zip(["err1", "line2"]) {
        let (time, rest) = line.split_once(' ').expect("a timestamp");
        assert_eq!(rest, text);
        assert_eq!(time.len(), "2026-12-03T17:00:00.000000000Z".len(), "{time}");
        time.parse::<jiff::Timestamp>().expect("RFC3339");
    }
    assert_eq!(get(port, "/containerLogs/default/web/main?limitBytes=3").await.1, "lin");
    let (status, body) = get(port, "/containerLogs/default/web/main?previous=true").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, "previous terminated container \"main\" in pod \"web\" not found")
    );
    let (status, body) = get(port, "/containerLogs/default/web/nope").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, "container \"nope\" in pod \"web\" is waiting to start: ContainerCreating")
    );

    // Follow: a line written later arrives on the open stream.
    let mut follow = open_stream(port, "/containerLogs/default/web/main?follow=true&tailLines=1").await;
    assert_eq!(follow.next_text().await, "line2\n");
    let (_, status) = exec_v4(port, &["sh", "-c", "echo followed > /proc/1/fd/1"]).await;
    assert_eq!(status["status"], "Success", "{status}");
    assert_eq!(follow.next_text().await, "followed\n");

    // Exec over WebSocket v4: stdout, stderr and the exit code on the error channel.
    let ((stdout, stderr), status) = exec_v4(port, &["sh", "-c", "echo out; echo err >&2; exit 3"]).await;
    assert_eq!((stdout.as_str(), stderr.as_str()), ("out\n", "err\n"));
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");

    // Exec over WebSocket v5 with stdin: the close signal ends cat's input.
    let mut ws = websocket(port, "/exec/default/web/main?command=cat&input=1&output=1", "v5.channel.k8s.io").await;
    ws.send(Message::Binary(bytes::Bytes::from_static(b"\x00hello via stdin"))).await.expect("send");
    ws.send(Message::Binary(bytes::Bytes::from_static(&[255, 0]))).await.expect("close stdin");
    let (channels, status) = read_session(&mut ws).await;
    assert_eq!(channels.0, "hello via stdin");
    assert_eq!(status["status"], "Success", "{status}");

    // Port-forward over WebSocket (v4): the port prefix, then the pod's HTTP answer.
    let mut ws = websocket(port, "/portForward/default/web?port=8080", "v4.channel.k8s.io").await;
    ws.send(Message::Binary(bytes::Bytes::from_static(b"\x00GET / HTTP/1.0\r\n\r\n"))).await.expect("send");
    let mut data = Vec::new();
    let mut prefixes = 0;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        let Message::Binary(frame) = message else { continue };
        match (frame.first(), frame.len()) {
            (Some(0 | 1), 3) if prefixes < 2 => {
                assert_eq!(&frame[1..], &8080u16.to_le_bytes());
                prefixes += 1;
            }
            (Some(0), _) => data.extend_from_slice(&frame[1..]),
            _ => {}
        }
        if String::from_utf8_lossy(&data).contains("hello-pf") {
            break;
        }
    }
    let answer = String::from_utf8_lossy(&data);
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.contains("hello-pf"), "{answer}");
    assert_eq!(prefixes, 2);

    // Pods and health.
    assert_eq!(get(port, "/healthz").await, (StatusCode::OK, "ok".into()));
    let (_, pods) = get(port, "/pods").await;
    assert!(pods.contains("\"kind\":\"PodList\""), "{pods}");
    node.stop().await;
}

#[tokio::test]
async fn previous_logs_come_from_the_last_exited_instance() {
    let Some(node) = TestNode::start("restarts").await else { return };
    let first = node.container.clone();
    node.runtime.stop_container(&first, Duration::from_secs(1)).await.expect("stop");
    let second = node.start_container(1, &["sh", "-c", "echo second-life; exec sleep 3600"]).await;
    wait_for("the new instance logged", async || {
        let (_, body) = get(node.port, "/containerLogs/default/restarts/main").await;
        body.contains("second-life").then_some(())
    })
    .await;
    let (status, previous) = get(node.port, "/containerLogs/default/restarts/main?previous=true").await;
    assert_eq!((status, previous.as_str()), (StatusCode::OK, "line1\nerr1\nline2\n"));
    assert_ne!(first, second);
    node.stop().await;
}

#[tokio::test]
async fn requests_without_a_client_certificate_get_401_when_a_client_ca_is_set() {
    let Some(node) = TestNode::start_with_client_ca("auth").await else { return };
    assert_eq!(get(node.port, "/healthz").await, (StatusCode::UNAUTHORIZED, "Unauthorized".into()));
    let (status, body) = get_with_identity(node.port, "/healthz", node.client_identity()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    node.stop().await;
}

#[tokio::test]
async fn exec_with_a_tty_runs_the_command_on_a_terminal() {
    let Some(node) = TestNode::start("tty").await else { return };
    let path =
        "/exec/default/tty/main?command=sh&command=-c&command=test%20-t%201%20%26%26%20echo%20on-a-tty&output=1&tty=1";
    let mut ws = websocket(node.port, path, "v5.channel.k8s.io").await;
    let ((stdout, _), status) = read_session(&mut ws).await;
    assert_eq!(stdout, "on-a-tty\r\n");
    assert_eq!(status["status"], "Success", "{status}");
    node.stop().await;
}
