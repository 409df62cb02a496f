//! The kubectl-driven conformance subset: starts a `skiff server`, runs
//! scenarios with real kubectl (each installed version), and compares exit
//! codes and output with what upstream prints.

pub mod cluster;
pub mod kubectl;
pub mod report;
pub mod scenarios;

pub use cluster::Cluster;
pub use kubectl::{Kubectl, installed_versions};
