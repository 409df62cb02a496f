//! The Node: registration with the host's capacity, addresses, node info
//! and images, status conditions kept current, and the Lease renewed in
//! kube-node-lease every 10 s; and the agent's join to a server.

mod agent;
pub mod flags;
pub mod host;
pub mod join;
pub mod lease;
pub mod register;
pub mod status;

pub use agent::{NodeAgent, NodeError, NodeTimings};
pub use flags::{FlagError, parse_label, parse_taint};
pub use join::{Credentials, JoinError, join};
