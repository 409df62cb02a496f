//! The network probes against local servers.
