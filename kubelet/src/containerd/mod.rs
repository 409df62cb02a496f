//! containerd from the system package, started and supervised by skiff:
//! its config (CRI plugin, own socket/state/root, overlayfs, the cgroup
//! driver that fits the host, the local pause image,
//! restrict_oom_score_adj), the CNI bridge network, a log file in the data
//! dir, and restarts when it dies.

pub mod cleanup;
pub mod cni;
pub mod config;
pub mod killall;
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

pub use config::ContainerdConfig;
pub use killall::killall;

use crate::images;
use crate::runtime::cri::CriRuntime;
use crate::runtime::{Runtime, RuntimeError};
use supervisor::Shared;

/// Why containerd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The containerd (or runc) binary is not installed.
    #[error(
        "{binary} was not found in PATH: install Debian's containerd, runc and containernetworking-plugins, or run with --disable-agent"
    )]
    NotInstalled { binary: String },
    /// A directory or file under containerd's dir could not be written.
    #[error("preparing {path}: {source}")]
    Prepare { path: PathBuf, source: std::io::Error },
    /// The CNI configuration could not be made.
    #[error(transparent)]
    Cni(#[from] cni::Error),
    /// The process could not be started.
    #[error("starting {binary}: {source}")]
    Spawn { binary: PathBuf, source: std::io::Error },
    /// containerd exited before its CRI was ready.
    #[error("containerd exited ({status}) before it was ready; its log {log} ends with:\n{tail}")]
    Exited { status: String, log: PathBuf, tail: String },
    /// The CRI did not become ready in time.
    #[error("containerd's CRI was not ready after {after:?} ({last}); see {log}")]
    NotReady { after: Duration, last: String, log: PathBuf },
    /// Building the pause image failed.
    #[error("building the pause image: {0}")]
    PauseImage(#[from] images::oci::Error),
    /// Importing the pause image failed.
    #[error("importing the pause image: {0}")]
    ImportPause(#[from] images::import::Error),
    /// Asking the CRI about the pause image failed.
    #[error("checking for the pause image: {0}")]
    Runtime(#[from] RuntimeError),
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long the steps of a start took (for logs and benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct StartTimings {
    /// From spawning the process until the CRI was ready.
    pub ready: Duration,
    /// Building and importing the pause image (zero when it was present).
    pub pause_image: Duration,
}

/// A containerd skiff started; restarted when it dies, until [`Containerd::stop`].
#[derive(Debug)]
pub struct Containerd {
    config: ContainerdConfig,
    runtime: Arc<CriRuntime>,
    shared: Arc<Shared>,
    supervisor: Option<JoinHandle<()>>,
    timings: StartTimings,
}

/// The runtime on an existing containerd's socket (`--container-runtime-endpoint`), not managed by skiff.
pub fn connect_existing(socket: impl AsRef<Path>) -> Arc<CriRuntime> {
    let socket = socket.as_ref();
    let path = socket.to_str().and_then(|s| s.strip_prefix("unix://")).map(Path::new).unwrap_or(socket);
    Arc::new(CriRuntime::connect(path))
}

impl Containerd {
    /// Writes the config and CNI network, starts containerd, waits until its
    /// CRI is ready, makes sure the pause image is there, and supervises it.
    pub async fn start(config: ContainerdConfig) -> Result<Self> {
        let binary = supervisor::find_binary(&config.binary)
            .ok_or_else(|| Error::NotInstalled { binary: config.binary.display().to_string() })?;
        if supervisor::find_binary(Path::new("runc")).is_none() {
            return Err(Error::NotInstalled { binary: "runc".into() });
        }
        prepare(&config)?;
        supervisor::stop_orphan(&config).await;

        let started = Instant::now();
        let runtime = Arc::new(CriRuntime::connect(&config.socket));
        let mut child = supervisor::spawn(&config, &binary)?;
        let shared = Arc::new(Shared::default());
        if let Some(pid) = child.id()
            && let Ok(mut slot) = shared.pid.lock()
        {
            *slot = Some(pid);
        }
        if let Err(err) = supervisor::wait_ready(&runtime, &mut child, &config).await {
            if let Some(pid) = child.id() {
                supervisor::terminate(pid, supervisor::STOP_GRACE).await;
            }
            return Err(err);
        }
        let ready = started.elapsed();
        tracing::info!(ready_ms = ready.as_millis() as u64, socket = %config.socket.display(), "containerd is ready");

        let pause_started = Instant::now();
        let built = ensure_pause_image(&config, &runtime).await;
        let pause_image = pause_started.elapsed();
        if let Err(err) = built {
            shared.stopping.store(true, Ordering::SeqCst);
            if let Some(pid) = child.id() {
                supervisor::terminate(pid, supervisor::STOP_GRACE).await;
            }
            return Err(err);
        }

        let span = tracing::info_span!("containerd", socket = %config.socket.display());
        let supervise = supervisor::supervise(config.clone(), binary, Arc::clone(&runtime), Arc::clone(&shared), child);
        let supervisor = tokio::spawn(supervise.instrument(span));
        Ok(Self { config, runtime, shared, supervisor: Some(supervisor), timings: StartTimings { ready, pause_image } })
    }

    /// The CRI runtime on this containerd (it reconnects across restarts).
    pub fn runtime(&self) -> Arc<CriRuntime> {
        Arc::clone(&self.runtime)
    }

    /// The gRPC socket.
    pub fn socket(&self) -> &Path {
        &self.config.socket
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ContainerdConfig {
        &self.config
    }

    /// The pid of the running containerd (`None` between a crash and the restart).
    pub fn pid(&self) -> Option<u32> {
        self.shared.pid()
    }

    /// How many times it was restarted after dying.
    pub fn restarts(&self) -> u32 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// How long the start took.
    pub fn timings(&self) -> StartTimings {
        self.timings
    }

    /// Stops containerd: SIGTERM, then SIGKILL after a few seconds. Containers keep running in their shims.
    pub async fn stop(mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(pid) = self.shared.pid() {
            supervisor::terminate(pid, supervisor::STOP_GRACE).await;
        }
        if let Some(task) = self.supervisor.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for Containerd {
    /// Without `stop`, containerd is still stopped (blocking for at most the grace period).
    fn drop(&mut self) {
        if self.supervisor.is_none() {
            return;
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(pid) = self.shared.pid() {
            supervisor::terminate_blocking(pid, supervisor::STOP_GRACE);
        }
    }
}

/// Creates containerd's directories and writes config.toml and the CNI conflist.
fn prepare(config: &ContainerdConfig) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Prepare { path, source }
    };
    let conf_dir = config.cni_conf_dir();
    for dir in [&config.dir, &conf_dir, &config.ipam_dir()] {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let config_file = config.config_file();
    std::fs::write(&config_file, config.render()).map_err(io(&config_file))?;
    // containerd loads the first conflist by name: ours must be the only one.
    let ours = cni::conflist_file_name(config);
    for entry in std::fs::read_dir(&conf_dir).map_err(io(&conf_dir))?.flatten() {
        if entry.file_name().to_string_lossy() != ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let conflist = conf_dir.join(&ours);
    let text = serde_json::to_string_pretty(&cni::conflist(config)?).unwrap_or_default();
    std::fs::write(&conflist, text).map_err(io(&conflist))?;
    Ok(())
}

/// Builds the pause image from catatonit and imports it, unless the runtime has it.
async fn ensure_pause_image(config: &ContainerdConfig, runtime: &CriRuntime) -> Result<()> {
    if runtime.image_status(&config.pause_image).await?.is_some() {
        return Ok(());
    }
    let tarball = config.dir.join("pause.tar");
    let builder = images::pause_image(&config.pause_image, &config.catatonit);
    let path = tarball.clone();
    tokio::task::spawn_blocking(move || builder.write(&path))
        .await
        .map_err(|err| Error::Prepare { path: tarball.clone(), source: std::io::Error::other(err) })??;
    images::import(&config.socket, &tarball).await?;
    let _ = std::fs::remove_file(&tarball);
    Ok(())
}
