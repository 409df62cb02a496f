//! Binds pods to nodes through kube-scheduler-shaped filter and score
//! plugins (affinity, taints, resources, spread).
//!
//! - `framework`: the plugin interface, the snapshot of nodes and pods, resources and selectors;
//! - `plugins`: one module per upstream plugin.

pub mod framework;
pub mod plugins;
