//! The WebSocket channel protocols of k8s.io/apimachinery's wsstream: each
//! message starts with its channel number (a byte; a digit character in the
//! base64 variants, whose payloads are base64 text); v5 adds the close
//! signal `[255, channel]` that half-closes one channel.

use base64::Engine;
use bytes::Bytes;
use futures::{Sink, SinkExt};
use tokio::sync::mpsc;

/// The channel of v5's close signal.
pub const CLOSE_CHANNEL: u8 = 255;

/// A WebSocket sub-protocol of exec, attach and port-forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelProtocol {
    /// `v5.channel.k8s.io`: v4 plus the close signal (kubectl 1.30+).
    V5,
    /// `v4.channel.k8s.io`: the error channel carries a JSON `Status`.
    V4,
    /// `v4.base64.channel.k8s.io`.
    V4Base64,
    /// `channel.k8s.io` (or no sub-protocol): the error channel carries text.
    V1,
    /// `base64.channel.k8s.io`.
    V1Base64,
}

impl ChannelProtocol {
    /// Every sub-protocol name served, best first.
    pub const NAMES: &'static [&'static str] = &[
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "v4.base64.channel.k8s.io",
        "channel.k8s.io",
        "base64.channel.k8s.io",
    ];

    /// The protocol of a sub-protocol name (`""`: the client named none).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "v5.channel.k8s.io" => Self::V5,
            "v4.channel.k8s.io" => Self::V4,
            "v4.base64.channel.k8s.io" => Self::V4Base64,
            "channel.k8s.io" | "" => Self::V1,
            "base64.channel.k8s.io" => Self::V1Base64,
            _ => return None,
        })
    }

    /// Picks the first of the client's offered names that is served, as
    /// wsstream's handshake does; no names means `channel.k8s.io` (name `""`).
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, Self)> {
        let mut offered = offered.into_iter().map(str::trim).filter(|p| !p.is_empty()).peekable();
        if offered.peek().is_none() {
            return Some(("", Self::V1));
        }
        offered.find_map(|name| Self::from_name(name).map(|p| (name, p)))
    }

    /// The name to answer in `Sec-WebSocket-Protocol` (`""`: none).
    pub fn name(self) -> &'static str {
        match self {
            Self::V5 => "v5.channel.k8s.io",
            Self::V4 => "v4.channel.k8s.io",
            Self::V4Base64 => "v4.base64.channel.k8s.io",
            Self::V1 => "channel.k8s.io",
            Self::V1Base64 => "base64.channel.k8s.io",
        }
    }

    fn base64(self) -> bool {
        matches!(self, Self::V4Base64 | Self::V1Base64)
    }

    /// Whether the error channel carries a JSON `Status` (v4 and later).
    pub fn status_is_json(self) -> bool {
        !matches!(self, Self::V1 | Self::V1Base64)
    }

    /// Whether `[255, channel]` half-closes a channel.
    pub fn has_close_signal(self) -> bool {
        self == Self::V5
    }

    /// A message carrying `data` on `channel`.
    pub fn encode(self, channel: u8, data: &[u8]) -> WsMessage {
        if self.base64() {
            let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
            text.push(char::from(b'0' + channel));
            base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
            WsMessage::Text(text)
        } else {
            let mut frame = Vec::with_capacity(data.len() + 1);
            frame.push(channel);
            frame.extend_from_slice(data);
            WsMessage::Binary(frame.into())
        }
    }

    /// The channel and payload of a received data message; `None` for
    /// empty or undecodable ones (which wsstream skips).
    pub fn decode(self, message: &WsMessage) -> Option<(u8, Bytes)> {
        let raw: &[u8] = match message {
            WsMessage::Binary(data) => data,
            WsMessage::Text(text) => text.as_bytes(),
            WsMessage::Close | WsMessage::Other => return None,
        };
        let (&first, rest) = raw.split_first()?;
        if self.base64() {
            let data = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            Some((first.wrapping_sub(b'0'), data.into()))
        } else {
            Some((first, Bytes::copy_from_slice(rest)))
        }
    }
}

/// A WebSocket message as the translator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Binary(Bytes),
    Text(String),
    Close,
    /// Ping, pong and raw frames: the WebSocket library answers them.
    Other,
}

/// Conversion of a WebSocket library's message type (two implementations:
/// axum's for the kubelet server, tokio-tungstenite's for clients and tests).
pub trait WebSocketMessage: Sized + Send + 'static {
    fn into_ws(self) -> WsMessage;
    fn from_ws(message: WsMessage) -> Self;
}

impl WebSocketMessage for tokio_tungstenite::tungstenite::Message {
    fn into_ws(self) -> WsMessage {
        use tokio_tungstenite::tungstenite::Message;
        match self {
            Message::Binary(data) => WsMessage::Binary(data),
            Message::Text(text) => WsMessage::Text(text.as_str().to_owned()),
            Message::Close(_) => WsMessage::Close,
            _ => WsMessage::Other,
        }
    }

    fn from_ws(message: WsMessage) -> Self {
        use tokio_tungstenite::tungstenite::Message;
        match message {
            WsMessage::Binary(data) => Message::Binary(data),
            WsMessage::Text(text) => Message::Text(text.into()),
            // client-go treats any close but 1000 (normal) as an error.
            WsMessage::Close | WsMessage::Other => {
                use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, coding::CloseCode};
                Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))
            }
        }
    }
}

impl WebSocketMessage for axum::extract::ws::Message {
    fn into_ws(self) -> WsMessage {
        use axum::extract::ws::Message;
        match self {
            Message::Binary(data) => WsMessage::Binary(data),
            Message::Text(text) => WsMessage::Text(text.as_str().to_owned()),
            Message::Close(_) => WsMessage::Close,
            _ => WsMessage::Other,
        }
    }

    fn from_ws(message: WsMessage) -> Self {
        use axum::extract::ws::Message;
        match message {
            WsMessage::Binary(data) => Message::Binary(data),
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close | WsMessage::Other => Message::Close(Some(axum::extract::ws::CloseFrame {
                code: axum::extract::ws::close_code::NORMAL,
                reason: "".into(),
            })),
        }
    }
}

/// Where the relay tasks put outgoing channel data; one task owns the sink.
#[derive(Clone)]
pub(super) struct Outgoing {
    tx: mpsc::Sender<WsMessage>,
    protocol: ChannelProtocol,
}

impl Outgoing {
    /// Starts the task that writes to `sink`; it sends a Close message and
    /// ends when every `Outgoing` clone is gone, or ends when the sink fails.
    pub(super) fn start<K, M>(sink: K, protocol: ChannelProtocol) -> (Self, tokio::task::JoinHandle<()>)
    where
        K: Sink<M> + Send + Unpin + 'static,
        M: WebSocketMessage,
    {
        let (tx, mut rx) = mpsc::channel::<WsMessage>(16);
        let task = tokio::spawn(async move {
            let mut sink = sink;
            while let Some(message) = rx.recv().await {
                if sink.send(M::from_ws(message)).await.is_err() {
                    return;
                }
            }
            let _ = sink.send(M::from_ws(WsMessage::Close)).await;
            let _ = sink.close().await;
        });
        (Self { tx, protocol }, task)
    }

    /// Sends `data` on `channel`; false when the client is gone.
    pub(super) async fn send(&self, channel: u8, data: &[u8]) -> bool {
        self.tx.send(self.protocol.encode(channel, data)).await.is_ok()
    }

    /// Resolves when the writer task has ended (the client is gone).
    pub(super) async fn gone(&self) {
        self.tx.closed().await
    }
}

/// Relays a SPDY stream's data to a WebSocket channel until EOF (or until
/// the client is gone).
pub(super) async fn pump<R: tokio::io::AsyncRead + Unpin>(mut from: R, to: Outgoing, channel: u8) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !to.send(channel, &buf[..n]).await {
                    return;
                }
            }
        }
    }
}

/// After our Close: reads until the client's Close (or EOF) so that the
/// socket is not dropped with unread data, which would make the kernel reset
/// the connection and lose what the client has not read yet.
pub(super) async fn finish_close<R, M, E>(source: &mut R)
where
    R: futures::Stream<Item = Result<M, E>> + Unpin,
{
    use futures::StreamExt;
    let drain = async { while let Some(Ok(_)) = source.next().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
}
