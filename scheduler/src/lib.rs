//! Binds pods to nodes through kube-scheduler-shaped filter and score
//! plugins (affinity, taints, resources, spread).
//!
//! - `framework`: the plugin interface, the snapshot of nodes and pods, resources and selectors;
//! - `plugins`: one module per upstream plugin;
//! - `profile`: which plugins run, with which weights;
//! - `config`: KubeSchedulerConfiguration files;
//! - `cycle`: one scheduling attempt of one pod over a snapshot;
//! - `preemption`: DefaultPreemption, choosing victims when nothing fits;
//! - `queue`: the active, back-off and unschedulable queues;
//! - `report`: events and the PodScheduled condition;
//! - `run`: the [`Scheduler`], watching the API server and binding pods.

pub mod config;
pub mod cycle;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod profile;
pub mod queue;
pub mod report;
mod run;
mod volumes;

pub use run::{AttemptLog, Scheduler};
