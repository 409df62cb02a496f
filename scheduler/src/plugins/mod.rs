//! kube-scheduler's plugins, one module each (a few single-field filters share one).

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_basics;
pub mod node_resources;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

use crate::framework::Plugin;

/// PodTopologySpread and InterPodAffinity with their default score weights, in upstream's order.
pub fn spreading_plugins() -> Vec<(Arc<dyn Plugin>, i64)> {
    vec![
        (Arc::new(pod_topology_spread::PodTopologySpread::with_system_defaults()), 2),
        (Arc::new(inter_pod_affinity::InterPodAffinity::default()), 2),
    ]
}
