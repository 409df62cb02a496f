//! A live `skiff server` with its node agent on a private containerd, for
//! tests that run real pods; kubectl helpers that wait on conditions.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{KUBECTL, Server};

/// Whether pods can run here (root, containerd, runc, kubectl); otherwise
/// the test is skipped, except in CI where it must run.
pub fn require_node() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    let tools = ["/usr/bin/containerd", "/usr/sbin/runc", KUBECTL, "/usr/bin/busybox", "/usr/bin/catatonit"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !Path::new(t).exists()).collect();
    if root && missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "pods cannot run here (root: {root}, missing: {missing:?}) and CI is set"
    );
    eprintln!("skipping: pods cannot run here (root: {root}, missing: {missing:?})");
    false
}

/// A server with its agent; the busybox test image is imported from the images dir at start.
/// Dropping it terminates the server and runs `skiff killall` on its data dir, so that no
/// containers, mounts, bridge or cgroups stay behind.
pub struct NodeServer {
    pub server: Server,
    network: skiff_kubelet::testing::NetworkSlot,
    /// Whether `stop_and_killall` already ran.
    stopped: bool,
}

impl NodeServer {
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let images = dir.path().join("agent").join("images");
        std::fs::create_dir_all(&images).expect("images dir");
        skiff_kubelet::testing::busybox_image_tar(images.join("busybox.tar")).expect("busybox image");
        let network = skiff_kubelet::testing::NetworkSlot::allocate();
        let (cidr, bridge) = (network.cidr(), network.bridge());
        let mut args = vec![
            "--kubelet-port",
            "0",
            "--cluster-cidr",
            &cidr,
            "--cni-bridge",
            &bridge,
            "--node-name",
            "skiff-test-node",
        ];
        // Tests should not depend on how full the host's disk is (the default nodefs threshold is 10%).
        args.extend_from_slice(&[
            "--node-ip",
            "127.0.0.1",
            "--eviction-hard",
            "nodefs.available<1%,imagefs.available<1%",
        ]);
        args.extend_from_slice(extra);
        let binary = Path::new(env!("CARGO_BIN_EXE_skiff"));
        let cluster = skiff_conformance::Cluster::start_with_agent(dir, binary, &args).expect("skiff server starts");
        let node = Self { server: Server { cluster }, network, stopped: false };
        node.wait_for("the node to be Ready", Duration::from_secs(60), || {
            node.get("node/skiff-test-node", "{.status.conditions[?(@.type==\"Ready\")].status}") == "True"
        });
        node
    }

    /// kubectl (1.32) with the admin kubeconfig; panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_version(KUBECTL, args)
    }

    /// kubectl of a given binary; panics on failure.
    pub fn kubectl_version(&self, kubectl: &str, args: &[&str]) -> String {
        let out = self.server.kubectl_with(kubectl, &self.server.kubeconfig(), args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with `input` on stdin; the exit success, stdout and stderr.
    pub fn kubectl_stdin(&self, kubectl: &str, args: &[&str], input: &[u8]) -> (bool, String, String) {
        let kubeconfig = self.server.kubeconfig();
        let mut child = Command::new(kubectl)
            .env("KUBECONFIG", &kubeconfig)
            .arg(format!("--cache-dir={}", kubeconfig.with_extension("cache").display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
        let out = child.wait_with_output().expect("kubectl output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kubectl apply -f -` of a manifest.
    pub fn apply(&self, manifest: &str) {
        let (ok, out, err) = self.kubectl_stdin(KUBECTL, &["apply", "-f", "-"], manifest.as_bytes());
        assert!(ok, "kubectl apply failed: {err}\n{manifest}");
        assert!(!out.is_empty());
    }

    /// A jsonpath of an object ("" when it does not exist).
    pub fn get(&self, object: &str, jsonpath: &str) -> String {
        let out = self.server.kubectl_with(
            KUBECTL,
            &self.server.kubeconfig(),
            &["get", object, "-o", &format!("jsonpath={jsonpath}")],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `condition` holds, polling; panics with `what` and the pods' state after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if condition() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let pods = self.server.kubectl_with(KUBECTL, &self.server.kubeconfig(), &["get", "pods", "-A", "-o", "yaml"]);
        let events = self.server.kubectl_with(KUBECTL, &self.server.kubeconfig(), &["get", "events", "-A"]);
        panic!(
            "timed out after {limit:?} waiting for {what}\npods:\n{}\nevents:\n{}",
            String::from_utf8_lossy(&pods.stdout),
            String::from_utf8_lossy(&events.stdout)
        );
    }

    /// Waits for a pod's phase.
    pub fn wait_phase(&self, pod: &str, phase: &str, limit: Duration) {
        self.wait_for(&format!("pod {pod} to be {phase}"), limit, || {
            self.get(&format!("pod/{pod}"), "{.status.phase}") == phase
        });
    }

    /// Waits for a pod's Ready condition to be True.
    pub fn wait_ready(&self, pod: &str, limit: Duration) {
        self.wait_for(&format!("pod {pod} to be Ready"), limit, || {
            self.get(&format!("pod/{pod}"), "{.status.conditions[?(@.type==\"Ready\")].status}") == "True"
        });
    }

    pub fn data_dir(&self) -> &Path {
        self.server.dir()
    }

    /// The CNI bridge pods are attached to.
    pub fn bridge(&self) -> String {
        self.network.bridge()
    }

    /// SIGTERM to the server, waiting up to 30 s for it to exit (its pods keep running, as with k3s).
    pub fn stop(&mut self) {
        let pid = self.server.cluster.pid();
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if running(pid) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }

    /// Stops the server (if it runs), then `skiff killall` on its data dir; killall's output.
    /// Runs once (on drop again: nothing).
    pub fn stop_and_killall(&mut self) -> String {
        if std::mem::replace(&mut self.stopped, true) {
            return String::new();
        }
        self.stop();
        let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["killall", "--data-dir"])
            .arg(self.data_dir())
            .output()
            .expect("run skiff killall");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            eprintln!("skiff killall failed ({}):\n{text}", out.status);
        }
        text
    }
}

/// Whether `pid` still runs (neither gone nor a zombie waiting to be reaped).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        self.stop_and_killall();
    }
}

/// `skiff killall --data-dir DIR`: stops every pod the node agent of `data_dir` left running and
/// removes its network, cgroups and mounts.
pub fn killall(data_dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["killall", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run skiff killall");
    assert!(out.status.success(), "skiff killall failed: {}", String::from_utf8_lossy(&out.stderr));
}
