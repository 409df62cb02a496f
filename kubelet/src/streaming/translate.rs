//! The stream translator the API server runs since Kubernetes 1.30
//! (apimachinery's `proxy.StreamTranslatorHandler`): kubectl speaks the
//! WebSocket channel protocol (v5.channel.k8s.io and older), the CRI
//! streaming server (containerd's) speaks SPDY; this relays exec, attach and
//! port-forward between the two.
//!
//! The WebSocket side is any `Stream + Sink` of messages that implement
//! [`WebSocketMessage`] (axum's and tokio-tungstenite's do), already upgraded
//! with the sub-protocol chosen by [`ChannelProtocol::negotiate`].

mod channel;
mod exec;
mod port_forward;

pub use channel::{ChannelProtocol, WebSocketMessage, WsMessage};
pub use exec::{ExecOptions, translate_exec};
pub use port_forward::translate_port_forward;

/// Errors of relaying one session.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Upgrade(#[from] super::spdy::UpgradeError),
    #[error("opening a SPDY stream: {0}")]
    OpenStream(#[from] super::spdy::ConnectionError),
    #[error("the streaming server chose protocol {0:?}, not the one offered")]
    UnexpectedProtocol(String),
    #[error("the WebSocket client went away")]
    ClientGone,
}

#[cfg(test)]
mod tests;
