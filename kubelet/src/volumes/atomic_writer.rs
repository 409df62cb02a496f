//! Writes the files of configMap, secret, downwardAPI and projected volumes
//! so that a container never sees a half-updated set, as upstream's
//! AtomicWriter (pkg/volume/util/atomic_writer.go) lays them out:
//!
//! ```text
//! <volume>/..2026_12_03_16_45_00.123456789/<files>   the current data, in a timestamped dir
//! <volume>/..data -> ..2026_12_03_16_45_00.123456789 swapped atomically with a rename
//! <volume>/<key>  -> ..data/<key>                    one symlink per top-level path
//! ```
//!
//! A new payload is written into a fresh timestamped dir; `..data` is then
//! replaced by renaming a `..data_tmp` symlink over it, the user-visible
//! symlinks of new top-level paths are made, those of paths no longer in the
//! payload removed, and the old dir deleted. An unchanged payload writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The symlink to the current data dir.
pub const DATA_DIR_NAME: &str = "..data";
const DATA_DIR_TMP_NAME: &str = "..data_tmp";
/// Upstream's limits on a payload path and its components.
const MAX_PATH_LENGTH: usize = 4096;
const MAX_FILE_NAME_LENGTH: usize = 255;

/// One file of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (e.g. 0o644).
    pub mode: u32,
}

/// The files of a volume by path relative to the volume.
pub type Payload = BTreeMap<String, FileProjection>;

/// Why a payload could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { step, path: path.to_owned(), source }
}

/// Checks a payload path as upstream's validatePath does: relative, without
/// `..` components, not starting with `..`, within the length limits.
pub fn validate_path(path: &str) -> Result<(), WriteError> {
    let invalid = |reason| Err(WriteError::InvalidPath { path: path.to_owned(), reason });
    if path.is_empty() {
        return invalid("must not be empty");
    }
    if path.len() > MAX_PATH_LENGTH {
        return invalid("must be less than or equal to 4096 characters");
    }
    if Path::new(path).is_absolute() {
        return invalid("must be relative path");
    }
    if path.starts_with("..") {
        return invalid("must not start with '..'");
    }
    for component in path.split('/') {
        if component == ".." {
            return invalid("must not contain '..'");
        }
        if component.len() > MAX_FILE_NAME_LENGTH {
            return invalid("filenames must be less than or equal to 255 characters");
        }
    }
    Ok(())
}

/// Writes payloads into one volume dir.
#[derive(Debug, Clone)]
pub struct AtomicWriter {
    target: PathBuf,
}

impl AtomicWriter {
    pub fn new(target: impl Into<PathBuf>) -> Self {
        Self { target: target.into() }
    }

    /// Makes the volume hold exactly `payload`; returns whether anything was written.
    /// `after_write` is called on the new data dir before it is published (fsGroup ownership).
    pub fn write(
        &self,
        payload: &Payload,
        after_write: impl FnOnce(&Path) -> Result<(), WriteError>,
    ) -> Result<bool, WriteError> {
        for path in payload.keys() {
            validate_path(path)?;
        }
        std::fs::create_dir_all(&self.target).map_err(io("creating the volume dir", &self.target))?;
        let data_link = self.target.join(DATA_DIR_NAME);
        let old_dir = std::fs::read_link(&data_link).ok();
        let old_paths = old_dir.as_ref().map(|dir| files_under(&self.target.join(dir))).transpose()?;
        if let Some(old_paths) = &old_paths
            && self.unchanged(payload, old_paths)?
        {
            return Ok(false);
        }

        let new_dir = self.timestamped_dir()?;
        for (path, file) in payload {
            let full = new_dir.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating a dir", parent))?;
                make_dirs_traversable(&new_dir, parent)?;
            }
            std::fs::write(&full, &file.data).map_err(io("writing", &full))?;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(file.mode))
                .map_err(io("setting the mode of", &full))?;
        }
        after_write(&new_dir)?;

        let new_name = new_dir.file_name().map(PathBuf::from).unwrap_or_default();
        let tmp_link = self.target.join(DATA_DIR_TMP_NAME);
        let _ = std::fs::remove_file(&tmp_link);
        std::os::unix::fs::symlink(&new_name, &tmp_link).map_err(io("linking", &tmp_link))?;
        std::fs::rename(&tmp_link, &data_link).map_err(io("renaming over", &data_link))?;

        let wanted: BTreeSet<String> = payload.keys().filter_map(|p| top_level(p)).collect();
        for name in &wanted {
            let link = self.target.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(Path::new(DATA_DIR_NAME).join(name), &link).map_err(io("linking", &link))?;
            }
        }
        for name in old_paths.iter().flatten().filter_map(|p| top_level(p)) {
            if !wanted.contains(&name) {
                let link = self.target.join(&name);
                let _ = std::fs::remove_file(&link);
            }
        }
        if let Some(old) = old_dir.filter(|old| *old != new_name) {
            let old = self.target.join(old);
            std::fs::remove_dir_all(&old).map_err(io("removing the old data dir", &old))?;
        }
        Ok(true)
    }

    /// Whether the current data holds exactly the payload (same paths and contents).
    fn unchanged(&self, payload: &Payload, old_paths: &BTreeSet<String>) -> Result<bool, WriteError> {
        if old_paths.len() != payload.len() || !payload.keys().all(|p| old_paths.contains(p)) {
            return Ok(false);
        }
        let data = self.target.join(DATA_DIR_NAME);
        for (path, file) in payload {
            let full = data.join(path);
            // Contents only, as upstream (the fsGroup step may have widened the modes).
            if std::fs::read(&full).ok().as_deref() != Some(file.data.as_slice()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A new `..<timestamp>.<random>` dir (upstream: `..2006_01_02_15_04_05.` and a random suffix), mode 0755.
    fn timestamped_dir(&self) -> Result<PathBuf, WriteError> {
        let stamp = jiff::Timestamp::now().strftime("..%Y_%m_%d_%H_%M_%S.").to_string();
        for _ in 0..10 {
            let suffix = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
            let dir = self.target.join(format!("{stamp}{suffix}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                        .map_err(io("setting the mode of", &dir))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("creating", &dir)(e)),
            }
        }
        Err(io("creating a data dir in", &self.target)(std::io::ErrorKind::AlreadyExists.into()))
    }
}

/// The first component of a payload path (the user-visible symlink's name).
fn top_level(path: &str) -> Option<String> {
    match Path::new(path).components().next()? {
        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// Dirs inside the data dir are 0755, whatever the umask.
fn make_dirs_traversable(root: &Path, dir: &Path) -> Result<(), WriteError> {
    let mut current = dir;
    while current != root && current.starts_with(root) {
        std::fs::set_permissions(current, std::fs::Permissions::from_mode(0o755))
            .map_err(io("setting the mode of", current))?;
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    Ok(())
}

/// The relative paths of the files under `dir`.
fn files_under(dir: &Path) -> Result<BTreeSet<String>, WriteError> {
    let mut files = BTreeSet::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("listing", &current)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io("listing", &current))?;
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_paths_are_checked_as_upstream() {
        assert!(validate_path("a/b.txt").is_ok());
        for (path, reason) in [
            ("/etc/passwd", "must be relative path"),
            ("../x", "must not start with '..'"),
            ("a/../../x", "must not contain '..'"),
            ("", "must not be empty"),
        ] {
            let error = validate_path(path).expect_err(path).to_string();
            assert!(error.contains(reason), "{path}: {error}");
        }
    }
}
