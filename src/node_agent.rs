//! The node agent as `skiff server` and `skiff agent` run it: containerd
//! (started and supervised, or an existing one), the images directory, and
//! a kubelet for this host's node.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use skiff_kubelet::containerd::{self, Containerd, ContainerdConfig};
use skiff_kubelet::images::watch::ImagesDir;
use skiff_kubelet::kubelet::RunningKubelet;
use skiff_kubelet::{Kubelet, KubeletConfig, Runtime};

use crate::cli::NodeArgs;

/// The TLS material of the kubelet's server: its serving certificate and
/// the CA that callers' (the API server's) client certificates chain to.
#[derive(Debug, Clone)]
pub struct KubeletTls {
    pub serving_cert: (String, String),
    pub client_ca: String,
}

/// A running node agent.
#[derive(Debug)]
pub struct NodeAgent {
    kubelet: RunningKubelet,
    images: tokio::task::JoinHandle<()>,
    containerd: Option<Containerd>,
}

/// The node's name: `--node-name`, else the host name.
pub fn node_name(args: &NodeArgs) -> String {
    args.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim().to_lowercase();
        if host.is_empty() { "skiff".into() } else { host }
    })
}

/// The node's address: `--node-ip`, else the first non-loopback IPv4 address, else loopback.
pub fn node_ip(args: &NodeArgs) -> IpAddr {
    args.node_ip.unwrap_or_else(|| crate::server::advertise_address(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
}

/// The CNI bridge for a pod range: `skiff0` for the default range, else a name derived from the range,
/// so that nodes with other ranges on one host (tests) never share a bridge.
fn bridge_name(args: &NodeArgs) -> String {
    if let Some(bridge) = &args.cni_bridge {
        return bridge.clone();
    }
    let cidr = args.cluster_cidr.to_string();
    if cidr == "10.42.0.0/16" {
        return "skiff0".into();
    }
    // FNV-1a: a short, stable name within the 15 characters Linux allows.
    let hash = cidr.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("skiff-{:08x}", hash as u32)
}

impl NodeAgent {
    /// Starts containerd (unless `--container-runtime-endpoint`), the images directory and a kubelet
    /// registering `extra_labels` besides `--node-label`s; the kubelet talks to the API with `client`.
    pub async fn start(
        args: &NodeArgs,
        data_dir: &Path,
        client: kube::Client,
        tls: KubeletTls,
        extra_labels: &[(&str, &str)],
    ) -> Result<Self> {
        let agent_dir = data_dir.join("agent");
        let (runtime, socket, containerd): (Arc<dyn Runtime>, PathBuf, Option<Containerd>) =
            match &args.container_runtime_endpoint {
                Some(endpoint) => {
                    let socket = PathBuf::from(endpoint.strip_prefix("unix://").unwrap_or(endpoint));
                    (containerd::connect_existing(&socket), socket, None)
                }
                None => {
                    let config = ContainerdConfig::new(agent_dir.join("containerd"))
                        .cluster_cidr(args.cluster_cidr.to_string())
                        .bridge(bridge_name(args));
                    let containerd = Containerd::start(config).await.context("starting containerd")?;
                    (containerd.runtime(), containerd.socket().to_owned(), Some(containerd))
                }
            };
        let images = ImagesDir::new(agent_dir.join("images"), &socket).spawn();

        let mut config = KubeletConfig::new(node_name(args), &agent_dir, runtime);
        config.node_ip = node_ip(args);
        for label in &args.node_labels {
            config.node_labels.push(skiff_kubelet::node::parse_label(label)?);
        }
        config.node_labels.extend(extra_labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        for taint in &args.node_taints {
            config.node_taints.push(skiff_kubelet::node::parse_taint(taint)?);
        }
        config.cluster_dns = args.cluster_dns.clone();
        config.cluster_domain = args.cluster_domain.clone();
        config.pod_cidr = Some(args.cluster_cidr.to_string());
        config.server_port = args.kubelet_port;
        if let Some(spec) = &args.eviction_hard {
            config.eviction_hard = skiff_kubelet::node::flags::parse_eviction_hard(spec)?;
        }
        config.client_ca = Some(tls.client_ca);
        config.serving_cert = Some(tls.serving_cert);
        let kubelet = Kubelet::new(client, config).start().await.context("starting the kubelet")?;
        Ok(Self { kubelet, images, containerd })
    }

    /// Stops the kubelet and containerd; the pods' containers keep running (as with k3s), and a
    /// node agent started again adopts them.
    pub async fn stop(self) {
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.kubelet.stop()).await.is_err() {
            tracing::warn!("the kubelet did not stop within 10 s");
        }
        self.images.abort();
        if let Some(containerd) = self.containerd {
            containerd.stop().await;
        }
    }
}
