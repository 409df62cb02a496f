//! The command line, with k3s's flag names where the meaning is the same.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "skiff", version, about = "A lightweight, embeddable, Kubernetes-compatible control plane")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cluster's server: the Kubernetes API over HTTPS.
    Server(ServerArgs),
    /// Run only the scheduler, against any Kubernetes API server (skiff's or kube-apiserver).
    Scheduler(SchedulerArgs),
    /// Run only the controllers, against any Kubernetes API server (skiff's or kube-apiserver).
    ControllerManager(ControllerManagerArgs),
    /// Run a node agent (kubelet on containerd) that joins the cluster of a skiff server.
    Agent(AgentArgs),
    /// Import image tarballs into the node's containerd, or list its images.
    Images(ImagesArgs),
    /// Stop everything the node ran: pods, containerd, shims, the CNI bridge, pod cgroups, mounts.
    Killall(KillallArgs),
}

#[derive(Debug, Args)]
pub struct KillallArgs {
    /// The data dir of the node (default as for `skiff server`).
    #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import image tarballs (OCI layout or `docker save`, optionally gzip/zstd) into the running node's containerd.
    Import {
        /// The data dir of the running `skiff server` (default as for `skiff server`).
        #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The tarballs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the images of the running node's containerd.
    Ls {
        /// The data dir of the running `skiff server` (default as for `skiff server`).
        #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The server to join, e.g. https://10.0.0.1:6443.
    #[arg(long, env = "SKIFF_URL")]
    pub server: String,

    /// The join token from the server's `<data-dir>/server/token`.
    #[arg(long, env = "SKIFF_TOKEN")]
    pub token: String,

    /// Where the agent keeps its state (default /var/lib/skiff as root, else ~/.local/share/skiff).
    #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(flatten)]
    pub node: NodeArgs,
}

/// The node agent's flags, shared by `skiff server` and `skiff agent` (k3s's names).
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// The node's name (default: the host name).
    #[arg(long, env = "SKIFF_NODE_NAME")]
    pub node_name: Option<String>,

    /// The node's address (default: the first non-loopback IPv4 address, else 127.0.0.1).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,

    /// A label to register the node with, `key=value` (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,

    /// A taint to register the node with, `key=value:Effect` (repeatable).
    #[arg(long = "node-taint", value_name = "KEY=VALUE:EFFECT")]
    pub node_taints: Vec<String>,

    /// The IPv4 range pod IPs come from.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: skiff_apiserver::services::ranges::Ipv4Cidr,

    /// The cluster DNS server pods with dnsPolicy ClusterFirst use (default: none, so pods use the host's resolv.conf).
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<IpAddr>,

    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,

    /// An existing containerd's CRI socket, e.g. unix:///run/containerd/containerd.sock (default: skiff starts its own).
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,

    /// The CNI bridge pods are attached to (default `skiff0`, or a name derived from a non-default --cluster-cidr).
    #[arg(long)]
    pub cni_bridge: Option<String>,

    /// Hard eviction thresholds, as the kubelet's flag (default memory.available<100Mi,nodefs.available<10%,
    /// nodefs.inodesFree<5%,imagefs.available<15%): below them the node reports pressure and is tainted.
    #[arg(long, value_name = "SIGNAL<VALUE,...")]
    pub eviction_hard: Option<String>,

    /// The port of the kubelet's HTTPS server (0 picks a free one).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
}

#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// The kubeconfig to reach the API server with (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The controllers to run, by kube-controller-manager's names (default: all), e.g. `replicaset,deployment`.
    #[arg(long, value_delimiter = ',')]
    pub controllers: Vec<String>,

    /// Run the controllers only while holding the kube-system/kube-controller-manager Lease.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The kubeconfig to reach the API server with (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// A KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1): profiles and their plugins.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where skiff keeps its state (default /var/lib/skiff as root, else ~/.local/share/skiff).
    #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// sqlite:///path/to/state.db (default: <data-dir>/server/db/state.db) or
    /// http://host:2379[,http://...] for an etcd cluster.
    #[arg(long, env = "SKIFF_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,

    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The HTTPS port (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub https_listen_port: u16,

    /// Where to write the admin kubeconfig (default <data-dir>/kubeconfig.yaml).
    #[arg(long, short = 'o', env = "SKIFF_KUBECONFIG_OUTPUT")]
    pub write_kubeconfig: Option<PathBuf>,

    /// A static token file (kube-apiserver's CSV format: token,user,uid,"group1,group2").
    #[arg(long)]
    pub token_file: Option<PathBuf>,

    /// The IPv4 range service cluster IPs come from; its first address is the `kubernetes` service's.
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: skiff_apiserver::services::ranges::Ipv4Cidr,

    /// The ports NodePort services may use.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: skiff_apiserver::services::ranges::PortRange,

    /// A KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1): profiles and their plugins.
    #[arg(long)]
    pub scheduler_config: Option<PathBuf>,

    /// Register this many simulated nodes, whose pods run without processes (for scale tests).
    #[arg(long, default_value_t = 0)]
    pub simulated_nodes: usize,

    /// A Node manifest (YAML) the simulated nodes copy labels, taints and capacity from.
    #[arg(long, requires = "simulated_nodes")]
    pub simulated_node_template: Option<PathBuf>,

    /// How long containers on simulated nodes take to start (`250ms`, `2s`).
    #[arg(long, requires = "simulated_nodes", default_value = "0s", value_parser = parse_duration)]
    pub simulated_pod_start_delay: std::time::Duration,

    /// Do not run the local node agent (kubelet).
    #[arg(long)]
    pub disable_agent: bool,

    #[command(flatten)]
    pub node: NodeArgs,

    /// Do not run the scheduler (pods stay Pending unless another scheduler binds them).
    #[arg(long)]
    pub disable_scheduler: bool,

    /// Do not run the controllers.
    #[arg(long)]
    pub disable_controller_manager: bool,
}

/// A non-negative duration written as Go and kubectl do (`250ms`, `2s`, `1m30s`).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let span: jiff::SignedDuration = text.parse().map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    std::time::Duration::try_from(span).map_err(|_| format!("invalid duration {text:?}: must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_kubectl_writes_them() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("-1s").expect_err("negative").contains("must not be negative"));
        assert!(parse_duration("soon").expect_err("not a duration").starts_with("invalid duration \"soon\""));
    }
}
