//! Test support (feature `testing`): a private containerd in a temp dir
//! with skiff's config, and small images built from busybox-static.
//!
//! Every [`TestContainerd`] holds a slot (an exclusive lock file under
//! /tmp) that gives it its own CNI bridge and /24 pod range, so tests in
//! parallel processes never share a network. Dropping it removes what
//! containerd and CNI leave on the host: sandboxes, the bridge, pod
//! cgroups, mounts, the directory.
//!
//! Use: `let Some(containerd) = TestContainerd::start().await else { return };`
//! then `containerd.runtime()` (an `Arc<CriRuntime>`) for a kubelet or raw
//! CRI calls, [`BUSYBOX_IMAGE`] as the image, and
//! `containerd.cgroup_parent(uid)` as each sandbox's `linux.cgroup_parent`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FlockOperation;

use crate::containerd::{Containerd, ContainerdConfig, cleanup, killall, supervisor};
use crate::images::{self, ImageBuilder};
use crate::runtime::api;
use crate::runtime::cri::CriRuntime;
use crate::runtime::labels;

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

/// Writes the busybox test image under another name (`registry/repo:tag`) at `path`.
pub fn busybox_image_tar_named(path: impl AsRef<Path>, name: &str) -> images::oci::Result<images::oci::BuiltImage> {
    let mut builder = ImageBuilder::new(name).file(BUSYBOX, "bin/busybox");
    for applet in BUSYBOX_APPLETS {
        builder = builder.symlink(&format!("bin/{applet}"), "busybox");
    }
    builder.dir("tmp").env("PATH=/bin").cmd(["sh"]).write(path)
}

/// A pod network of its own for one test's node (e.g. a `skiff server` with its agent): an exclusive
/// slot's bridge name and /24, the bridge deleted when dropped.
#[derive(Debug)]
pub struct NetworkSlot {
    slot: Slot,
}

impl NetworkSlot {
    /// Takes a free slot (shared with [`TestContainerd`]s across test processes).
    pub fn allocate() -> Self {
        let slot = Slot::acquire();
        cleanup::delete_link(&slot_bridge(slot.number));
        Self { slot }
    }

    /// The pod range (`10.123.N.0/24`).
    pub fn cidr(&self) -> String {
        slot_cidr(self.slot.number)
    }

    /// The CNI bridge's name.
    pub fn bridge(&self) -> String {
        slot_bridge(self.slot.number)
    }
}

impl Drop for NetworkSlot {
    fn drop(&mut self) {
        cleanup::delete_link(&self.bridge());
    }
}

fn slot_bridge(number: u16) -> String {
    format!("skiff-t{number}")
}

fn slot_cidr(number: u16) -> String {
    format!("10.123.{number}.0/24")
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

/// The config of a container `name` running `command` in [`BUSYBOX_IMAGE`], logging to `<name>/0.log`.
pub fn busybox_container_config(name: &str, command: &[&str]) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(api::ImageSpec { image: BUSYBOX_IMAGE.into(), ..Default::default() }),
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        log_path: format!("{name}/0.log"),
        labels: [(labels::CONTAINER_NAME.to_owned(), name.to_owned())].into(),
        linux: Some(api::LinuxContainerConfig {
            security_context: Some(api::LinuxContainerSecurityContext {
                namespace_options: Some(pod_namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod's namespaces as the kubelet asks for them by default: network and IPC of the pod, PID per container.
pub fn pod_namespaces() -> api::NamespaceOption {
    api::NamespaceOption {
        network: api::NamespaceMode::Pod as i32,
        pid: api::NamespaceMode::Container as i32,
        ipc: api::NamespaceMode::Pod as i32,
        ..Default::default()
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
        let bridge = slot_bridge(slot.number);
        let cidr = slot_cidr(slot.number);
        // A process that died holding this slot may have left its bridge and pod cgroups.
        cleanup::delete_link(&bridge);
        cleanup::remove_cgroup(&format!("/skiff-test-{}", slot.number));
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

    /// The config of a sandbox for the pod `name` (namespace `default`) with `uid`, logging to
    /// `log_dir`, its cgroup under [`Self::cgroup_root`].
    pub fn sandbox_config(&self, name: &str, uid: &str, log_dir: &Path) -> api::PodSandboxConfig {
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: log_dir.display().to_string(),
            labels: [
                (labels::POD_NAME.to_owned(), name.to_owned()),
                (labels::POD_NAMESPACE.to_owned(), "default".to_owned()),
                (labels::POD_UID.to_owned(), uid.to_owned()),
            ]
            .into(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent(uid),
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The last lines of containerd's log.
    pub fn log_tail(&self) -> String {
        supervisor::tail(&self.containerd().config().log_file)
    }
}

impl Drop for TestContainerd {
    /// Everything goes: sandboxes, containerd, shims, the bridge, the pod cgroups, mounts (and the dir if ours).
    fn drop(&mut self) {
        let scope = killall::Scope {
            containerd_dir: self.dir.clone(),
            cgroups: vec![self.cgroup_root()],
            unmount_under: vec![self.dir.clone()],
            remove_if_empty: Vec::new(),
        };
        let containerd = self.containerd.take();
        // The test's runtime may be the one blocked here: killall runs on a thread with its own.
        match std::thread::spawn(move || killall::killall(&scope, containerd)).join() {
            Ok(Ok(report)) => {
                for problem in &report.problems {
                    eprintln!("test containerd cleanup: {problem}");
                }
            }
            Ok(Err(err)) => eprintln!("test containerd cleanup: {err}"),
            Err(_) => eprintln!("test containerd cleanup panicked"),
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
