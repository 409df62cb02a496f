//! Port-forward over the WebSocket channel protocol (the kubelet's
//! non-tunnelled form): port `i` of the request has data channel `2i` and
//! error channel `2i+1`, and the first message on each carries the port as
//! a little-endian u16. Toward the CRI streaming server this is SPDY
//! `portforward.k8s.io`: per port an error stream and a data stream with
//! headers `streamType`, `port` and `requestID`, as client-go opens them.

use futures::{Sink, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::TranslateError;
use super::channel::{ChannelProtocol, Outgoing, WebSocketMessage, WsMessage, finish_close, pump};
use crate::streaming::spdy::{self, Headers};

/// The SPDY sub-protocol of port-forward.
pub const SPDY_PORT_FORWARD: &str = "portforward.k8s.io";

/// Relays a port-forward session for `ports` between a WebSocket client and
/// the CRI streaming URL `cri_url` (from `Runtime::port_forward`). Ends when
/// every port's connection has ended or the client went away.
pub async fn translate_port_forward<S, M, E>(
    ws: S,
    protocol: ChannelProtocol,
    cri_url: &str,
    ports: &[u16],
) -> Result<(), TranslateError>
where
    S: Stream<Item = Result<M, E>> + Sink<M> + Send + Unpin + 'static,
    M: WebSocketMessage,
{
    let (sink, mut source) = ws.split();
    let (out, writer) = Outgoing::start(sink, protocol);
    let result = async {
        let (conn, chosen) = spdy::connect(cri_url, &[SPDY_PORT_FORWARD], spdy::Config::default()).await?;
        if chosen != SPDY_PORT_FORWARD {
            return Err(TranslateError::UnexpectedProtocol(chosen));
        }
        let mut pairs = Vec::with_capacity(ports.len());
        for (request_id, port) in ports.iter().enumerate() {
            let headers = |stream_type: &str| {
                Headers::new()
                    .with("streamType", stream_type)
                    .with("port", port.to_string())
                    .with("requestID", request_id.to_string())
            };
            let mut error = conn.open(headers("error"))?;
            // Nothing is ever written to the error stream from this side.
            let _ = error.shutdown().await;
            let data = conn.open(headers("data"))?;
            pairs.push((error, data));
        }
        for (i, port) in ports.iter().enumerate() {
            let prefix = port.to_le_bytes();
            out.send(data_channel(i), &prefix).await;
            out.send(data_channel(i) + 1, &prefix).await;
        }
        let outputs = futures::future::join_all(pairs.iter().enumerate().map(|(i, (error, data))| {
            let (mut error, data, out) = (error.clone(), data.clone(), out.clone());
            async move {
                let errors = async {
                    let mut message = Vec::new();
                    let _ = error.read_to_end(&mut message).await;
                    if !message.is_empty() {
                        out.send(data_channel(i) + 1, &message).await;
                    }
                };
                tokio::join!(pump(data, out.clone(), data_channel(i)), errors);
            }
        }));
        let inputs = async {
            let mut writers: Vec<Option<spdy::Stream>> = pairs.iter().map(|(_, data)| Some(data.clone())).collect();
            while let Some(Ok(message)) = source.next().await {
                let message = message.into_ws();
                if message == WsMessage::Close {
                    break;
                }
                let Some((channel, data)) = protocol.decode(&message) else { continue };
                let index = usize::from(channel / 2);
                if channel % 2 != 0 {
                    continue;
                }
                if let Some(Some(stream)) = writers.get_mut(index)
                    && stream.write_all(&data).await.is_err()
                {
                    writers[index] = None;
                }
            }
            for mut stream in writers.into_iter().flatten() {
                let _ = stream.shutdown().await;
            }
        };
        tokio::pin!(outputs);
        tokio::select! {
            _ = &mut outputs => return Ok(()),
            _ = out.gone() => return Err(TranslateError::ClientGone),
            _ = inputs => {}
        }
        tokio::select! {
            _ = outputs => Ok(()),
            _ = out.gone() => Err(TranslateError::ClientGone),
        }
    }
    .await;
    if let Err(error) = &result {
        // Upstream reports per-port failures on the error channels.
        let message = error.to_string();
        for i in 0..ports.len() {
            out.send(data_channel(i) + 1, message.as_bytes()).await;
        }
    }
    drop(out);
    let _ = writer.await;
    finish_close(&mut source).await;
    result
}

fn data_channel(index: usize) -> u8 {
    // wsstream channels are one byte; more than 127 ports cannot be addressed.
    u8::try_from(index * 2).unwrap_or(u8::MAX - 1)
}
