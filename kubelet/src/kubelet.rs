//! One kubelet: the node (registration, status, lease) and the pod
//! workers, run together until shutdown.

use std::future::Future;
use std::sync::Arc;

use crate::config::KubeletConfig;
use crate::node::NodeAgent;
use crate::pod::PodManager;
use crate::volumes::VolumeManager;

/// A kubelet for one node.
pub struct Kubelet {
    client: kube::Client,
    config: Arc<KubeletConfig>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").field("node", &self.config.node_name).finish_non_exhaustive()
    }
}

impl Kubelet {
    /// A kubelet that talks to the API with `client`.
    pub fn new(client: kube::Client, config: KubeletConfig) -> Self {
        Self { client, config: Arc::new(config) }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &KubeletConfig {
        &self.config
    }

    /// Registers the node and runs its pods until `shutdown` completes. The
    /// containers keep running: a kubelet started again adopts them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let node = NodeAgent::new(self.client.clone(), (*self.config).clone());
        let volumes = VolumeManager::new(self.client.clone(), self.config.root_dir.join("pods"));
        let pods = PodManager::new(self.client.clone(), Arc::clone(&self.config), volumes);
        let node = tokio::spawn(node.run(until_stopped()));
        let pods = tokio::spawn(pods.run(until_stopped()));
        shutdown.await;
        let _ = stop.send(true);
        if let Ok(Err(error)) = pods.await {
            tracing::warn!(%error, "the pod manager stopped");
        }
        let _ = node.await;
    }
}
