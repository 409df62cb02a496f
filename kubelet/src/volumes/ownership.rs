//! fsGroup: the pod's supplemental group owns a volume's files, as
//! upstream's SetVolumeOwnership (pkg/volume/volume_linux.go): every file
//! and dir gets group `fsGroup` and group read (and write unless the volume
//! is read-only) permission; dirs also get setgid and group/owner execute,
//! so files made later inherit the group. Symlinks are re-owned, not chmod-ed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const RW_MASK: u32 = 0o660;
const RO_MASK: u32 = 0o440;
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// Why ownership could not be changed.
#[derive(Debug, thiserror::Error)]
#[error("changing the ownership of {path} to fsGroup {group}: {source}")]
pub struct OwnershipError {
    path: PathBuf,
    group: u32,
    #[source]
    source: std::io::Error,
}

/// Gives everything under `dir` (and `dir` itself) to `fs_group`.
pub fn set_volume_ownership(dir: &Path, fs_group: u32, read_only: bool) -> Result<(), OwnershipError> {
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| OwnershipError { path, group: fs_group, source }
    };
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(error(&path))?;
        std::os::unix::fs::lchown(&path, None, Some(fs_group)).map_err(error(&path))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mut mask = if read_only { RO_MASK } else { RW_MASK };
        if meta.is_dir() {
            mask |= SETGID | EXEC_MASK;
            for entry in std::fs::read_dir(&path).map_err(error(&path))? {
                pending.push(entry.map_err(error(&path))?.path());
            }
        }
        let mode = meta.permissions().mode() & 0o7777;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | mask)).map_err(error(&path))?;
    }
    Ok(())
}
