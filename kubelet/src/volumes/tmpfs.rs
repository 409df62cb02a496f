//! tmpfs mounts for memory-backed volumes (emptyDir medium Memory, secrets,
//! projected and downwardAPI volumes), with rustix's safe mount API.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// Why a tmpfs could not be mounted or unmounted.
#[derive(Debug, thiserror::Error)]
pub enum TmpfsError {
    #[error("mount failed: mount -t tmpfs -o {options} tmpfs {path}: {source}")]
    Mount { path: String, options: String, source: std::io::Error },
    #[error("unmount failed: {path}: {source}")]
    Unmount { path: String, source: std::io::Error },
}

/// Whether `path` is a mount point: its device differs from its parent's
/// (upstream's IsLikelyNotMountPoint).
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(meta), Some(parent)) = (std::fs::symlink_metadata(path), path.parent()) else { return false };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != meta.dev())
}

/// Mounts a tmpfs on the existing dir `path` unless one is there; `size` in bytes (`None`: the kernel's default).
pub fn mount(path: &Path, size: Option<u64>) -> Result<(), TmpfsError> {
    if is_mount_point(path) {
        return Ok(());
    }
    let options = match size {
        Some(bytes) => format!("mode=0777,size={bytes}"),
        None => "mode=0777".to_owned(),
    };
    let data = std::ffi::CString::new(options.clone()).unwrap_or_default();
    rustix::mount::mount("tmpfs", path, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, data.as_c_str())
        .map_err(|e| TmpfsError::Mount { path: path.display().to_string(), options, source: e.into() })
}

/// Unmounts what is mounted on `path` (nothing when it is not a mount point).
pub fn unmount(path: &Path) -> Result<(), TmpfsError> {
    if !is_mount_point(path) {
        return Ok(());
    }
    rustix::mount::unmount(path, UnmountFlags::empty())
        .or_else(|_| rustix::mount::unmount(path, UnmountFlags::DETACH))
        .map_err(|e| TmpfsError::Unmount { path: path.display().to_string(), source: e.into() })
}
