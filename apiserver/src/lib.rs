//! skiff's Kubernetes API server: a REST API, generic over a registry of
//! kinds, over a skiff-store backend, that kubectl and kube-rs cannot tell
//! from kube-apiserver.

pub mod authn;
mod convert;
mod defaults;
mod deletion;
pub mod discovery;
mod handlers;
pub mod join;
pub mod metrics;
pub mod object;
pub mod openapi;
mod openapi_routes;
mod patch;
pub mod pki;
pub mod priority;
pub mod protobuf;
pub mod proxy;
pub mod registry;
pub mod selectors;
pub mod serve;
pub mod server;
pub mod serviceaccount;
pub mod services;
pub mod status;
pub mod storage;
mod strategy;
pub mod table;
pub mod validation;
pub mod watch_cache;

pub use registry::{Registry, Resource};
pub use server::ApiServer;
pub use status::{ApiError, ApiResult};
