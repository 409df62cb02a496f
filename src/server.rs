//! `skiff server`: opens the datastore and serves the Kubernetes API over
//! HTTPS with the cluster's certificates, writing an admin kubeconfig and a
//! join token for agents; runs the scheduler, the controllers and the node
//! agent of its own node in the same process.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use skiff_apiserver::authn::{Authenticator, TokenFile};
use skiff_apiserver::join::JoinToken;
use skiff_apiserver::pki::Pki;
use skiff_apiserver::services::ServiceNetwork;
use skiff_apiserver::{ApiServer, serve};
use skiff_controllers::leader::{LeaderElection, Timings};
use skiff_kubelet::simulated;
use skiff_scheduler::Scheduler;
use skiff_scheduler::profile::Profile;
use skiff_store::Datastore;
use tokio::net::TcpListener;

use crate::cli::ServerArgs;
use crate::node_agent::{self, KubeletTls, NodeAgent};

/// The data directory: `--data-dir`, else /var/lib/skiff for root, else
/// ~/.local/share/skiff (as k3s does for rootless use).
pub fn data_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if root {
        return Ok(PathBuf::from("/var/lib/skiff"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/skiff"))
}

/// The names and addresses the serving certificate is valid for.
fn certificate_hosts(kubernetes_service_ip: &str) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(str::to_owned).into();
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        hosts.push(name.trim().to_owned());
    }
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        hosts.extend(interfaces.iter().map(|i| i.ip().to_string()));
    }
    // The in-cluster names of the API (the `kubernetes` service).
    for name in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        kubernetes_service_ip,
    ] {
        hosts.push(name.to_owned());
    }
    hosts.retain(|h| !h.is_empty());
    hosts.dedup();
    let mut unique = Vec::new();
    for host in hosts {
        if !unique.contains(&host) {
            unique.push(host);
        }
    }
    unique
}

/// This server's name in leader elections: the host name and an ID kept in
/// the data dir (stable across restarts, so a restarted server takes its
/// leases back at once).
fn identity(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("server").join("identity");
    let id = match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            write_private(&path, &id)?;
            id
        }
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    Ok(format!("{}_{id}", host.trim()))
}

/// Starts the scheduler and the controllers (each only while this server
/// holds its Lease, as kube-scheduler and kube-controller-manager do) and
/// the simulated nodes in this process, as clients of the API; they stop
/// when `stopping` fires (giving their leases up).
fn start_parts(
    args: &ServerArgs,
    data_dir: &Path,
    api: &ApiServer,
    identity: &str,
    root_ca: &str,
    stopping: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut parts = Vec::new();
    let stopped = |rx: &tokio::sync::watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    if !args.disable_scheduler {
        let profiles = match &args.scheduler_config {
            Some(path) => skiff_scheduler::config::load(path)?,
            None => vec![Profile::default_profile()],
        };
        let client = api.client();
        let election =
            LeaderElection::new(client.clone(), "kube-system", "kube-scheduler", identity, Timings::default());
        let shutdown = stopped(stopping);
        parts.push(tokio::spawn(async move {
            let work = || -> futures::future::BoxFuture<'static, ()> {
                Box::pin(Scheduler::new(client.clone(), profiles.clone()).run(std::future::pending()))
            };
            election.run(work, shutdown).await;
        }));
    }
    if !args.disable_controller_manager {
        let manager = skiff_controllers::ControllerManager::new(api.client())
            .with_leader_election(identity, Timings::default())
            .with_root_ca(root_ca);
        parts.push(tokio::spawn(manager.run(stopped(stopping))));
    }
    if args.simulated_nodes > 0 {
        let template = match &args.simulated_node_template {
            Some(path) => simulated::read_template(path)?,
            None => simulated::default_template(),
        };
        let nodes = simulated::SimulatedNodes::new(api.client(), "skiff-sim", args.simulated_nodes, template)
            .with_root_dir(data_dir.join("agent").join("simulated"))
            .with_start_delay(args.simulated_pod_start_delay);
        let shutdown = stopped(stopping);
        parts.push(tokio::spawn(async move {
            if let Err(error) = nodes.run(shutdown).await {
                tracing::error!(%error, "simulated nodes stopped");
            }
        }));
    }
    Ok(parts)
}

/// The node agent of the server's own node (labelled as k3s labels server nodes), reaching the API in-process.
async fn start_agent(args: &ServerArgs, data_dir: &Path, api: &ApiServer, pki: &Pki) -> Result<NodeAgent> {
    let name = node_agent::node_name(&args.node);
    let ip = node_agent::node_ip(&args.node);
    let hosts = [name.clone(), ip.to_string(), "127.0.0.1".into(), "localhost".into()];
    let serving_cert = pki.issue_serving(&format!("system:node:{name}"), Some("system:nodes"), &hosts)?;
    let tls = KubeletTls { serving_cert, client_ca: pki.ca_cert.clone() };
    let labels = [("node-role.kubernetes.io/control-plane", "true"), ("node-role.kubernetes.io/master", "true")];
    NodeAgent::start(&args.node, data_dir, api.client(), tls, &labels).await
}

/// The address the `kubernetes` service's endpoints name: the bind address,
/// or for a wildcard bind the first non-loopback IPv4 address (else loopback).
pub fn advertise_address(bind: IpAddr) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|interfaces| interfaces.iter().map(|i| i.ip()).find(|ip| ip.is_ipv4() && !ip.is_loopback()))
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

pub async fn run(args: ServerArgs) -> Result<()> {
    let data_dir = data_dir(args.data_dir.as_deref())?;
    let datastore = match &args.datastore_endpoint {
        Some(endpoint) => endpoint.parse::<Datastore>()?,
        None => Datastore::default_in(&data_dir),
    };
    let tokens = match &args.token_file {
        Some(path) => TokenFile::load(path)?,
        None => TokenFile::default(),
    };
    let store = skiff_store::open(&datastore).await?;
    let network = ServiceNetwork { cidr: args.service_cidr, node_ports: args.service_node_port_range };
    let api = ApiServer::start_with(Arc::clone(&store), network)
        .await
        .map_err(|e| anyhow::anyhow!("starting the API server: {}", e.message))?;
    let hosts = certificate_hosts(&network.cidr.nth(0).to_string());
    let pki = Pki::load_or_create(&data_dir.join("server").join("tls"), &hosts)?;
    let tls = serve::tls_config(&pki)?;
    // The proxy to kubelets (logs, exec, port-forward) authenticates as upstream's apiserver-kubelet-client.
    let (kubelet_cert, kubelet_key) = pki.issue_client("kube-apiserver-kubelet-client", Some("system:masters"))?;
    let api = api.with_kubelet_client(&kubelet_cert, &kubelet_key)?;
    api.use_service_account_key(skiff_apiserver::serviceaccount::SigningKey::load_or_create(&pki.dir)?);
    let authenticator = Arc::new(Authenticator { tokens, service_accounts: Some(api.service_account_authenticator()) });

    let address = SocketAddr::new(args.bind_address, args.https_listen_port);
    let listener = TcpListener::bind(address).await.with_context(|| format!("listening on {address}"))?;
    let port = listener.local_addr().context("reading the listening address")?.port();
    api.publish(advertise_address(args.bind_address), port)
        .await
        .map_err(|e| anyhow::anyhow!("publishing the kubernetes service's endpoints: {}", e.message))?;
    let url = format!("https://127.0.0.1:{port}");
    let kubeconfig = args.write_kubeconfig.clone().unwrap_or_else(|| data_dir.join("kubeconfig.yaml"));
    write_private(&kubeconfig, &pki.admin_kubeconfig(&url))?;

    let join_token = JoinToken::load_or_create(&data_dir.join("server"), &pki.ca_cert)?;
    let router = api.router().merge(skiff_apiserver::join::routes(pki.clone(), join_token));

    let (stop_parts, stopping) = tokio::sync::watch::channel(false);
    let parts = start_parts(&args, &data_dir, &api, &identity(&data_dir)?, &pki.ca_cert, &stopping)?;
    let agent = match args.disable_agent {
        true => None,
        false => Some(start_agent(&args, &data_dir, &api, &pki).await?),
    };

    let terminated = crate::termination()?;
    let closing = api.clone();
    let shutdown = async move {
        terminated.await;
        tracing::info!("shutting down");
        closing.close();
    };
    println!("skiff server: ready at {url} (datastore {datastore}; kubeconfig {})", kubeconfig.display());
    // The parts stop first, while the API still answers: they give their leases up.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_parts.send(true);
    };
    serve::serve(listener, router, tls, authenticator, shutdown).await;
    if let Some(agent) = agent {
        agent.stop().await;
    }
    for mut part in parts {
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut part).await.is_err() {
            part.abort();
        }
    }
    drop(api);
    // The last reference: dropping it flushes and closes the datastore.
    drop(store);
    Ok(())
}
