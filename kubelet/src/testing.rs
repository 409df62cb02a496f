//! Test support (feature `testing`): a private containerd in a temp dir
//! with skiff's config, and small images built from busybox-static.
//!
//! Every [`TestContainerd`] holds a slot (an exclusive lock file under
//! /tmp) that gives it its own CNI bridge and /24 pod range, so tests in
//! parallel processes never share a network. Dropping it removes what
//! containerd and CNI leave on the host: sandboxes, the bridge, pod
//! cgroups, mounts, the directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::FlockOperation;

use crate::containerd::{Containerd, ContainerdConfig, supervisor};
use crate::images::{self, ImageBuilder};
use crate::runtime::Runtime;
use crate::runtime::cri::CriRuntime;

/// The workload image every test container runs: busybox-static with its applets.
pub const BUSYBOX_IMAGE: &str = "localhost/skiff-test/busybox:1.35";
/// Where Debian's busybox-static is installed.
pub const BUSYBOX: &str = "/usr/bin/busybox";
/// The applets linked in the busybox image.
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "ash", "sleep", "echo", "cat", "ls", "ps", "wget", "httpd", "hostname", "ip", "ifconfig", "env", "id",
    "true", "false", "mkdir", "nc", "top", "uname", "date", "printf", "test", "kill", "tar", "touch", "rm", "grep",
    "head", "tail", "sed", "seq", "mount", "df", "du", "wc",
];
/// Where the slot lock files live (shared by every test process on the machine).
const SLOT_DIR: &str = "/tmp/skiff-test-slots";
/// How many slots (and so parallel test containerds) there are.
const SLOTS: u16 = 250;

/// The busybox test image's builder.
pub fn busybox_image() -> ImageBuilder {
    let mut builder = ImageBuilder::new(BUSYBOX_IMAGE).file(BUSYBOX, "bin/busybox");
    for applet in BUSYBOX_APPLETS {
        builder = builder.symlink(&format!("bin/{applet}"), "busybox");
    }
    for dir in ["tmp", "etc", "proc", "sys", "dev", "var/www"] {
        builder = builder.dir(dir);
    }
    builder.env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").cmd(["sh"])
}

/// Writes the busybox test image as an OCI layout tarball at `path`.
pub fn busybox_image_tar(path: impl AsRef<Path>) -> images::oci::Result<images::oci::BuiltImage> {
    busybox_image().write(path)
}

/// An exclusive slot: its number picks the bridge name and pod range.
#[derive(Debug)]
struct Slot {
    number: u16,
    _lock: File,
}

impl Slot {
    fn acquire() -> Slot {
        if let Err(err) = std::fs::create_dir_all(SLOT_DIR) {
            panic!("creating {SLOT_DIR}: {err}");
        }
        for number in 0..SLOTS {
            let path = Path::new(SLOT_DIR).join(format!("slot-{number}.lock"));
            let Ok(file) = File::options().create(true).truncate(false).write(true).open(&path) else { continue };
            if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                return Slot { number, _lock: file };
            }
        }
        panic!("all {SLOTS} test containerd slots in {SLOT_DIR} are taken");
    }
}

/// A private containerd for one test, through skiff's own supervisor.
#[derive(Debug)]
pub struct TestContainerd {
    containerd: Option<Containerd>,
    runtime: Arc<CriRuntime>,
    dir: PathBuf,
    /// Whether `dir` is ours to delete.
    owns_dir: bool,
    cidr: String,
    bridge: String,
    slot: Slot,
}

/// Whether the test should skip (tools missing outside CI); panics where it must not skip.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["containerd", "runc", "ctr"]
        .into_iter()
        .filter(|binary| supervisor::find_binary(Path::new(binary)).is_none())
        .chain([BUSYBOX, images::CATATONIT].into_iter().filter(|path| !Path::new(path).is_file()))
        .collect();
    if !missing.is_empty() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but {} missing (scripts/test installs them)", missing.join(", "));
        }
        eprintln!("skipping: {} not installed", missing.join(", "));
        return false;
    }
    if !rustix::process::geteuid().is_root() {
        panic!("tests on real containerd need root");
    }
    true
}

impl TestContainerd {
    /// Starts a containerd in a new temp dir, with the busybox image imported;
    /// `None` (after saying why) when containerd is not installed and `CI` is unset.
    pub async fn start() -> Option<TestContainerd> {
        if !tools_present() {
            return None;
        }
        let dir = match tempfile::Builder::new().prefix("skiff-containerd-").tempdir() {
            Ok(dir) => dir.keep(),
            Err(err) => panic!("creating a temp dir: {err}"),
        };
        Some(Self::start_with(dir, true).await)
    }

    /// Starts a containerd kept in `dir` (e.g. `<data-dir>/agent/containerd`), which the caller removes.
    pub async fn start_in(dir: impl Into<PathBuf>) -> Option<TestContainerd> {
        if !tools_present() {
            return None;
        }
        Some(Self::start_with(dir.into(), false).await)
    }

    async fn start_with(dir: PathBuf, owns_dir: bool) -> TestContainerd {
        let slot = Slot::acquire();
        let bridge = format!("skiff-t{}", slot.number);
        let cidr = format!("10.123.{}.0/24", slot.number);
        // A process that died holding this slot may have left its bridge.
        delete_bridge(&bridge);
        let config = ContainerdConfig::new(&dir).cluster_cidr(&cidr).bridge(&bridge);
        let containerd = match Containerd::start(config).await {
            Ok(containerd) => containerd,
            Err(err) => panic!("starting the test containerd in {}: {err}", dir.display()),
        };
        let timings = containerd.timings();
        eprintln!(
            "test containerd in {} ready in {} ms, pause image built and imported in {} ms",
            dir.display(),
            timings.ready.as_millis(),
            timings.pause_image.as_millis()
        );
        let runtime = containerd.runtime();
        let test = TestContainerd { containerd: Some(containerd), runtime, dir, owns_dir, cidr, bridge, slot };
        let tarball = test.dir.join("busybox.tar");
        if let Err(err) = busybox_image_tar(&tarball) {
            panic!("building the busybox image: {err}");
        }
        if let Err(err) = images::import(test.socket(), &tarball).await {
            panic!("importing the busybox image: {err}");
        }
        let _ = std::fs::remove_file(&tarball);
        test
    }

    /// The CRI runtime on this containerd.
    pub fn runtime(&self) -> Arc<CriRuntime> {
        Arc::clone(&self.runtime)
    }

    /// The containerd (its pid, restarts, config).
    pub fn containerd(&self) -> &Containerd {
        match &self.containerd {
            Some(containerd) => containerd,
            None => unreachable!("the containerd is only taken in drop"),
        }
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> &Path {
        self.containerd().socket()
    }

    /// The pod range of this containerd's bridge (a /24 of its own).
    pub fn cidr(&self) -> &str {
        &self.cidr
    }

    /// The CNI bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// containerd's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup (cgroupfs driver) pod cgroups of this test go under; removed on drop.
    pub fn cgroup_root(&self) -> String {
        format!("/skiff-test-{}", self.slot.number)
    }

    /// A sandbox's `linux.cgroup_parent` for the pod `uid`, under [`Self::cgroup_root`].
    pub fn cgroup_parent(&self, uid: &str) -> String {
        format!("{}/pod{uid}", self.cgroup_root())
    }

    /// The last lines of containerd's log.
    pub fn log_tail(&self) -> String {
        supervisor::tail(&self.containerd().config().log_file)
    }
}

impl Drop for TestContainerd {
    fn drop(&mut self) {
        let socket = self.socket().to_path_buf();
        // The test's runtime may be the one blocked here: clean up on a thread with its own.
        let parents = std::thread::spawn(move || remove_sandboxes(&socket)).join().unwrap_or_default();
        let socket = self.socket().to_path_buf();
        drop(self.containerd.take());
        kill_shims(&socket);
        delete_bridge(&self.bridge);
        let mut cgroups = vec![self.cgroup_root()];
        cgroups.extend(parents);
        for cgroup in &cgroups {
            remove_cgroup(cgroup);
        }
        unmount_under(&self.dir);
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Stops and removes every sandbox; returns their cgroup parents.
fn remove_sandboxes(socket: &Path) -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let cri = CriRuntime::connect(socket);
        let mut parents = Vec::new();
        let Ok(Ok(sandboxes)) = tokio::time::timeout(Duration::from_secs(5), cri.list_pod_sandboxes(None)).await else {
            return parents;
        };
        for sandbox in sandboxes {
            if let Ok(Some(info)) = cri.pod_sandbox_info(&sandbox.id).await
                && let Some(parent) = cgroup_parent_of(&info)
            {
                parents.push(parent);
            }
            if let Err(err) = cri.stop_pod_sandbox(&sandbox.id).await {
                eprintln!("test containerd cleanup: stopping sandbox {}: {err}", sandbox.id);
            }
            if let Err(err) = cri.remove_pod_sandbox(&sandbox.id).await {
                eprintln!("test containerd cleanup: removing sandbox {}: {err}", sandbox.id);
            }
        }
        parents
    })
}

/// `config.linux.cgroup_parent` from containerd's verbose sandbox info.
fn cgroup_parent_of(info: &std::collections::HashMap<String, String>) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    let parent = json.pointer("/config/linux/cgroup_parent")?.as_str()?;
    (!parent.is_empty() && parent.starts_with('/')).then(|| parent.to_owned())
}

/// Ends the shims of the containerd on `socket` that outlived it (their
/// command line names the socket).
fn kill_shims(socket: &Path) {
    let socket = socket.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
        let is_shim = args.first().is_some_and(|arg0| arg0.ends_with(b"containerd-shim-runc-v2"));
        if is_shim && args.windows(2).any(|pair| pair[0] == b"-address" && pair[1] == socket.as_bytes()) {
            supervisor::terminate_blocking(pid, Duration::from_secs(2));
        }
    }
}

/// Deletes a network link (the CNI bridge); a missing one is fine.
fn delete_bridge(name: &str) {
    if Path::new("/sys/class/net").join(name).exists() {
        let _ = std::process::Command::new("ip").args(["link", "delete", name]).status();
    }
}

/// Removes `cgroup` and everything below it in every cgroup hierarchy (cgroupfs leaves pod parents).
fn remove_cgroup(cgroup: &str) {
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
fn unmount_under(dir: &Path) {
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
