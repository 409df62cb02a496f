//! A scheduling profile: the plugins a scheduler runs, in upstream's order,
//! with their score weights.

use std::sync::Arc;

use crate::framework::Plugin;
use crate::plugins::node_affinity::NodeAffinity;
use crate::plugins::node_basics::{NodeName, NodePorts, NodeUnschedulable};
use crate::plugins::node_resources::{NodeResourcesBalancedAllocation, NodeResourcesFit};
use crate::plugins::taint_toleration::TaintToleration;
use crate::plugins::volume_binding::VolumeBinding;

/// The scheduler name pods ask for by default.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// A plugin with its score weight (0: it does not score).
#[derive(Clone)]
pub struct Enabled {
    pub plugin: Arc<dyn Plugin>,
    pub weight: i64,
}

impl std::fmt::Debug for Enabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(weight {})", self.plugin.name(), self.weight)
    }
}

/// The plugins of one scheduler name.
#[derive(Debug, Clone)]
pub struct Profile {
    pub scheduler_name: String,
    /// Plugins taking part in filtering, in the order they run.
    pub filters: Vec<Arc<dyn Plugin>>,
    /// Plugins taking part in scoring, with their weights.
    pub scorers: Vec<Enabled>,
    /// Whether DefaultPreemption runs when no node fits.
    pub preemption: bool,
    /// Percentage of nodes to score (0: upstream's adaptive default).
    pub percentage_of_nodes_to_score: u32,
}

impl Profile {
    /// kube-scheduler's default profile (its multiPoint order and weights).
    pub fn default_profile() -> Self {
        let affinity: Arc<dyn Plugin> = Arc::new(NodeAffinity);
        let taints: Arc<dyn Plugin> = Arc::new(TaintToleration);
        let fit: Arc<dyn Plugin> = Arc::new(NodeResourcesFit::default());
        let mut filters: Vec<Arc<dyn Plugin>> = vec![
            Arc::new(NodeUnschedulable),
            Arc::new(NodeName),
            Arc::clone(&taints),
            Arc::clone(&affinity),
            Arc::new(NodePorts),
            Arc::clone(&fit),
            Arc::new(VolumeBinding),
        ];
        let mut scorers = vec![
            Enabled { plugin: taints, weight: 3 },
            Enabled { plugin: affinity, weight: 2 },
            Enabled { plugin: fit, weight: 1 },
        ];
        for (plugin, weight) in crate::plugins::spreading_plugins() {
            filters.push(Arc::clone(&plugin));
            scorers.push(Enabled { plugin, weight });
        }
        scorers.push(Enabled { plugin: Arc::new(NodeResourcesBalancedAllocation), weight: 1 });
        Self {
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_owned(),
            filters,
            scorers,
            preemption: true,
            percentage_of_nodes_to_score: 0,
        }
    }
}
