//! One kubelet: its HTTPS server, the node (registration, status, lease)
//! and the pod workers, run together until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{WatchStreamExt, reflector};

use crate::config::KubeletConfig;
use crate::node::NodeAgent;
use crate::pod::PodManager;
use crate::runtime::Runtime;
use crate::server::{self, KubeletServer, StatsProvider};
use crate::stats::{self, StatsContext};
use crate::volumes::VolumeManager;

/// Why a kubelet could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("listening on {address} for the kubelet's server: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("the kubelet server's TLS configuration: {0}")]
    Tls(#[from] server::TlsError),
}

/// A kubelet for one node.
pub struct Kubelet {
    client: kube::Client,
    config: KubeletConfig,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").field("node", &self.config.node_name).finish_non_exhaustive()
    }
}

/// `/stats/summary` and `/metrics/resource` from the runtime and the host.
struct NodeStats {
    runtime: Arc<dyn Runtime>,
    context: StatsContext,
}

#[async_trait::async_trait]
impl StatsProvider for NodeStats {
    async fn summary(&self) -> Result<serde_json::Value, String> {
        stats::summary(self.runtime.as_ref(), &self.context).await.map_err(|e| e.to_string())
    }

    async fn resource_metrics(&self) -> Result<String, String> {
        Ok(stats::resource_metrics(self.runtime.as_ref(), &self.context).await)
    }
}

/// A running kubelet, stopped with [`RunningKubelet::stop`].
#[derive(Debug)]
pub struct RunningKubelet {
    /// The port its server listens on (the Node's kubelet endpoint).
    pub port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningKubelet {
    /// Stops the server, the node's status updates and the pod workers; the containers keep running
    /// (a kubelet started again adopts them).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl Kubelet {
    /// A kubelet that talks to the API with `client`.
    pub fn new(client: kube::Client, config: KubeletConfig) -> Self {
        Self { client, config }
    }

    /// Binds its server (port 0 picks a free one, which the Node then reports), registers the node
    /// and runs its pods until stopped.
    pub async fn start(self) -> Result<RunningKubelet, KubeletError> {
        let mut config = self.config;
        let address = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), config.server_port);
        let listener =
            tokio::net::TcpListener::bind(address).await.map_err(|source| KubeletError::Listen { address, source })?;
        config.server_port = listener.local_addr().map_err(|source| KubeletError::Listen { address, source })?.port();
        let stats = NodeStats { runtime: Arc::clone(&config.runtime), context: StatsContext::new(config.clone()) };
        // The node's pods with their status, for the server's `/pods` and its container checks.
        let (pods_store, pods_writer) = reflector::store::<Pod>();
        let selector = format!("spec.nodeName={}", config.node_name);
        let pods_api: Api<Pod> = Api::all(self.client.clone());
        let pods_watch =
            reflector::reflector(pods_writer, watcher(pods_api, watcher::Config::default().fields(&selector)))
                .default_backoff()
                .for_each(|_| futures::future::ready(()));
        let known_pods: server::PodsProvider =
            Arc::new(move || pods_store.state().iter().map(|pod| Pod::clone(pod)).collect());
        let server_config = server::Config::from_kubelet(&config).stats(Arc::new(stats)).pods(known_pods);
        let server = KubeletServer::new(server_config)?;

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let config = Arc::new(config);
        let node = NodeAgent::new(self.client.clone(), (*config).clone());
        let volumes = VolumeManager::new(self.client.clone(), config.root_dir.join("pods"));
        let pods = PodManager::new(self.client.clone(), Arc::clone(&config), volumes);
        let pods = pods.run(until_stopped());
        let watch_until_stopped = until_stopped();
        let tasks = vec![
            tokio::spawn(async move {
                tokio::select! {
                    () = pods_watch => {}
                    () = watch_until_stopped => {}
                }
            }),
            tokio::spawn(server.serve(listener, until_stopped())),
            tokio::spawn(node.run(until_stopped())),
            tokio::spawn(async move {
                if let Err(error) = pods.await {
                    tracing::warn!(%error, "the pod manager stopped");
                }
            }),
        ];
        tracing::info!(node = config.node_name, port = config.server_port, "kubelet started");
        Ok(RunningKubelet { port: config.server_port, stop, tasks })
    }
}
