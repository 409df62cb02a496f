//! What containerd and CNI leave on the host, and how to remove it: pod
//! cgroup parents (the cgroupfs driver), the CNI bridge, shims that
//! outlived their containerd, and mounts under a state dir.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Ends the shims of the containerd on `socket` that outlived it (their
/// command line names the socket).
pub fn kill_shims(socket: &Path) {
    let socket = socket.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
        let is_shim = args.first().is_some_and(|arg0| arg0.ends_with(b"containerd-shim-runc-v2"));
        if is_shim && args.windows(2).any(|pair| pair[0] == b"-address" && pair[1] == socket.as_bytes()) {
            super::supervisor::terminate_blocking(pid, Duration::from_secs(2));
        }
    }
}

/// Deletes a network link (the CNI bridge) with `ip`; a missing one is fine.
pub fn delete_link(name: &str) {
    if Path::new("/sys/class/net").join(name).exists() {
        let _ = std::process::Command::new("ip").args(["link", "delete", name]).status();
    }
}

/// Removes `cgroup` and everything below it in every cgroup hierarchy (cgroupfs leaves pod parents).
pub fn remove_cgroup(cgroup: &str) {
    let relative = cgroup.trim_start_matches('/');
    if relative.is_empty() {
        return;
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()));
    }
    for root in roots {
        let dir = root.join(relative);
        if dir.is_dir() {
            rmdir_tree(&dir);
        }
    }
}

/// rmdir depth first (cgroup dirs hold only virtual files, which rmdir takes along).
fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                rmdir_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Unmounts (lazily) everything mounted under `dir`, deepest first (shm, netns, rootfs).
pub fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    for point in points {
        let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
    }
}
