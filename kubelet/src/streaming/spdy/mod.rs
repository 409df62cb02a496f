//! SPDY/3.1 as Kubernetes speaks it (moby/spdystream under
//! k8s.io/apimachinery's httpstream/spdy): the frame codec, header blocks
//! compressed with zlib and the SPDY/3 dictionary, and a multiplexed
//! `Connection` whose streams are tokio `AsyncRead + AsyncWrite`.
//!
//! Written here because no maintained Rust SPDY crate exists; kubectl before
//! 1.30 and the CRI streaming servers (containerd's) still only speak it.

pub mod client;
pub mod connection;
mod driver;
pub mod frame;
pub mod headers;
pub mod stream;

pub use client::{STREAM_PROTOCOL_HEADER, UpgradeError, connect};
pub use connection::{Config, Connection, ConnectionError, OpenOptions, Role};
pub use frame::{Frame, rst};
pub use headers::Headers;
pub use stream::Stream;

#[cfg(test)]
mod tests;
