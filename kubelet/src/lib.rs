//! The node agent: registration, leases, pod workers, probes, volumes,
//! logs/exec, over a CRI (containerd) or simulated runtime.
//!
//! - `simulated`: nodes without processes, whose pods go Running at once
//!   (for scale tests and `skiff server --simulated-nodes`).

pub mod simulated;
