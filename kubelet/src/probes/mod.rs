//! Startup, liveness and readiness probes (exec, httpGet, tcpSocket, grpc)
//! with upstream's periods, thresholds and timeouts.
//!
//! - [`prober`]: one run of one probe against a container ([`Prober`]);
//! - `http`, `tcp`, `grpc`: the network probes, with upstream's messages;
//! - `worker`: the loop of one probe of one container (delays, thresholds, hold after failure);
//! - [`manager`]: the workers of every running container and their results ([`ProbeManager`]).

mod grpc;
mod http;
pub mod manager;
pub mod prober;
mod tcp;
mod worker;

pub use manager::{ProbeManager, ProbeUpdate, RunningContainer};
pub use prober::{Outcome, ProbeTarget, Prober};

/// The version in the probes' User-Agent (`kube-probe/1.33`).
pub const PROBE_USER_AGENT: &str = "kube-probe/1.33";

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    /// The name upstream writes in events (`Liveness probe failed: ...`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The container's probe of this kind.
    pub fn of(self, container: &k8s_openapi::api::core::v1::Container) -> Option<&k8s_openapi::api::core::v1::Probe> {
        match self {
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
            ProbeKind::Startup => container.startup_probe.as_ref(),
        }
    }
}

/// The state a probe's worker reports for a container (upstream's `results.Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// No result yet (a startup probe before its first verdict).
    Unknown,
    Success,
    Failure,
}

#[cfg(test)]
mod tests;
