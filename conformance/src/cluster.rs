//! A live `skiff server` for the scenarios: a temp data dir, a free port,
//! stopped with SIGTERM (then SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running server.
#[derive(Debug)]
pub struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
    /// The `https://127.0.0.1:PORT` it serves on.
    pub url: String,
    /// How long it took from spawn to its ready line.
    pub started_in: Duration,
}

impl Cluster {
    /// Starts `skiff server` from `binary` with extra flags.
    pub fn start(binary: &Path, extra: &[&str]) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a data dir")?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["server", "--https-listen-port", "0", "--bind-address", "127.0.0.1", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let line = match ready.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                bail!("skiff server did not print its ready line within 60 s");
            }
        };
        let started_in = started.elapsed();
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")).map(str::to_owned) else {
            let _ = child.kill();
            bail!("unexpected ready line: {line}");
        };
        Ok(Self { child, dir, url, started_in })
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
