//! The kubectl-driven conformance subset and end-to-end scenarios, run against a live cluster. Filled by the API server issue.
