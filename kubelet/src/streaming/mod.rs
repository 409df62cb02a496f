//! The streaming protocols of exec, attach and port-forward: WebSocket
//! (channel.k8s.io v4/v5) and SPDY/3.1, and relaying them to the runtime's
//! streaming server.

pub mod relay;
pub mod spdy;
pub mod translate;
