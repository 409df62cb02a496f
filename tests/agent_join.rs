//! `skiff agent` joins a `skiff server` (running without its own agent)
//! with the server's join token, registers its node and runs pods there.
//! Needs root, containerd and runc (see `require_node`).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use common::node::require_node;

/// A `skiff agent` process, stopped (and its pods killed) when dropped.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::node::killall(self.dir.path());
    }
}

#[test]
fn an_agent_joins_with_the_token_and_runs_a_pod() {
    if !require_node() {
        return;
    }
    let server = Server::start(&[]);
    let token = std::fs::read_to_string(server.dir().join("server").join("token")).expect("the join token");
    assert!(token.starts_with("K10"), "{token}");
    let network = skiff_kubelet::testing::NetworkSlot::allocate();
    let dir = tempfile::tempdir().expect("agent dir");
    let images = dir.path().join("agent").join("images");
    std::fs::create_dir_all(&images).expect("images dir");
    skiff_kubelet::testing::busybox_image_tar(images.join("busybox.tar")).expect("busybox image");
    let binary = Path::new(env!("CARGO_BIN_EXE_skiff"));
    let (cidr, bridge) = (network.cidr(), network.bridge());
    let child = Command::new(binary)
        .args(["agent", "--server", server.url(), "--token", token.trim(), "--data-dir"])
        .arg(dir.path())
        .args(["--node-name", "joined", "--node-ip", "127.0.0.1", "--kubelet-port", "0"])
        .args(["--cluster-cidr", &cidr, "--cni-bridge", &bridge, "--node-label", "skiff.dev/joined=yes"])
        // Tests should not depend on how full the host's disk is.
        .args(["--eviction-hard", "nodefs.available<1%,imagefs.available<1%"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start skiff agent");
    let agent = Agent { child, dir };

    let get = |args: &[&str]| {
        let out = server.kubectl_with(common::KUBECTL, &server.kubeconfig(), args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let wait = |what: &str, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("timed out waiting for {what}: {}", get(&["get", "nodes,pods", "-o", "wide"]));
    };
    wait(
        "the joined node to be Ready",
        Box::new(|| {
            get(&["get", "node", "joined", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
                == "True"
        }),
    );
    assert_eq!(get(&["get", "node", "joined", "-o", "jsonpath={.metadata.labels.skiff\\.dev/joined}"]), "yes");
    // The agent's credentials are its own: a client certificate for system:node:joined, kept in its data dir.
    assert!(agent.dir.path().join("agent").join("client-kubelet.crt").exists());
    server.kubectl(&[
        "run",
        "on-agent",
        &format!("--image={}", skiff_kubelet::testing::BUSYBOX_IMAGE),
        "--restart=Never",
        "--",
        "echo",
        "ran on the agent",
    ]);
    wait(
        "the pod to succeed on the agent",
        Box::new(|| get(&["get", "pod", "on-agent", "-o", "jsonpath={.status.phase}"]) == "Succeeded"),
    );
    assert_eq!(get(&["get", "pod", "on-agent", "-o", "jsonpath={.spec.nodeName}"]), "joined");
    assert_eq!(server.kubectl(&["logs", "on-agent"]), "ran on the agent\n");
    drop(agent);
    drop(network);
}

#[test]
fn an_agent_with_a_wrong_token_is_refused() {
    if !require_node() {
        return;
    }
    let server = Server::start(&[]);
    let token = std::fs::read_to_string(server.dir().join("server").join("token")).expect("the join token");
    let wrong = format!("{}::server:not-the-secret", token.trim().split("::").next().unwrap_or_default());
    let dir = tempfile::tempdir().expect("agent dir");
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["agent", "--server", server.url(), "--token", &wrong, "--data-dir"])
        .arg(dir.path())
        .args(["--node-name", "refused"])
        .output()
        .expect("run skiff agent");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401") || stderr.to_lowercase().contains("unauthorized"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
