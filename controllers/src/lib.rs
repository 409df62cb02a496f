//! kube-controller-manager's controllers as clients of the API server: each
//! watches its kinds through kube-rs reflectors and reconciles one object at
//! a time, level-triggered and safe to re-run, writing status, conditions
//! and events as upstream does. [`ControllerManager`] runs them together.

pub mod clock;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod discovery;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod expectations;
pub mod garbage_collector;
pub mod history;
pub mod informers;
pub mod job;
pub mod leader;
mod manager;
pub mod namespace;
pub mod node_lifecycle;
pub mod ownership;
pub mod pods;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod serviceaccount;
pub mod statefulset;

pub use clock::{Clock, SystemClock};
pub use manager::{Context, ControllerManager};

/// Why a reconcile failed (it is retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
}
