//! The two tasks of a connection: the writer encodes queued frames onto the
//! transport; the reader decodes frames and applies them to the shared state
//! (stream data, replies, resets, settings, pings, GOAWAY, window updates).

use std::sync::{Arc, Weak};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::connection::{CLOSE_DRAIN, Owner, Role, Shared};
use super::frame::{self, FLAG_FIN, FLAG_UNIDIRECTIONAL, Frame, FrameError, goaway, rst};
use super::headers::{HeaderCompressor, HeaderDecompressor};
use super::stream::{Stream, StreamState};

pub(super) async fn write_loop<W: AsyncWrite>(shared: Arc<Shared>, writer: W) {
    tokio::pin!(writer);
    let mut zlib = HeaderCompressor::new();
    let mut wire = Vec::new();
    loop {
        let (frames, closing) = {
            let mut state = shared.lock();
            let frames: Vec<Frame> = state.outbox.drain(..).collect();
            state.outbox_data = 0;
            for waker in state.outbox_waiters.drain(..) {
                waker.wake();
            }
            (frames, state.closing || state.closed.is_some())
        };
        if frames.is_empty() {
            if closing {
                let _ = writer.shutdown().await;
                return;
            }
            shared.writer_wake.notified().await;
            continue;
        }
        wire.clear();
        for frame in &frames {
            if let Err(error) = frame.encode(&mut zlib, &mut wire) {
                tracing::warn!(%error, "dropping a SPDY frame that cannot be encoded");
            }
        }
        let written = async {
            writer.write_all(&wire).await?;
            writer.flush().await
        };
        if let Err(error) = written.await {
            tracing::debug!(%error, "SPDY connection write failed");
            shared.fail(&format!("write failed: {error}"));
            return;
        }
    }
}

pub(super) async fn read_loop<R: AsyncRead>(shared: Arc<Shared>, owner: Weak<Owner>, reader: R) {
    tokio::pin!(reader);
    let mut closing = shared.closing.subscribe();
    let mut zlib = HeaderDecompressor::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let reason = 'conn: loop {
        loop {
            match Frame::decode(&mut buf, &mut zlib) {
                Ok(Some(frame)) => {
                    if !handle(&shared, &owner, frame, &mut closing).await {
                        break 'conn "closed by this side".to_owned();
                    }
                }
                Ok(None) => break,
                Err(error) => break 'conn protocol_error(&shared, error),
            }
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break "end of stream".to_owned(),
                Ok(_) => {}
                Err(error) => break format!("read failed: {error}"),
            },
            _ = closing.wait_for(|closing| *closing) => break "closed by this side".to_owned(),
        }
    };
    tracing::debug!(%reason, "SPDY connection read loop ended");
    shared.fail(&reason);
    shared.writer_wake.notify_one();
    if *closing.borrow() {
        // Read (and drop) until the peer closes too, so that our socket is
        // never dropped holding unread data (the kernel would reset it).
        let mut sink = vec![0u8; 16 * 1024];
        let drain = async { while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
    }
}

fn protocol_error(shared: &Shared, error: FrameError) -> String {
    tracing::debug!(%error, "SPDY protocol error");
    let mut state = shared.lock();
    let last = state.last_peer_stream_id;
    state.queue(Frame::GoAway { last_good_stream_id: last, status: goaway::PROTOCOL_ERROR });
    state.go_away_sent = true;
    state.closing = true;
    drop(state);
    shared.writer_wake.notify_one();
    format!("protocol error: {error}")
}

/// Applies one frame; false when the read loop should stop.
async fn handle(shared: &Arc<Shared>, owner: &Weak<Owner>, frame: Frame, closing: &mut watch::Receiver<bool>) -> bool {
    let mut notify_writer = false;
    let mut paced_stream = None;
    {
        let mut state = shared.lock();
        match frame {
            Frame::SynStream { stream_id, flags, headers, .. } => {
                let theirs = match state.role {
                    Role::Client => stream_id % 2 == 0,
                    Role::Server => stream_id % 2 == 1,
                };
                if !theirs || stream_id <= state.last_peer_stream_id {
                    state.queue(Frame::RstStream { stream_id, status: rst::PROTOCOL_ERROR });
                    notify_writer = true;
                } else {
                    state.last_peer_stream_id = stream_id;
                    let accepting = state.incoming.clone().filter(|_| !state.go_away_sent);
                    match accepting.and_then(|incoming| owner.upgrade().map(|owner| (incoming, owner))) {
                        Some((incoming, owner)) => {
                            let window = state.peer_initial_window;
                            let mut stream = StreamState::new(true, window);
                            stream.remote_fin = flags & FLAG_FIN != 0;
                            stream.local_fin = flags & FLAG_UNIDIRECTIONAL != 0;
                            state.streams.insert(stream_id, stream);
                            let handle = Stream::new(stream_id, headers, shared.clone(), owner);
                            if let Err(refused) = incoming.send(handle) {
                                // Nobody accepts any more; dropping the handle
                                // (outside the lock) removes its state.
                                drop(state);
                                drop(refused);
                                state = shared.lock();
                                state.queue(Frame::RstStream { stream_id, status: rst::REFUSED_STREAM });
                                notify_writer = true;
                            }
                        }
                        None => {
                            state.queue(Frame::RstStream { stream_id, status: rst::REFUSED_STREAM });
                            notify_writer = true;
                        }
                    }
                }
            }
            Frame::SynReply { stream_id, fin, headers } => {
                if let Some(stream) = state.streams.get_mut(&stream_id) {
                    stream.replied = true;
                    stream.reply_headers = Some(headers);
                    stream.remote_fin |= fin;
                    stream.wake_all();
                }
            }
            Frame::Headers { stream_id, fin, .. } => {
                if let Some(stream) = state.streams.get_mut(&stream_id) {
                    stream.remote_fin |= fin;
                    stream.wake_all();
                }
            }
            Frame::Data { stream_id, fin, data } => {
                if let Some(stream) = state.streams.get_mut(&stream_id)
                    && stream.reset.is_none()
                    && !stream.remote_fin
                {
                    if !data.is_empty() {
                        stream.recv_len += data.len();
                        stream.recv.push_back(data);
                    }
                    stream.remote_fin |= fin;
                    stream.wake_read();
                    paced_stream = Some(stream_id);
                }
            }
            Frame::RstStream { stream_id, status } => {
                if let Some(stream) = state.streams.get_mut(&stream_id) {
                    stream.reset = Some(status);
                    stream.remote_fin = true;
                    stream.local_fin = true;
                    stream.wake_all();
                }
            }
            Frame::Settings { settings, .. } => {
                for setting in settings {
                    if setting.id == frame::SETTINGS_INITIAL_WINDOW_SIZE {
                        let delta = i64::from(setting.value) - state.peer_initial_window;
                        state.peer_initial_window = i64::from(setting.value);
                        for stream in state.streams.values_mut() {
                            stream.send_window += delta;
                            stream.wake_write();
                        }
                    }
                }
            }
            Frame::Ping { id } => {
                let ours = match state.role {
                    Role::Client => id % 2 == 1,
                    Role::Server => id % 2 == 0,
                };
                if ours {
                    if let Some(done) = state.pings.remove(&id) {
                        let _ = done.send(());
                    }
                } else {
                    state.queue(Frame::Ping { id });
                    notify_writer = true;
                }
            }
            Frame::GoAway { last_good_stream_id, .. } => {
                state.go_away_received = true;
                let role = state.role;
                for (id, stream) in state.streams.iter_mut() {
                    let ours = (role == Role::Client) == (id % 2 == 1);
                    if ours && *id > last_good_stream_id && stream.reply_headers.is_none() {
                        stream.reset = Some(rst::REFUSED_STREAM);
                        stream.remote_fin = true;
                        stream.local_fin = true;
                        stream.wake_all();
                    }
                }
            }
            Frame::WindowUpdate { stream_id, delta } => {
                // Stream 0 is SPDY/3.1's connection window, which we do not enforce.
                if let Some(stream) = state.streams.get_mut(&stream_id) {
                    stream.send_window += i64::from(delta);
                    stream.wake_write();
                }
            }
        }
    }
    if notify_writer {
        shared.writer_wake.notify_one();
    }
    if let Some(id) = paced_stream {
        // Backpressure: wait while this stream holds too much unread data.
        loop {
            let over = shared.lock().streams.get(&id).is_some_and(|s| s.recv_len > shared.config.max_buffered);
            if !over {
                break;
            }
            tokio::select! {
                _ = shared.reader_wake.notified() => {}
                _ = closing.wait_for(|closing| *closing) => return false,
            }
        }
    }
    true
}
