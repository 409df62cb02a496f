//! Running the containerd process: starting it with our config, waiting
//! until its CRI answers, restarting it when it dies, and stopping it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{ContainerdConfig, Error, Result};
use crate::runtime::api;
use crate::runtime::cri::CriRuntime;
use crate::runtime::{Runtime, RuntimeError};

/// How long containerd may take from start until its CRI is ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The first pause before restarting a dead containerd; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A containerd that ran this long before dying gets the first back-off again.
const STABLE: Duration = Duration::from_secs(10);
/// How long `stop` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the supervisor and its owner share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Set before stopping, so that the exit is not taken for a crash.
    pub stopping: AtomicBool,
    /// The running containerd's pid.
    pub pid: Mutex<Option<u32>>,
    /// How many times containerd was restarted after dying.
    pub restarts: AtomicU32,
}

impl Shared {
    pub fn pid(&self) -> Option<u32> {
        self.pid.lock().map(|pid| *pid).unwrap_or(None)
    }

    fn set_pid(&self, pid: Option<u32>) {
        if let Ok(mut slot) = self.pid.lock() {
            *slot = pid;
        }
    }
}

/// Finds `binary` in PATH (or checks it when it is a path).
pub fn find_binary(binary: &Path) -> Option<PathBuf> {
    if binary.components().count() > 1 {
        return binary.is_file().then(|| binary.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(binary)).find(|candidate| candidate.is_file())
}

/// Starts containerd with `config` (config.toml already written); stderr and stdout go to the log file.
pub(super) fn spawn(config: &ContainerdConfig, binary: &Path) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.log_file)
        .map_err(|source| Error::Prepare { path: config.log_file.clone(), source })?;
    let log_err = log.try_clone().map_err(|source| Error::Prepare { path: config.log_file.clone(), source })?;
    let child = Command::new(binary)
        .arg("--config")
        .arg(config.config_file())
        .arg("--log-level")
        .arg(&config.log_level)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a Ctrl-C meant for skiff reaches containerd through `stop`, in order.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| Error::Spawn { binary: binary.to_path_buf(), source })?;
    if let Some(pid) = child.id() {
        let pid_file = config.dir.join("containerd.pid");
        if let Err(err) = std::fs::write(&pid_file, pid.to_string()) {
            tracing::warn!(path = %pid_file.display(), %err, "could not write containerd's pid file");
        }
    }
    Ok(child)
}

/// Terminates a containerd a previous skiff left running on this config (found by its pid file).
pub(super) async fn stop_orphan(config: &ContainerdConfig) {
    let pid_file = config.dir.join("containerd.pid");
    let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()) else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*config.config_file().to_string_lossy());
    if ours && alive(pid) {
        tracing::warn!(pid, "stopping the containerd a previous run left behind");
        terminate(pid, STOP_GRACE).await;
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command in parentheses, which may itself contain ") ".
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// SIGTERM, then SIGKILL after `grace`; returns once the process is gone (or a zombie).
pub async fn terminate(pid: u32, grace: Duration) {
    signal(pid, Signal::TERM);
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if alive(pid) {
        signal(pid, Signal::KILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The same as [`terminate`] without an async runtime (for `Drop`).
pub fn terminate_blocking(pid: u32, grace: Duration) {
    signal(pid, Signal::TERM);
    let deadline = std::time::Instant::now() + grace;
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        signal(pid, Signal::KILL);
    }
}

/// Waits until the CRI answers Version and Status says RuntimeReady and NetworkReady.
pub(super) async fn wait_ready(runtime: &CriRuntime, child: &mut Child, config: &ContainerdConfig) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last: String;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Exited {
                status: status.to_string(),
                log: config.log_file.clone(),
                tail: tail(&config.log_file),
            });
        }
        match ready(runtime).await {
            Ok(true) => return Ok(()),
            Ok(false) => last = "the CRI is not ready yet".into(),
            Err(err) => last = err.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady { after: READY_TIMEOUT, last, log: config.log_file.clone() });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ready(runtime: &CriRuntime) -> Result<bool, RuntimeError> {
    runtime.version().await?;
    let status = runtime.status().await?;
    let is = |kind: &str| status.conditions.iter().any(|c: &api::RuntimeCondition| c.r#type == kind && c.status);
    Ok(is("RuntimeReady") && is("NetworkReady"))
}

/// The last lines of containerd's log, for errors.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Restarts containerd whenever it dies, until `shared.stopping`.
pub(super) async fn supervise(
    config: ContainerdConfig,
    binary: PathBuf,
    runtime: Arc<CriRuntime>,
    shared: Arc<Shared>,
    mut child: Child,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut running_since = Instant::now();
    loop {
        let status = child.wait().await;
        // One that ran a while starts the back-off over; one that keeps crashing waits longer each time.
        if running_since.elapsed() > STABLE {
            backoff = FIRST_BACKOFF;
        }
        shared.set_pid(None);
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let status = status.map(|s| s.to_string()).unwrap_or_else(|err| err.to_string());
        tracing::warn!(%status, log = %config.log_file.display(), tail = %tail(&config.log_file), "containerd exited; restarting it");
        loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            let started = Instant::now();
            let mut next = match spawn(&config, &binary) {
                Ok(next) => next,
                Err(err) => {
                    tracing::error!(%err, "restarting containerd failed");
                    continue;
                }
            };
            shared.set_pid(next.id());
            match wait_ready(&runtime, &mut next, &config).await {
                Ok(()) => {
                    shared.restarts.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "containerd restarted and ready");
                    running_since = Instant::now();
                    child = next;
                    break;
                }
                Err(err) => {
                    tracing::error!(%err, "restarted containerd did not become ready");
                    if let Some(pid) = next.id() {
                        terminate(pid, Duration::from_secs(1)).await;
                    }
                    let _ = next.wait().await;
                    shared.set_pid(None);
                }
            }
        }
    }
}
