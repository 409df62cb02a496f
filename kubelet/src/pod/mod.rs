//! Pod workers: one task per pod bound to the node, driving the runtime
//! towards the pod's spec (sandbox, init containers, containers, restarts
//! with back-off, graceful termination) and reporting its status.
pub mod dns;
pub mod env;
pub mod hosts;
pub mod resources;
pub mod security;
