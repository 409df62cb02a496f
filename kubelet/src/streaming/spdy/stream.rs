//! One SPDY stream as tokio `AsyncRead + AsyncWrite`: reads drain the DATA
//! the peer sent (EOF at its FIN, at a reset, or when the connection ends, as
//! spdystream's streams do), writes queue DATA frames, shutdown sends FIN.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connection::{ConnectionError, MAX_DATA_FRAME, OUTBOX_LIMIT, Owner, Shared, State};
use super::frame::{Frame, rst};
use super::headers::Headers;

/// The per-stream bookkeeping the connection keeps.
pub(super) struct StreamState {
    pub(super) recv: VecDeque<Bytes>,
    pub(super) recv_len: usize,
    pub(super) remote_fin: bool,
    pub(super) local_fin: bool,
    pub(super) reset: Option<u32>,
    /// Opened by the peer (we owe it a SYN_REPLY).
    pub(super) incoming: bool,
    /// Incoming: our SYN_REPLY is queued. Outgoing: the peer's arrived.
    pub(super) replied: bool,
    pub(super) reply_headers: Option<Headers>,
    pub(super) send_window: i64,
    /// Bytes read by the application and not yet announced by WINDOW_UPDATE.
    unacked: u32,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    reply_waker: Option<Waker>,
}

impl StreamState {
    pub(super) fn new(incoming: bool, send_window: i64) -> Self {
        Self {
            recv: VecDeque::new(),
            recv_len: 0,
            remote_fin: false,
            local_fin: false,
            reset: None,
            incoming,
            replied: false,
            reply_headers: None,
            send_window,
            unacked: 0,
            read_waker: None,
            write_waker: None,
            reply_waker: None,
        }
    }

    pub(super) fn wake_read(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
    }

    pub(super) fn wake_write(&mut self) {
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }

    pub(super) fn wake_all(&mut self) {
        self.wake_read();
        self.wake_write();
        if let Some(waker) = self.reply_waker.take() {
            waker.wake();
        }
    }
}

struct Handle {
    id: u32,
    headers: Headers,
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Forget the stream: later frames for it are ignored, as spdystream does.
        self.shared.lock().streams.remove(&self.id);
        self.shared.reader_wake.notify_one();
    }
}

/// A stream of a SPDY connection; clones share it (read from one task, write
/// from another). The stream is forgotten when the last clone is dropped.
#[derive(Clone)]
pub struct Stream {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.handle.id).finish()
    }
}

fn closed_error(kind: io::ErrorKind, message: &str) -> io::Error {
    io::Error::new(kind, message.to_owned())
}

impl Stream {
    pub(super) fn new(id: u32, headers: Headers, shared: Arc<Shared>, owner: Arc<Owner>) -> Self {
        Self { handle: Arc::new(Handle { id, headers, shared, _owner: owner }) }
    }

    /// The stream id (odd: opened by the client).
    pub fn id(&self) -> u32 {
        self.handle.id
    }

    /// The headers of the SYN_STREAM that opened it.
    pub fn headers(&self) -> &Headers {
        &self.handle.headers
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State, u32) -> T) -> T {
        let mut state = self.handle.shared.lock();
        f(&mut state, self.handle.id)
    }

    /// Waits for the peer's SYN_REPLY to a stream this side opened; its headers.
    pub async fn reply_headers(&self) -> Result<Headers, ConnectionError> {
        std::future::poll_fn(|cx| {
            self.with_state(|state, id| {
                let closed = state.closed.clone();
                let Some(stream) = state.streams.get_mut(&id) else {
                    return Poll::Ready(Err(ConnectionError::UnknownStream(id)));
                };
                if let Some(headers) = &stream.reply_headers {
                    return Poll::Ready(Ok(headers.clone()));
                }
                if let Some(status) = stream.reset {
                    return Poll::Ready(Err(ConnectionError::Reset { id, status }));
                }
                if let Some(reason) = closed {
                    return Poll::Ready(Err(ConnectionError::Closed(reason)));
                }
                stream.reply_waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }

    /// Answers a stream the peer opened with SYN_REPLY (once; later calls do
    /// nothing). `fin` half-closes at the same time.
    pub fn reply(&self, headers: Headers, fin: bool) -> Result<(), ConnectionError> {
        let queued = self.with_state(|state, id| {
            let Some(stream) = state.streams.get_mut(&id) else {
                return Err(ConnectionError::UnknownStream(id));
            };
            if !stream.incoming || stream.replied || stream.reset.is_some() {
                return Ok(false);
            }
            stream.replied = true;
            stream.local_fin |= fin;
            state.queue(Frame::SynReply { stream_id: id, fin, headers });
            Ok(true)
        })?;
        if queued {
            self.handle.shared.writer_wake.notify_one();
        }
        Ok(())
    }

    /// Resets the stream (RST_STREAM with `status`, e.g. `rst::CANCEL`): both
    /// directions end; unread data stays readable.
    pub fn reset(&self, status: u32) {
        let queued = self.with_state(|state, id| {
            let Some(stream) = state.streams.get_mut(&id) else { return false };
            if stream.reset.is_some() {
                return false;
            }
            stream.reset = Some(status);
            stream.remote_fin = true;
            stream.local_fin = true;
            stream.wake_all();
            state.queue(Frame::RstStream { stream_id: id, status });
            true
        });
        if queued {
            self.handle.shared.writer_wake.notify_one();
        }
    }

    /// Refuses a stream the peer opened (RST_STREAM REFUSED_STREAM).
    pub fn refuse(&self) {
        self.reset(rst::REFUSED_STREAM);
    }

    /// The RST_STREAM status, if the stream was reset by either side.
    pub fn reset_status(&self) -> Option<u32> {
        self.with_state(|state, id| state.streams.get(&id).and_then(|s| s.reset))
    }

    /// Queues an empty SYN_REPLY first if the peer opened this stream and it
    /// has not been answered yet.
    fn reply_if_needed(state: &mut State, id: u32) {
        if let Some(stream) = state.streams.get_mut(&id)
            && stream.incoming
            && !stream.replied
        {
            stream.replied = true;
            state.queue(Frame::SynReply { stream_id: id, fin: false, headers: Headers::new() });
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let shared = &self.handle.shared;
        let initial_window = shared.config.initial_window;
        let mut state = shared.lock();
        let id = self.handle.id;
        let Some(stream) = state.streams.get_mut(&id) else {
            return Poll::Ready(Ok(()));
        };
        if let Some(front) = stream.recv.front_mut() {
            let n = buf.remaining().min(front.len());
            buf.put_slice(&front[..n]);
            front.advance(n);
            if front.is_empty() {
                stream.recv.pop_front();
            }
            let was_over = stream.recv_len > shared.config.max_buffered;
            stream.recv_len -= n;
            stream.unacked += n as u32;
            let mut window_update = None;
            if shared.config.flow_control && stream.unacked >= initial_window / 2 && !stream.remote_fin {
                window_update = Some(stream.unacked);
                stream.unacked = 0;
            }
            if let Some(delta) = window_update {
                state.queue(Frame::WindowUpdate { stream_id: id, delta });
            }
            drop(state);
            if window_update.is_some() {
                shared.writer_wake.notify_one();
            }
            if was_over {
                shared.reader_wake.notify_one();
            }
            return Poll::Ready(Ok(()));
        }
        if stream.remote_fin {
            return Poll::Ready(Ok(()));
        }
        stream.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let shared = &self.handle.shared;
        let enforce = shared.config.flow_control;
        let id = self.handle.id;
        let mut state = shared.lock();
        if state.closed.is_some() {
            return Poll::Ready(Err(closed_error(io::ErrorKind::BrokenPipe, "SPDY connection closed")));
        }
        let outbox_full = state.outbox_data >= OUTBOX_LIMIT;
        let Some(stream) = state.streams.get_mut(&id) else {
            return Poll::Ready(Err(closed_error(io::ErrorKind::BrokenPipe, "SPDY stream gone")));
        };
        if stream.reset.is_some() {
            return Poll::Ready(Err(closed_error(io::ErrorKind::ConnectionReset, "SPDY stream reset")));
        }
        if stream.local_fin {
            return Poll::Ready(Err(closed_error(io::ErrorKind::BrokenPipe, "write after FIN")));
        }
        let mut n = buf.len().min(MAX_DATA_FRAME);
        if enforce {
            if stream.send_window <= 0 {
                stream.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            n = n.min(stream.send_window as usize);
        }
        if outbox_full {
            state.outbox_waiters.push(cx.waker().clone());
            return Poll::Pending;
        }
        stream.send_window -= n as i64;
        Stream::reply_if_needed(&mut state, id);
        state.queue(Frame::Data { stream_id: id, fin: false, data: Bytes::copy_from_slice(&buf[..n]) });
        drop(state);
        shared.writer_wake.notify_one();
        Poll::Ready(Ok(n))
    }

    /// Ready once everything queued so far is handed to the transport.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.handle.shared.lock();
        if state.outbox.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if state.closed.is_some() {
            return Poll::Ready(Err(closed_error(io::ErrorKind::BrokenPipe, "SPDY connection closed")));
        }
        state.outbox_waiters.push(cx.waker().clone());
        Poll::Pending
    }

    /// Half-closes: an empty DATA frame with FIN.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.handle.id;
        let queued = {
            let mut state = self.handle.shared.lock();
            let open =
                state.closed.is_none() && state.streams.get(&id).is_some_and(|s| !s.local_fin && s.reset.is_none());
            if open {
                Stream::reply_if_needed(&mut state, id);
                if let Some(stream) = state.streams.get_mut(&id) {
                    stream.local_fin = true;
                }
                state.queue(Frame::Data { stream_id: id, fin: true, data: Bytes::new() });
            }
            open
        };
        if queued {
            self.handle.shared.writer_wake.notify_one();
        }
        Poll::Ready(Ok(()))
    }
}
