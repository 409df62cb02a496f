//! The scheduling framework in kube-scheduler's shape: plugins with
//! pre-filter, filter, pre-score, score and normalize steps over a snapshot,
//! and the per-cycle state they share.

pub mod budgets;
mod node_info;
pub mod owners;
pub mod resources;
pub mod selectors;
mod status;
mod volumes;

use std::any::Any;
use std::collections::HashMap;

pub use node_info::{AffinityTerm, HostPort, NodeInfo, PodInfo, Snapshot, WeightedAffinityTerm};
pub use owners::{OwnerSelector, Owners};
pub use status::{Code, Status};
pub use volumes::Volumes;

/// The highest score a plugin gives a node (before its weight).
pub const MAX_NODE_SCORE: i64 = 100;

/// Data a plugin keeps for one scheduling cycle (cloned when preemption simulates).
pub trait StateData: Any + Send + Sync {
    fn clone_data(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_data(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What the plugins compute for one pod in one cycle, by key (usually the plugin's name).
#[derive(Default)]
pub struct CycleState {
    data: HashMap<&'static str, Box<dyn StateData>>,
    /// Plugins whose pre-filter said Skip: their filter is not run.
    pub skip_filter: Vec<&'static str>,
    /// Plugins whose pre-score said Skip: their score is not run.
    pub skip_score: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        Self {
            data: self.data.iter().map(|(k, v)| (*k, v.as_ref().clone_data())).collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState").field("keys", &self.data.keys().collect::<Vec<_>>()).finish()
    }
}

impl CycleState {
    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }

    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|v| v.as_ref().as_any().downcast_ref())
    }

    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data.get_mut(key).and_then(|v| v.as_mut().as_any_mut().downcast_mut())
    }
}

/// A scheduler plugin. Every step is synchronous CPU work over the snapshot;
/// the defaults make a plugin that takes part in a step by implementing it.
pub trait Plugin: Send + Sync {
    /// Upstream's plugin name (as in events and KubeSchedulerConfiguration).
    fn name(&self) -> &'static str;

    /// Once per pod before any node is filtered: pre-computes what `filter`
    /// needs into `state`, returns Skip if the plugin has nothing to check,
    /// or rejects the pod on every node.
    fn pre_filter(&self, _state: &mut CycleState, _pod: &PodInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// Whether the pod can run on the node.
    fn filter(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// For preemption: the pre-filter state after `added` would be placed on `node`.
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _added: &PodInfo, _node: &NodeInfo) {}

    /// For preemption: the pre-filter state after `removed` would leave `node`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _removed: &PodInfo, _node: &NodeInfo) {}

    /// Once per pod before scoring the nodes that passed the filters; Skip leaves scoring out.
    fn pre_score(&self, _state: &mut CycleState, _pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// The node's score for the pod, 0..=MAX_NODE_SCORE (or a raw value `normalize` brings into range).
    fn score(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) -> i64 {
        0
    }

    /// Brings the scores of all nodes (in the order of `nodes` given to pre-score) into 0..=MAX_NODE_SCORE.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) {}
}

/// Scales scores so the highest is MAX_NODE_SCORE (reversed: the lowest),
/// as upstream's DefaultNormalizeScore.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *score / max;
        *score = if reverse { MAX_NODE_SCORE - scaled } else { scaled };
    }
}

impl std::fmt::Debug for dyn Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
