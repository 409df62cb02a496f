//! What real kubectl shows of namespace termination and deletion options,
//! against the router served over plain HTTP on a local port (skipped when
//! kubectl is not installed).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tokio::io::AsyncWriteExt;

const KUBECTL: &str = "/usr/bin/kubectl";

/// A served API and a scratch directory for kubectl's caches.
struct Cluster {
    url: String,
    dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl Cluster {
    async fn start() -> Self {
        let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let router = api.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Self { url, dir: tempfile::tempdir().expect("temp dir"), _server: server }
    }

    /// Runs kubectl with `stdin`; the exit status, stdout and stderr.
    async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut command = tokio::process::Command::new(KUBECTL);
        command
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .arg(format!("--server={}", self.url))
            .arg(format!("--cache-dir={}", self.dir.path().join("cache").display()))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("run kubectl");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default().as_bytes()).await.expect("write stdin");
        }
        let output = child.wait_with_output().await.expect("kubectl output");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    }

    async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, stdout, stderr) = self.kubectl(args, stdin).await;
        assert!(ok, "kubectl {args:?} failed: {stderr}");
        stdout
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_termination_and_force_finalizes_a_namespace() {
    if !Path::new(KUBECTL).exists() {
        eprintln!("skipped: no {KUBECTL}");
        return;
    }
    let cluster = Cluster::start().await;
    cluster.ok(&["create", "namespace", "doomed"], None).await;
    let deleted = cluster.ok(&["delete", "namespace", "doomed", "--wait=false"], None).await;
    assert_eq!(deleted, "namespace \"doomed\" deleted");
    let phase = cluster.ok(&["get", "namespace", "doomed", "-o", "jsonpath={.status.phase}"], None).await;
    assert_eq!(phase, "Terminating");

    let (ok, _, stderr) = cluster.kubectl(&["create", "configmap", "late", "-n", "doomed"], None).await;
    assert!(!ok);
    assert_eq!(
        stderr,
        "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );

    // The usual way out for a namespace stuck in Terminating: PUT it to finalize without its finalizers.
    let json = cluster.ok(&["get", "namespace", "doomed", "-o", "json"], None).await;
    let mut namespace: Value = serde_json::from_str(&json).expect("namespace JSON");
    namespace["spec"]["finalizers"] = Value::Array(Vec::new());
    let body = namespace.to_string();
    cluster.ok(&["replace", "--raw", "/api/v1/namespaces/doomed/finalize", "-f", "-"], Some(&body)).await;
    let (ok, _, stderr) = cluster.kubectl(&["get", "namespace", "doomed"], None).await;
    assert!(!ok);
    assert_eq!(stderr, "Error from server (NotFound): namespaces \"doomed\" not found");

    let (ok, _, stderr) = cluster.kubectl(&["delete", "namespace", "default"], None).await;
    assert!(!ok);
    assert_eq!(
        stderr,
        "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cascade_flags_choose_the_finalizers() {
    if !Path::new(KUBECTL).exists() {
        eprintln!("skipped: no {KUBECTL}");
        return;
    }
    let cluster = Cluster::start().await;
    let held = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","finalizers":["example.com/hold"]}}"#;
    cluster.ok(&["create", "-f", "-"], Some(held)).await;
    let finalizers = async |cluster: &Cluster| {
        cluster.ok(&["get", "configmap", "held", "-o", "jsonpath={.metadata.finalizers}"], None).await
    };
    cluster.ok(&["delete", "configmap", "held", "--cascade=foreground", "--wait=false"], None).await;
    assert_eq!(finalizers(&cluster).await, r#"["example.com/hold","foregroundDeletion"]"#);
    cluster.ok(&["delete", "configmap", "held", "--cascade=orphan", "--wait=false"], None).await;
    assert_eq!(finalizers(&cluster).await, r#"["example.com/hold","orphan"]"#);
    cluster.ok(&["delete", "configmap", "held", "--wait=false"], None).await;
    assert_eq!(finalizers(&cluster).await, r#"["example.com/hold"]"#, "kubectl's default cascade is background");
}
