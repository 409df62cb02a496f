//! Running one kubectl version against the cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// Where the versioned kubectl binaries are installed.
pub const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// The kubectl versions installed (`1.27` ... `1.33`), oldest first.
pub fn installed_versions() -> Vec<String> {
    let mut versions: Vec<(u32, String)> = std::fs::read_dir(KUBECTL_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("kubectl.")?.to_owned();
            let minor = version.strip_prefix("1.")?.parse().ok()?;
            Some((minor, version))
        })
        .collect();
    versions.sort();
    versions.into_iter().map(|(_, v)| v).collect()
}

/// What one kubectl invocation did.
#[derive(Debug, Clone)]
pub struct Run {
    pub args: Vec<String>,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// One kubectl version bound to a kubeconfig.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub version: String,
    binary: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    pub fn new(version: &str, kubeconfig: &Path, cache_root: &Path) -> Self {
        Self {
            version: version.to_owned(),
            binary: Path::new(KUBECTL_DIR).join(format!("kubectl.{version}")),
            kubeconfig: kubeconfig.to_owned(),
            cache: cache_root.join(format!("kubectl-{version}")),
        }
    }

    pub fn exists(&self) -> bool {
        self.binary.exists()
    }

    /// Starts kubectl with `args` in the background (for `get -w`), output piped.
    pub fn spawn(&self, args: &[&str]) -> Result<std::process::Child> {
        Command::new(&self.binary)
            .env("KUBECONFIG", &self.kubeconfig)
            .arg(format!("--cache-dir={}", self.cache.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", self.binary.display()))
    }

    /// Runs kubectl with `args`, feeding `stdin` if given; at most 60 s.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Run> {
        let mut command = Command::new(&self.binary);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .arg(format!("--cache-dir={}", self.cache.display()))
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("running {}", self.binary.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(input.as_bytes()).context("writing kubectl's stdin")?;
        }
        let output = wait_with_deadline(child, Duration::from_secs(60))?;
        Ok(Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn wait_with_deadline(child: std::process::Child, limit: Duration) -> Result<std::process::Output> {
    let id = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(limit) {
        Ok(output) => output.context("waiting for kubectl"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
            anyhow::bail!("kubectl did not finish within {limit:?}")
        }
    }
}
