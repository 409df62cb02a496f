//! What one kubelet is told: its node, its directories, its runtime and
//! the cluster facts pods need (DNS, domain).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::runtime::Runtime;

/// The cgroup pods' cgroups go under unless configured otherwise.
pub const DEFAULT_CGROUP_ROOT: &str = "/skiff";

/// The kubelet's configuration; `Default` gives upstream's defaults where it has them.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// The Node's name (`--node-name`; default the host name).
    pub node_name: String,
    /// The address pods and the API server reach this node at (InternalIP, hostIP).
    pub node_ip: IpAddr,
    /// Extra labels on the Node (`--node-label key=value`).
    pub node_labels: Vec<(String, String)>,
    /// Taints registered with the Node (`--node-taint key=value:Effect`).
    pub node_taints: Vec<k8s_openapi::api::core::v1::Taint>,
    /// The agent's state: `<data-dir>/agent` (pods' volumes under `pods/`, logs under `logs/`, images under `images/`).
    pub root_dir: PathBuf,
    /// The cluster DNS server pods with dnsPolicy ClusterFirst use (none: the host's resolv.conf).
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// The pod network (`--cluster-cidr`), reported as the Node's podCIDR.
    pub pod_cidr: Option<String>,
    /// The port of the kubelet's HTTPS server (10250; 0 picks a free one).
    pub server_port: u16,
    /// The CA (PEM) that client certificates of callers of the kubelet's server must chain to (the API server's).
    pub client_ca: Option<String>,
    /// The kubelet server's serving certificate and key (PEM); self-signed when `None`.
    pub serving_cert: Option<(String, String)>,
    /// The container runtime.
    pub runtime: Arc<dyn Runtime>,
    /// The pause (sandbox) image the runtime was configured with, for the node's image list.
    pub pod_infra_image: String,
    /// The most pods the node takes (110).
    pub max_pods: u32,
    /// The hard eviction thresholds the node's pressure conditions and allocatable follow (`--eviction-hard`).
    pub eviction_hard: crate::node::status::EvictionThresholds,
    /// The cgroup (cgroupfs driver) pods' cgroups go under: `<cgroup_root>/pod<uid>` (`/skiff`).
    pub cgroup_root: String,
}

impl KubeletConfig {
    /// A configuration for `node_name` on `runtime`, rooted at `root_dir`, with upstream's defaults.
    pub fn new(node_name: impl Into<String>, root_dir: impl Into<PathBuf>, runtime: Arc<dyn Runtime>) -> Self {
        Self {
            node_name: node_name.into(),
            node_ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            node_labels: Vec::new(),
            node_taints: Vec::new(),
            root_dir: root_dir.into(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            pod_cidr: None,
            server_port: 10250,
            client_ca: None,
            serving_cert: None,
            runtime,
            pod_infra_image: crate::images::PAUSE_IMAGE.into(),
            max_pods: 110,
            cgroup_root: DEFAULT_CGROUP_ROOT.into(),
            eviction_hard: Default::default(),
        }
    }

    /// Where a pod's volumes and files live: `<root>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }

    /// Where a pod's container logs live: `<root>/logs/<namespace>_<name>_<uid>` (the CRI log directory).
    pub fn pod_log_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.root_dir.join("logs").join(format!("{namespace}_{name}_{uid}"))
    }
}
