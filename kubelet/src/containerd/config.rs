//! What skiff's containerd is told: where it keeps its state, where its
//! socket is, the pod network and the pause image; rendered as
//! containerd's config.toml (version 2).

use std::path::{Path, PathBuf};

use crate::images::PAUSE_IMAGE;

/// The settings of a containerd skiff starts; `new` gives the defaults.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// containerd's own directory (`<agent>/containerd`): config, root, state, CNI files.
    pub dir: PathBuf,
    /// The gRPC socket (default `<dir>/containerd.sock`).
    pub socket: PathBuf,
    /// The node's pod range, handed out by host-local IPAM (default 10.42.0.0/16).
    pub cluster_cidr: String,
    /// The CNI bridge's name (default `skiff0`; at most 15 characters).
    pub bridge: String,
    /// The CNI network's name (default `skiff`).
    pub network_name: String,
    /// Where the CNI plugins are (default Debian's /usr/lib/cni).
    pub cni_bin_dir: PathBuf,
    /// The sandbox image (default [`PAUSE_IMAGE`]).
    pub pause_image: String,
    /// The static catatonit the pause image is built from.
    pub catatonit: PathBuf,
    /// Where containerd's stderr goes (default `<dir>/containerd.log`).
    pub log_file: PathBuf,
    /// containerd's `--log-level` (default `info`).
    pub log_level: String,
    /// The containerd binary (default `containerd`, looked up in PATH).
    pub binary: PathBuf,
}

impl ContainerdConfig {
    /// The defaults for a containerd kept in `dir` (`<data-dir>/agent/containerd`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            socket: dir.join("containerd.sock"),
            log_file: dir.join("containerd.log"),
            dir,
            cluster_cidr: "10.42.0.0/16".into(),
            bridge: "skiff0".into(),
            network_name: "skiff".into(),
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
            pause_image: PAUSE_IMAGE.into(),
            catatonit: PathBuf::from(crate::images::CATATONIT),
            log_level: "info".into(),
            binary: PathBuf::from("containerd"),
        }
    }

    /// The pod range.
    pub fn cluster_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.cluster_cidr = cidr.into();
        self
    }

    /// The CNI bridge's name.
    pub fn bridge(mut self, name: impl Into<String>) -> Self {
        self.bridge = name.into();
        self
    }

    /// The containerd binary.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    /// The config file containerd is started with.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// The CNI configuration directory.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("cni").join("net.d")
    }

    /// Where host-local keeps its leases.
    pub fn ipam_dir(&self) -> PathBuf {
        self.dir.join("cni").join("ipam")
    }

    /// containerd's state dir (sockets of shims, netns files under the CRI plugin's part).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// containerd's root dir (content, snapshots, metadata).
    pub fn root_dir(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// config.toml, version 2.
    pub fn render(&self) -> String {
        let systemd_cgroup = host_uses_systemd();
        let path = |p: &Path| toml_string(&p.display().to_string());
        format!(
            r#"# Written by skiff at every start; edits are lost.
version = 2
root = {root}
state = {state}

[grpc]
  address = {socket}

[ttrpc]
  address = {ttrpc}

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = {opt}

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = {pause}
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    netns_mounts_under_state_dir = true
    max_container_log_line_size = 16384
    # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which root lacks on some
    # hosts (RunPodSandbox then fails in runc): clamp scores at containerd's own.
    restrict_oom_score_adj = true

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = {systemd_cgroup}

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = {cni_bin}
      conf_dir = {cni_conf}
      max_conf_num = 1
"#,
            root = path(&self.root_dir()),
            state = path(&self.state_dir()),
            socket = path(&self.socket),
            ttrpc = toml_string(&format!("{}.ttrpc", self.socket.display())),
            opt = path(&self.dir.join("opt")),
            pause = toml_string(&self.pause_image),
            cni_bin = path(&self.cni_bin_dir),
            cni_conf = path(&self.cni_conf_dir()),
        )
    }
}

/// The systemd cgroup driver only fits when systemd is PID 1; otherwise cgroupfs.
pub fn host_uses_systemd() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|comm| comm.trim() == "systemd")
}

/// A TOML basic string (JSON's escaping is a subset TOML accepts).
fn toml_string(value: &str) -> String {
    serde_json::Value::String(value.into()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_toml_has_own_dirs_and_restricts_oom_score_adj() {
        let config = ContainerdConfig::new("/data/agent/containerd");
        let toml = config.render();
        assert!(toml.contains(r#"address = "/data/agent/containerd/containerd.sock""#));
        assert!(toml.contains(r#"root = "/data/agent/containerd/root""#));
        assert!(toml.contains("restrict_oom_score_adj = true"));
        assert!(toml.contains(r#"sandbox_image = "localhost/skiff/pause:catatonit""#));
        assert!(toml.contains(r#"conf_dir = "/data/agent/containerd/cni/net.d""#));
        assert!(toml.contains(r#"stream_server_port = "0""#));
    }
}
