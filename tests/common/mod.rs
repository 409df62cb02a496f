//! A live `skiff server` for tests: started on a free port in a temp data
//! dir, stopped (SIGKILL) when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const KUBECTL: &str = "/usr/bin/kubectl";
/// The newest kubectl that sends JSON bodies (1.32+ send protobuf for typed creates).
pub const KUBECTL_JSON: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.31";

/// Whether kubectl is here; without it the test is skipped, except in CI where it must run.
pub fn require_kubectl() -> bool {
    if Path::new(KUBECTL).exists() && Path::new(KUBECTL_JSON).exists() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "kubectl is missing at {KUBECTL} / {KUBECTL_JSON} and CI is set");
    eprintln!("skipping: kubectl is not installed");
    false
}

/// A running `skiff server` in a temp data dir on a free port; killed on drop.
pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
    pub url: String,
    /// The line the server printed when it was ready.
    pub ready_line: String,
}

impl Server {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), extra)
    }

    /// Starts in a given data dir (to restart on the same state).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["server", "--https-listen-port", "0", "--bind-address", "127.0.0.1", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start skiff server");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let line = ready.recv_timeout(Duration::from_secs(60)).expect("skiff server printed its ready line");
        let url =
            line.split_whitespace().find(|w| w.starts_with("https://")).expect("ready line names the URL").to_owned();
        Self { child, dir, url, ready_line: line }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    pub fn kubectl_with(&self, kubectl: &str, kubeconfig: &Path, args: &[&str]) -> Output {
        // A discovery cache per kubeconfig, so that runs never read each other's.
        let cache = kubeconfig.with_extension("cache");
        Command::new(kubectl)
            .env("KUBECONFIG", kubeconfig)
            .arg(format!("--cache-dir={}", cache.display()))
            .args(args)
            .output()
            .expect("run kubectl")
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_with(KUBECTL_JSON, &self.kubeconfig(), args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends SIGTERM and waits (with a deadline) for the exit; returns it and the data dir.
    pub fn terminate(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("send SIGTERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
                return (status, dir);
            }
            assert!(std::time::Instant::now() < deadline, "skiff server did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
