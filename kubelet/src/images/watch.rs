//! The images directory (`<agent>/images/`), as k3s has it: every image
//! tarball in it is imported at start and whenever a new or changed one
//! appears. Polled rather than watched with inotify: a scan every few
//! seconds is cheap, and it also sees files on filesystems inotify misses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tracing::Instrument;

use super::import;

/// How often the directory is scanned by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);
/// A file modified more recently than this is taken to be still being written; it waits for the next scan.
const SETTLE: Duration = Duration::from_millis(500);

/// The file names taken for image tarballs.
const EXTENSIONS: &[&str] = &[".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"];

/// What identifies one version of a file: a changed size or mtime is a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    size: u64,
    modified: SystemTime,
}

/// The outcome of importing one tarball.
#[derive(Debug)]
pub struct Imported {
    /// The tarball.
    pub path: PathBuf,
    /// The image names it held, or why the import failed.
    pub result: import::Result<Vec<String>>,
}

/// Imports the tarballs of one directory into the containerd at `socket`, remembering what it did.
#[derive(Debug)]
pub struct ImagesDir {
    dir: PathBuf,
    socket: PathBuf,
    interval: Duration,
    seen: HashMap<PathBuf, Version>,
}

impl ImagesDir {
    /// Watches `dir` (it need not exist yet), importing into the containerd at `socket`.
    pub fn new(dir: impl Into<PathBuf>, socket: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), socket: socket.into(), interval: DEFAULT_INTERVAL, seen: HashMap::new() }
    }

    /// How often to scan.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports every tarball that is new or changed since the last scan; returns what it tried.
    pub async fn scan(&mut self) -> Vec<Imported> {
        let mut outcomes = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return outcomes };
        let mut candidates: Vec<(PathBuf, Version)> = entries
            .flatten()
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && EXTENSIONS.iter().any(|ext| name.ends_with(ext))
            })
            .filter_map(|entry| {
                // Follow symlinks: a link to a tarball elsewhere counts.
                let meta = std::fs::metadata(entry.path()).ok()?;
                let modified = meta.modified().ok()?;
                meta.is_file().then(|| (entry.path(), Version { size: meta.len(), modified }))
            })
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        self.seen.retain(|path, _| candidates.iter().any(|(p, _)| p == path));
        for (path, version) in candidates {
            if self.seen.get(&path) == Some(&version) {
                continue;
            }
            if version.modified.elapsed().is_ok_and(|age| age < SETTLE) {
                continue;
            }
            let result = import::import(&self.socket, &path).await;
            match &result {
                Ok(names) => tracing::info!(path = %path.display(), images = ?names, "imported image tarball"),
                Err(err) => tracing::warn!(path = %path.display(), %err, "importing image tarball failed"),
            }
            // A runtime that is down (restarting) is no verdict on the file: try again next scan.
            if result.is_ok() || self.socket.exists() {
                self.seen.insert(path.clone(), version);
            }
            outcomes.push(Imported { path, result });
        }
        outcomes
    }

    /// Scans now and then every interval, until the task is aborted.
    pub fn spawn(mut self) -> JoinHandle<()> {
        let span = tracing::info_span!("images", dir = %self.dir.display());
        tokio::spawn(
            async move {
                loop {
                    self.scan().await;
                    tokio::time::sleep(self.interval).await;
                }
            }
            .instrument(span),
        )
    }
}
