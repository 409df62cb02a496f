//! The whole chain with real kubectl: kubectl → skiff's API server over
//! HTTPS → the kubelet server (client certificate) → containerd. Logs,
//! exec (with stdin), cp both ways and port-forward, with the current
//! kubectl (WebSocket: v5.channel.k8s.io and the port-forward tunnel) and
//! 1.27 (SPDY).

#![cfg(feature = "testing")]

mod server_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use server_common::*;
use skiff_apiserver::authn::Authenticator;
use skiff_apiserver::pki::Pki;
use skiff_apiserver::{ApiServer, serve};
use skiff_store::MemoryBackend;

const KUBECTL_WEBSOCKET: &str = "/usr/bin/kubectl";
const KUBECTL_SPDY: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

struct Cluster {
    node: TestNode,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// An HTTPS API server whose Node `node-1` is the test kubelet, with pod `web` bound to it.
async fn cluster() -> Option<Cluster> {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::load_or_create(&dir.path().join("tls"), &["127.0.0.1".into(), "localhost".into()]).expect("pki");
    let node = TestNode::start_with_pki("web", pki.clone()).await?;
    let (cert, key) = pki.issue_client("kube-apiserver-kubelet-client", Some("system:masters")).expect("client cert");
    let api = ApiServer::start(Arc::new(MemoryBackend::new()))
        .await
        .expect("API server")
        .with_kubelet_client(&cert, &key)
        .expect("kubelet client");
    let client = api.client();
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "node-1" } })).expect("node"),
        )
        .await
        .expect("create node");
    let status = json!({ "status": {
        "addresses": [{ "type": "InternalIP", "address": "127.0.0.1" }, { "type": "Hostname", "address": "node-1" }],
        "daemonEndpoints": { "kubeletEndpoint": { "Port": node.port } },
    }});
    nodes.patch_status("node-1", &PatchParams::default(), &Patch::Merge(status)).await.expect("node status");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = json!({ "metadata": { "name": "web" }, "spec": { "nodeName": "node-1", "containers": [{ "name": "main", "image": "busybox" }] } });
    pods.create(&PostParams::default(), &serde_json::from_value(pod).expect("pod")).await.expect("create pod");
    let running = json!({ "status": { "phase": "Running", "podIP": "127.0.0.1" } });
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(running)).await.expect("pod status");

    let tls = serve::tls_config(&pki).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let url = format!("https://127.0.0.1:{}", listener.local_addr().expect("address").port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve::serve(listener, api.router(), tls, Arc::new(Authenticator::default()), async move {
        let _ = stopped.await;
    }));
    let kubeconfig = dir.path().join("admin.kubeconfig");
    std::fs::write(&kubeconfig, pki.admin_kubeconfig(&url)).expect("kubeconfig");
    Some(Cluster { node, kubeconfig, _dir: dir, _stop: stop })
}

fn kubectl(kubectl: &str, kubeconfig: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).expect("stdin");
    }
    child.wait_with_output().expect("kubectl output")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn errors(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Everything one kubectl does against the cluster.
fn kubectl_session(binary: &str, config: &Path) {
    let run = |args: &[&str]| {
        let output = kubectl(binary, config, args, None);
        assert!(output.status.success(), "{binary} {args:?}: {}", errors(&output));
        text(&output)
    };
    // (An earlier session's `logs -f` check appended a line.)
    let full = run(&["logs", "web"]);
    assert!(full.starts_with("line1\nerr1\nline2\n"), "{binary}: {full}");
    let last = full.lines().last().map(|l| format!("{l}\n")).unwrap_or_default();
    assert_eq!(run(&["logs", "web", "--tail=1"]), last, "{binary}");
    assert_eq!(run(&["logs", "web", "-c", "main", "--limit-bytes=3"]), "lin", "{binary}");
    let stamped = run(&["logs", "web", "--tail=1", "--timestamps"]);
    assert!(stamped.ends_with(&format!("Z {last}")), "{stamped}");
    assert_eq!(run(&["logs", "web", "--since=1h", "--all-containers"]), full, "{binary}");
    let previous = kubectl(binary, config, &["logs", "web", "--previous"], None);
    assert!(
        errors(&previous).contains("(BadRequest): previous terminated container \"main\" in pod \"web\" not found"),
        "{}",
        errors(&previous)
    );
    follow_logs(binary, config, &last);
    let wrong = kubectl(binary, config, &["logs", "web", "-c", "nope"], None);
    assert!(errors(&wrong).contains("container nope is not valid for pod web"), "{}", errors(&wrong));

    assert_eq!(run(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"]), "out\n", "{binary}");
    let failed = kubectl(binary, config, &["exec", "web", "--", "sh", "-c", "exit 3"], None);
    assert_eq!(failed.status.code(), Some(3), "{}", errors(&failed));
    let piped = kubectl(binary, config, &["exec", "-i", "web", "--", "cat"], Some(b"through stdin\n"));
    assert_eq!(text(&piped), "through stdin\n", "{binary}: {}", errors(&piped));

    let local = tempfile::tempdir().expect("local dir");
    let source = local.path().join("up.txt");
    std::fs::write(&source, "copied into the pod\n").expect("write");
    let up = kubectl(binary, config, &["cp", source.to_str().expect("utf-8"), "web:/tmp/up.txt"], None);
    assert!(up.status.success(), "{binary} cp up: {}", errors(&up));
    assert_eq!(run(&["exec", "web", "--", "cat", "/tmp/up.txt"]), "copied into the pod\n");
    let back = local.path().join("back.txt");
    let down = kubectl(binary, config, &["cp", "web:/tmp/up.txt", back.to_str().expect("utf-8")], None);
    assert!(down.status.success(), "{binary} cp down: {}", errors(&down));
    assert_eq!(std::fs::read_to_string(&back).expect("copied back"), "copied into the pod\n");

    port_forward(binary, config);
}

/// `kubectl logs -f`: a line the container writes later arrives.
fn follow_logs(binary: &str, config: &Path, last: &str) {
    let mut child = Command::new(binary)
        .arg("--kubeconfig")
        .arg(config)
        .args(["logs", "-f", "web", "--tail=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl logs -f");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a line");
    let marker = format!("followed-by-{}", binary.rsplit('/').next().unwrap_or_default());
    let write =
        kubectl(binary, config, &["exec", "web", "--", "sh", "-c", &format!("echo {marker} > /proc/1/fd/1")], None);
    assert!(write.status.success(), "{}", errors(&write));
    let mut next = String::new();
    stdout.read_line(&mut next).expect("a followed line");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((first.as_str(), next.trim_end()), (last, marker.as_str()), "{binary}");
}

fn port_forward(binary: &str, config: &Path) {
    let mut child = Command::new(binary)
        .arg("--kubeconfig")
        .arg(config)
        .args(["port-forward", "pod/web", ":8080", "-v=6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line");
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let local = line.split_whitespace().nth(2).map(str::to_owned);
    let answer = local.map(|address| {
        let mut tcp = std::net::TcpStream::connect(&address).expect("connect to the forwarded port");
        tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer);
        answer
    });
    let _ = child.kill();
    let output = child.wait_with_output().expect("exit");
    let answer = answer.unwrap_or_else(|| panic!("{binary} port-forward printed {line:?}: {}", errors(&output)));
    if binary == KUBECTL_WEBSOCKET {
        // The WebSocket tunnel was used, not the SPDY fallback.
        assert!(!errors(&output).contains("fallback to secondary dialer"), "{}", errors(&output));
    }
    assert!(answer.contains("200 OK") && answer.contains("hello-pf"), "{binary}: {answer}\n{}", errors(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_exec_cp_and_port_forward_go_through_the_api_server_to_the_kubelet() {
    let Some(cluster) = cluster().await else { return };
    wait_for("the container logged", async || {
        let output = kubectl(KUBECTL_WEBSOCKET, &cluster.kubeconfig, &["logs", "web"], None);
        text(&output).contains("line2").then_some(())
    })
    .await;
    for binary in [KUBECTL_WEBSOCKET, KUBECTL_SPDY] {
        if !Path::new(binary).exists() {
            eprintln!("skipping {binary}: not installed");
            continue;
        }
        let config = cluster.kubeconfig.clone();
        let binary = binary.to_owned();
        tokio::task::spawn_blocking(move || kubectl_session(&binary, &config)).await.expect("kubectl session");
    }
    cluster.node.stop().await;
}
