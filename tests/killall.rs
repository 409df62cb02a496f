//! `skiff killall`: after the server stopped (its pods keep running),
//! killall leaves no containers, shims, mounts, bridge or pod cgroups.
//! Needs root, containerd and runc (see `require_node`).

mod common;

use std::path::Path;
use std::time::Duration;

use common::node::{NodeServer, require_node};
use skiff_kubelet::containerd::cleanup::mounts_under;

const IMAGE: &str = skiff_kubelet::testing::BUSYBOX_IMAGE;

/// Processes whose command line names `needle`, or whose cgroup path does.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == std::process::id().to_string() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        if cmdline.contains(needle) || cgroup.contains(needle) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// The pod's cgroup dirs, in every hierarchy.
fn pod_cgroups(uid: &str) -> Vec<String> {
    let mut roots = vec![Path::new("/sys/fs/cgroup").to_path_buf()];
    roots.extend(std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path()));
    roots
        .into_iter()
        .map(|root| root.join("skiff").join(format!("pod{uid}")))
        .filter(|dir| dir.is_dir())
        .map(|dir| dir.display().to_string())
        .collect()
}

// The toleration: build machines with little free disk report DiskPressure, which is not what this tests.
#[test]
fn killall_after_the_server_stopped_leaves_no_containers_mounts_bridge_or_cgroups() {
    if !require_node() {
        return;
    }
    let mut node = NodeServer::start(&[]);
    node.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sleeper\nspec:\n  terminationGracePeriodSeconds: 1\n  tolerations: [{{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}}]\n  containers:\n  - name: sleep\n    image: {IMAGE}\n    command: [sleep, '3600']\n    volumeMounts:\n    - {{name: scratch, mountPath: /scratch}}\n  volumes:\n  - name: scratch\n    emptyDir: {{medium: Memory}}\n"
    ));
    node.wait_phase("sleeper", "Running", Duration::from_secs(60));
    let uid = node.get("pod/sleeper", "{.metadata.uid}");
    assert!(!uid.is_empty());
    let data_dir = node.data_dir().to_path_buf();
    let socket = data_dir.join("agent/containerd/containerd.sock").display().to_string();
    let bridge = Path::new("/sys/class/net").join(node.bridge());

    // The server's own stop keeps the pod running; killall is what removes it.
    let pod_cgroup = format!("pod{uid}");
    node.stop();
    assert!(!processes_with(&pod_cgroup).is_empty(), "the pod's processes run on after the server stopped");
    assert!(!processes_with(&socket).is_empty(), "its shim runs on after the server stopped");
    let volume = data_dir.join("agent/pods").join(&uid);
    assert!(mounts_under(&volume).iter().any(|m| m.ends_with("scratch")), "{:?}", mounts_under(&data_dir));
    assert!(bridge.exists(), "the bridge stays after the server stopped");
    assert!(!pod_cgroups(&uid).is_empty(), "the pod's cgroups stay after the server stopped");
    let stopped = node.stop_and_killall();

    assert!(stopped.contains("stopped and removed 1 pod sandbox"), "{stopped}");
    assert!(stopped.contains("containerd started again"), "the server stopped its containerd: {stopped}");
    assert_eq!(processes_with(&socket), Vec::<String>::new(), "shims of this node are left:\n{stopped}");
    assert_eq!(processes_with(&pod_cgroup), Vec::<String>::new(), "pod processes are left:\n{stopped}");
    assert_eq!(processes_with(&data_dir.display().to_string()), Vec::<String>::new(), "{stopped}");
    assert_eq!(mounts_under(&data_dir), Vec::<std::path::PathBuf>::new(), "{stopped}");
    assert!(!bridge.exists(), "the bridge is left:\n{stopped}");
    assert_eq!(pod_cgroups(&uid), Vec::<String>::new(), "{stopped}");
}
