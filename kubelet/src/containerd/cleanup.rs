//! What containerd and CNI leave on the host, and how to remove it: pod
//! cgroup parents (the cgroupfs driver), the CNI bridge, shims that
//! outlived their containerd, and mounts under a state dir.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Ends the shims of the containerd on `socket` that outlived it (their
/// command line names the socket); returns how many there were.
pub fn kill_shims(socket: &Path) -> usize {
    let socket = socket.to_string_lossy().into_owned();
    let mut killed = 0;
    let Ok(procs) = std::fs::read_dir("/proc") else { return 0 };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
        let is_shim = args.first().is_some_and(|arg0| arg0.ends_with(b"containerd-shim-runc-v2"));
        if is_shim && args.windows(2).any(|pair| pair[0] == b"-address" && pair[1] == socket.as_bytes()) {
            super::supervisor::terminate_blocking(pid, Duration::from_secs(2));
            killed += 1;
        }
    }
    killed
}

/// Deletes a network link (the CNI bridge) with `ip`; a missing one is fine. Whether it was deleted.
pub fn delete_link(name: &str) -> bool {
    if name.is_empty() || !Path::new("/sys/class/net").join(name).exists() {
        return false;
    }
    std::process::Command::new("ip").args(["link", "delete", name]).status().is_ok_and(|status| status.success())
}

/// `cgroup`'s directory in every cgroup hierarchy that has it (v2 root, each v1 controller, `unified`, `systemd`).
fn cgroup_dirs(cgroup: &str) -> Vec<PathBuf> {
    let relative = cgroup.trim_start_matches('/');
    if relative.is_empty() {
        return Vec::new();
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()));
    }
    roots.into_iter().map(|root| root.join(relative)).filter(|dir| dir.is_dir()).collect()
}

/// Removes `cgroup` and everything below it in every cgroup hierarchy (cgroupfs leaves pod parents);
/// returns how many directories were removed.
pub fn remove_cgroup(cgroup: &str) -> usize {
    cgroup_dirs(cgroup).iter().map(|dir| rmdir_tree(dir)).sum()
}

/// Removes `cgroup` in every hierarchy where it has no children left; returns how many went.
pub fn remove_empty_cgroup(cgroup: &str) -> usize {
    cgroup_dirs(cgroup).iter().filter(|dir| std::fs::remove_dir(dir).is_ok()).count()
}

/// SIGKILLs every process in `cgroup` and below (in any hierarchy), waiting up to 2 s for them to
/// go; returns how many there were. For containers whose shim is gone.
pub fn kill_cgroup_processes(cgroup: &str) -> usize {
    let dirs = cgroup_dirs(cgroup);
    let mut pids = std::collections::BTreeSet::new();
    for dir in &dirs {
        collect_procs(dir, &mut pids);
    }
    for pid in &pids {
        if let Some(pid) = i32::try_from(*pid).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|pid| super::supervisor::alive(*pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    pids.len()
}

fn collect_procs(dir: &Path, pids: &mut std::collections::BTreeSet<u32>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(procs.lines().filter_map(|line| line.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                collect_procs(&entry.path(), pids);
            }
        }
    }
}

/// rmdir depth first (cgroup dirs hold only virtual files, which rmdir takes along); how many went.
fn rmdir_tree(dir: &Path) -> usize {
    let mut removed = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                removed += rmdir_tree(&entry.path());
            }
        }
    }
    removed + usize::from(std::fs::remove_dir(dir).is_ok())
}

/// Unmounts (lazily) everything mounted under `dir`, deepest first (shm, netns, rootfs, tmpfs
/// volumes); returns how many mounts there were.
pub fn unmount_under(dir: &Path) -> usize {
    let mut points = mounts_under(dir);
    points.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    points.iter().filter(|point| rustix::mount::unmount(*point, rustix::mount::UnmountFlags::DETACH).is_ok()).count()
}

/// The mount points under `dir` (also for checks after a cleanup).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect()
}
