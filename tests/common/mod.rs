//! The live `skiff server` the binary's tests use: the conformance crate's
//! `Cluster` on this build's binary, plus kubectl helpers.
#![allow(dead_code)]

pub mod node;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

use skiff_conformance::Cluster;

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

/// A running `skiff server` of this build.
pub struct Server {
    pub cluster: Cluster,
}

impl Server {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let binary = Path::new(env!("CARGO_BIN_EXE_skiff"));
        Self { cluster: Cluster::start_in(dir, binary, extra).expect("skiff server starts") }
    }

    pub fn url(&self) -> &str {
        &self.cluster.url
    }

    pub fn ready_line(&self) -> &str {
        &self.cluster.ready_line
    }

    pub fn dir(&self) -> &Path {
        self.cluster.data_dir()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.cluster.kubeconfig()
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

    /// SIGTERM, waiting up to 30 s; the exit status and the data dir.
    pub fn terminate(self) -> (ExitStatus, tempfile::TempDir) {
        self.cluster.terminate(Duration::from_secs(30)).expect("skiff server stops on SIGTERM")
    }
}
