//! The node agent: registration, leases, pod workers, probes, volumes,
//! logs/exec, over a CRI (containerd) or simulated runtime.

pub mod config;
pub mod containerd;
pub mod images;
pub mod kubelet;
pub mod logs;
pub mod node;
pub mod pod;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod simulated;
pub mod stats;
pub mod streaming;
#[cfg(feature = "testing")]
pub mod testing;
pub mod volumes;

pub use config::KubeletConfig;
pub use kubelet::Kubelet;
pub use runtime::{Runtime, RuntimeError};
