//! emptyDir: a dir under the pod's volumes dir, 0777 as upstream; medium
//! Memory mounts a tmpfs there, sized by sizeLimit capped at the node's memory.
//! A sizeLimit on disk is enforced by upstream's eviction manager, not at
//! setup; skiff has no eviction yet, so it is not enforced.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::api::core::v1::EmptyDirVolumeSource;

use super::{ownership, quantity, tmpfs};

/// Makes the emptyDir at `dir` ready; `fs_group` is applied when it is made.
pub fn setup(dir: &Path, source: &EmptyDirVolumeSource, fs_group: Option<u32>) -> Result<(), String> {
    let memory = source.medium.as_deref() == Some("Memory");
    let exists = dir.is_dir();
    if exists && (!memory || tmpfs::is_mount_point(dir)) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    if memory {
        let limit =
            source.size_limit.as_ref().and_then(|q| skiff_quantity::to_f64(&q.0)).map(|bytes| bytes.ceil() as u64);
        let size = match (limit, quantity::node_memory()) {
            (Some(limit), Some(node)) => Some(limit.min(node)),
            (limit, node) => limit.or(node),
        };
        tmpfs::mount(dir, size).map_err(|e| e.to_string())?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    if let Some(group) = fs_group {
        ownership::set_volume_ownership(dir, group, false).map_err(|e| e.to_string())?;
    }
    Ok(())
}
