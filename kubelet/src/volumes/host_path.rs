//! hostPath: a path on the node, checked (or made) by its type as upstream's
//! hostPath plugin does, with upstream's error messages. fsGroup does not apply.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use k8s_openapi::api::core::v1::HostPathVolumeSource;

/// Checks (or creates) `source.path` by `source.type`.
pub fn setup(source: &HostPathVolumeSource) -> Result<(), String> {
    let path = Path::new(&source.path);
    let kind = source.type_.as_deref().unwrap_or_default();
    let meta = std::fs::metadata(path).ok();
    let failed = |what: &str| Err(format!("hostPath type check failed: {} is not {what}", source.path));
    let file_type = meta.as_ref().map(std::fs::Metadata::file_type);
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match file_type {
            None => make_dir(path),
            Some(t) if t.is_dir() => Ok(()),
            Some(_) => failed("a directory"),
        },
        "Directory" => match file_type {
            Some(t) if t.is_dir() => Ok(()),
            _ => failed("a directory"),
        },
        "FileOrCreate" => match file_type {
            None => make_file(path),
            Some(t) if t.is_file() => Ok(()),
            Some(_) => failed("a file"),
        },
        "File" => match file_type {
            Some(t) if t.is_file() => Ok(()),
            _ => failed("a file"),
        },
        "Socket" => match file_type {
            Some(t) if t.is_socket() => Ok(()),
            _ => failed("a socket file"),
        },
        "CharDevice" => match file_type {
            Some(t) if t.is_char_device() => Ok(()),
            _ => failed("a character device"),
        },
        "BlockDevice" => match file_type {
            Some(t) if t.is_block_device() => Ok(()),
            _ => failed("a block device"),
        },
        other => Err(format!("{other} is an invalid volume type")),
    }
}

/// DirectoryOrCreate: the dir and its parents, 0755.
fn make_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| format!("mkdir {}: {e}", path.display()))
}

/// FileOrCreate: an empty file, 0644; its parent dir must exist (as upstream).
fn make_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .open(path)
        .map(drop)
        .map_err(|e| format!("open {}: {e}", path.display()))
}
