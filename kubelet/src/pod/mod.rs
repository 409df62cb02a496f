//! Pod workers: one task per pod bound to the node, driving the runtime
//! towards the pod's spec (sandbox, init containers, containers, restarts
//! with back-off, graceful termination) and reporting its status.
//!
//! [`PodManager`] watches the node's pods and runs a worker per pod
//! ([`worker`]); a sync ([`sync`], [`terminate`]) is computed from what the
//! runtime reports ([`runtime_pod`]), so a restarted kubelet adopts what runs.

pub mod backoff;
pub mod container;
pub mod dns;
pub mod env;
pub mod events;
pub mod hooks;
pub mod hosts;
pub mod image_pull;
pub mod manager;
pub mod resources;
pub mod runtime_pod;
pub mod sandbox;
pub mod security;
pub mod status;
pub mod sync;
pub mod terminate;
pub mod worker;

pub use manager::{PodManager, PodManagerConfig, PodManagerError};

use std::sync::Arc;

/// What every pod worker of a node shares.
pub(crate) struct Context {
    pub client: kube::Client,
    pub config: Arc<crate::KubeletConfig>,
    pub runtime: Arc<dyn crate::Runtime>,
    pub volumes: crate::volumes::VolumeManager,
    pub events: events::Recorder,
    pub probes: crate::probes::ProbeManager,
    /// The scheme of container IDs (`containerd`).
    pub runtime_name: String,
    /// The host's resolv.conf (the base of pods' DNS config).
    pub host_resolv: String,
    pub options: PodManagerConfig,
}
