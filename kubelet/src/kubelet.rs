//! One kubelet: the node, the pod workers, the server and the image
//! importer, run together until shutdown.

use crate::config::KubeletConfig;

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

impl Kubelet {
    /// A kubelet that talks to the API with `client`.
    pub fn new(client: kube::Client, config: KubeletConfig) -> Self {
        Self { client, config }
    }
}
