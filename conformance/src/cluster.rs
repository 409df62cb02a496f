//! A live `skiff server` for scenarios and tests: a temp data dir, a free
//! port, stopped with SIGTERM (then SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running server.
#[derive(Debug)]
pub struct Cluster {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    /// The `https://127.0.0.1:PORT` it serves on.
    pub url: String,
    /// The line it printed when it was ready.
    pub ready_line: String,
    /// How long it took from spawn to its ready line.
    pub started_in: Duration,
}

impl Cluster {
    /// Starts `skiff server` from `binary` with extra flags, in a new data dir.
    pub fn start(binary: &Path, extra: &[&str]) -> Result<Self> {
        Self::start_in(tempfile::tempdir().context("creating a data dir")?, binary, extra)
    }

    /// Starts in an existing data dir (to restart on the same state), without the node agent.
    pub fn start_in(dir: tempfile::TempDir, binary: &Path, extra: &[&str]) -> Result<Self> {
        Self::launch(dir, binary, &[&["--disable-agent"], extra].concat())
    }

    /// Starts with the node agent (a kubelet on containerd), in an existing data dir.
    pub fn start_with_agent(dir: tempfile::TempDir, binary: &Path, extra: &[&str]) -> Result<Self> {
        Self::launch(dir, binary, extra)
    }

    fn launch(dir: tempfile::TempDir, binary: &Path, extra: &[&str]) -> Result<Self> {
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
                let _ = child.wait();
                bail!("skiff server did not print its ready line within 60 s");
            }
        };
        let started_in = started.elapsed();
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")).map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("unexpected ready line: {line}");
        };
        Ok(Self { child: Some(child), dir: Some(dir), url, ready_line: line, started_in })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig.yaml")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns the exit
    /// status and the data dir (to start again on it).
    pub fn terminate(mut self, limit: Duration) -> Result<(ExitStatus, tempfile::TempDir)> {
        let mut child = self.child.take().context("already stopped")?;
        let dir = self.dir.take().context("no data dir")?;
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().context("sending SIGTERM")?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, dir));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("skiff server did not stop within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
