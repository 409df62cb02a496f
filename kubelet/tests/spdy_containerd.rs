//! SPDY and the WebSocket↔SPDY translator against containerd's real CRI
//! streaming server: exec through our SPDY client, then `translate_exec`
//! and `translate_port_forward` with a tokio-tungstenite pair standing in
//! for kubectl.

#![cfg(feature = "testing")]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use skiff_kubelet::runtime::{Runtime, api};
use skiff_kubelet::streaming::spdy::{self, Headers};
use skiff_kubelet::streaming::translate::{ChannelProtocol, ExecOptions, translate_exec, translate_port_forward};
use skiff_kubelet::testing::{TestContainerd, busybox_container_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

const CAT_THEN_EXIT_3: &str = "cat; echo done >&2; exit 3";

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Runs a busybox pod whose one container runs `command`; (sandbox, container).
async fn run_pod(test: &TestContainerd, name: &str, command: &[&str]) -> (String, String) {
    run_pod_with_stdin(test, name, command, false).await
}

/// `run_pod`, optionally with the container's stdin kept open (for attach).
async fn run_pod_with_stdin(test: &TestContainerd, name: &str, command: &[&str], stdin: bool) -> (String, String) {
    let runtime = test.runtime();
    let uid = uuid::Uuid::new_v4().to_string();
    let log_dir = test.dir().join("logs").join(name);
    let sandbox = test.sandbox_config(name, &uid, &log_dir);
    let sandbox_id = match runtime.run_pod_sandbox(sandbox.clone()).await {
        Ok(id) => id,
        Err(err) => panic!("RunPodSandbox: {err}\ncontainerd log:\n{}", test.log_tail()),
    };
    let mut container = busybox_container_config("main", command);
    container.stdin = stdin;
    let container_id = runtime.create_container(&sandbox_id, container, &sandbox).await.expect("created");
    runtime.start_container(&container_id).await.expect("started");
    (sandbox_id, container_id)
}

async fn exec_url(test: &TestContainerd, container_id: &str, script: &str) -> String {
    let request = api::ExecRequest {
        container_id: container_id.to_owned(),
        cmd: vec!["sh".into(), "-c".into(), script.into()],
        tty: false,
        stdin: true,
        stdout: true,
        stderr: true,
    };
    test.runtime().exec(request).await.expect("an exec URL")
}

/// More than a few 64 KiB windows, with a pattern that shows reordering.
fn input() -> Vec<u8> {
    (0..500_000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test]
async fn our_spdy_client_execs_in_containerd_with_stdin_eof_and_the_exit_code() {
    let Some(test) = TestContainerd::start().await else { return };
    let (_sandbox, container) = run_pod(&test, "spdy-exec", &["sleep", "3600"]).await;
    let url = exec_url(&test, &container, CAT_THEN_EXIT_3).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let (conn, protocol) =
        within("upgrade", spdy::connect(&url, &["v4.channel.k8s.io"], spdy::Config::default())).await.expect("upgrade");
    assert_eq!(protocol, "v4.channel.k8s.io");
    let open = |kind: &str| conn.open(Headers::new().with("streamType", kind)).expect("open");
    let (mut error, mut stdin, mut stdout, mut stderr) = (open("error"), open("stdin"), open("stdout"), open("stderr"));
    let data = input();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&sent).await.expect("stdin");
        stdin.shutdown().await.expect("stdin FIN");
    });
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), Vec::new());
    let (a, b, c) = within("the command", async {
        tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err), error.read_to_end(&mut status))
    })
    .await;
    a.expect("stdout");
    b.expect("stderr");
    c.expect("error stream");
    writer.await.expect("writer");
    assert!(out == data, "stdout has {} of {} bytes", out.len(), data.len());
    assert_eq!(String::from_utf8_lossy(&err), "done\n");
    let status: Value = serde_json::from_slice(&status).expect("a JSON Status");
    assert_eq!(status["status"], "Failure", "{status}");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");
}

async fn ws_pair() -> (WebSocketStream<tokio::io::DuplexStream>, WebSocketStream<tokio::io::DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
    let server = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    (client, server)
}

#[tokio::test]
async fn translate_exec_relays_a_v5_websocket_session_to_containerd() {
    let Some(test) = TestContainerd::start().await else { return };
    let (_sandbox, container) = run_pod(&test, "ws-exec", &["sleep", "3600"]).await;
    let url = exec_url(&test, &container, CAT_THEN_EXIT_3).await;
    let (client, server) = ws_pair().await;
    let options = ExecOptions { stdin: true, stdout: true, stderr: true, tty: false };
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V5, &url, options).await });

    let data = input();
    let (mut sink, mut source) = client.split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(30_000) {
            let mut message = vec![0];
            message.extend_from_slice(chunk);
            sink.send(Message::Binary(message.into())).await.expect("stdin");
        }
        // v5's close signal for stdin: what `kubectl cp` relies on.
        sink.send(Message::Binary(vec![255, 0].into())).await.expect("close stdin");
        sink
    });
    let mut channels: [Vec<u8>; 4] = Default::default();
    while let Some(Ok(message)) = within("a message", source.next()).await {
        if let Message::Binary(bytes) = message
            && let Some((&channel, rest)) = bytes.split_first()
            && usize::from(channel) < channels.len()
        {
            channels[usize::from(channel)].extend_from_slice(rest);
        }
    }
    drop(writer.await.expect("writer"));
    assert!(channels[1] == data, "stdout has {} of {} bytes", channels[1].len(), data.len());
    assert_eq!(String::from_utf8_lossy(&channels[2]), "done\n");
    let status: Value = serde_json::from_slice(&channels[3]).expect("a JSON Status");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0], serde_json::json!({"reason": "ExitCode", "message": "3"}));
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn translate_port_forward_reaches_a_pods_port_through_containerd() {
    let Some(test) = TestContainerd::start().await else { return };
    let command = ["sh", "-c", "echo hello-from-httpd > /var/www/index.html && exec httpd -f -p 8080 -h /var/www"];
    let (sandbox, container) = run_pod(&test, "ws-port-forward", &command).await;
    // httpd is listening once a connection from inside the pod succeeds.
    let runtime = test.runtime();
    let probe = vec!["wget".into(), "-q".into(), "-O".into(), "-".into(), "http://127.0.0.1:8080/".into()];
    let mut ready = false;
    for _ in 0..100 {
        let result = runtime.exec_sync(&container, probe.clone(), Duration::from_secs(5)).await.expect("probe");
        if String::from_utf8_lossy(&result.stdout).contains("hello-from-httpd") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "httpd never answered inside the pod");

    let request = api::PortForwardRequest { pod_sandbox_id: sandbox, port: vec![8080] };
    let url = runtime.port_forward(request).await.expect("a port-forward URL");
    let (mut client, server) = ws_pair().await;
    let translator =
        tokio::spawn(async move { translate_port_forward(server, ChannelProtocol::V4, &url, &[8080]).await });
    client.send(Message::Binary(b"\x00GET / HTTP/1.0\r\n\r\n".to_vec().into())).await.expect("request");
    let mut data = Vec::new();
    let mut first_on = [None, None];
    while let Some(Ok(message)) = within("the answer", client.next()).await {
        if let Message::Binary(bytes) = message
            && let Some((&channel, rest)) = bytes.split_first()
        {
            let slot = &mut first_on[usize::from(channel.min(1))];
            if slot.is_none() {
                *slot = Some(rest.to_vec());
            } else if channel == 0 {
                data.extend_from_slice(rest);
            }
        }
    }
    assert_eq!(first_on, [Some(8080u16.to_le_bytes().to_vec()), Some(8080u16.to_le_bytes().to_vec())]);
    let answer = String::from_utf8_lossy(&data);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("hello-from-httpd\n"), "{answer}");
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn a_tty_session_resizes_its_terminal_through_the_translator() {
    let Some(test) = TestContainerd::start().await else { return };
    let (_sandbox, container) = run_pod(&test, "ws-tty", &["sleep", "3600"]).await;
    let request = api::ExecRequest {
        container_id: container.clone(),
        cmd: vec!["sh".into()],
        tty: true,
        stdin: true,
        stdout: true,
        stderr: false,
    };
    let url = test.runtime().exec(request).await.expect("an exec URL");
    let (mut client, server) = ws_pair().await;
    let options = ExecOptions { stdin: true, stdout: true, stderr: true, tty: true };
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V5, &url, options).await });
    let send = |channel: u8, data: &[u8]| {
        let mut message = vec![channel];
        message.extend_from_slice(data);
        Message::Binary(message.into())
    };
    client.send(send(4, br#"{"Width":100,"Height":30}"#)).await.expect("resize");
    // The resize travels on its own stream: ask until the shell sees it.
    let mut screen = String::new();
    let mut asked = 0;
    while !screen.contains("30 100") {
        if asked < 50 {
            client.send(send(0, b"stty size\n")).await.expect("stdin");
            asked += 1;
        }
        match within("terminal output", client.next()).await {
            Some(Ok(Message::Binary(bytes))) if bytes.first() == Some(&1) => {
                screen.push_str(&String::from_utf8_lossy(&bytes[1..]));
            }
            Some(Ok(_)) => {}
            other => panic!("session ended early: {other:?}; screen: {screen}"),
        }
    }
    client.send(send(0, b"exit 4\n")).await.expect("exit");
    let mut status = Vec::new();
    while let Some(Ok(message)) = within("the status", client.next()).await {
        if let Message::Binary(bytes) = message
            && bytes.first() == Some(&3)
        {
            status.extend_from_slice(&bytes[1..]);
        }
    }
    let status: Value = serde_json::from_slice(&status).expect("a JSON Status");
    assert_eq!(status["details"]["causes"][0]["message"], "4", "{status}");
    within("translator", translator).await.expect("task").expect("session ok");
}

#[tokio::test]
async fn translate_exec_attaches_to_a_containers_shell() {
    let Some(test) = TestContainerd::start().await else { return };
    let (_sandbox, container) = run_pod_with_stdin(&test, "ws-attach", &["sh"], true).await;
    let request =
        api::AttachRequest { container_id: container.clone(), stdin: true, tty: false, stdout: true, stderr: true };
    let url = test.runtime().attach(request).await.expect("an attach URL");
    let (mut client, server) = ws_pair().await;
    let options = ExecOptions { stdin: true, stdout: true, stderr: true, tty: false };
    let translator = tokio::spawn(async move { translate_exec(server, ChannelProtocol::V5, &url, options).await });
    client.send(Message::Binary(b"\x00echo attached; echo oops >&2\n".to_vec().into())).await.expect("stdin");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while !(stdout.ends_with(b"attached\n") && stderr.ends_with(b"oops\n")) {
        match within("the shell's answer", client.next()).await {
            Some(Ok(Message::Binary(bytes))) if bytes.first() == Some(&1) => stdout.extend_from_slice(&bytes[1..]),
            Some(Ok(Message::Binary(bytes))) if bytes.first() == Some(&2) => stderr.extend_from_slice(&bytes[1..]),
            Some(Ok(_)) => {}
            other => panic!("session ended early: {other:?}"),
        }
    }
    // Ending stdin ends the shell, the container and so the attach session.
    client.send(Message::Binary(vec![255, 0].into())).await.expect("close stdin");
    let mut status = Vec::new();
    while let Some(Ok(message)) = within("the end", client.next()).await {
        if let Message::Binary(bytes) = message
            && bytes.first() == Some(&3)
        {
            status.extend_from_slice(&bytes[1..]);
        }
    }
    let status: Value = serde_json::from_slice(&status).expect("a JSON Status");
    assert_eq!(status["status"], "Success", "{status}");
    within("translator", translator).await.expect("task").expect("session ok");
}
