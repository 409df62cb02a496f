//! kube-scheduler's plugins, one module each (a few single-field filters share one).

pub mod node_affinity;
pub mod node_basics;
pub mod node_resources;
pub mod taint_toleration;

#[cfg(test)]
pub(crate) mod testing;
