//! A SPDY/3.1 connection over any tokio byte stream: one task reads and
//! dispatches frames, one writes the frames that streams and control replies
//! queue; streams are opened with SYN_STREAM and accepted from the peer's.
//!
//! Flow control follows moby/spdystream, the implementation every Kubernetes
//! peer (client-go, the kubelet, containerd's CRI streaming server) uses: it
//! neither sends WINDOW_UPDATE nor keeps to windows. So by default neither do
//! we, and receiving is paced by pausing the read loop while a stream's unread
//! data is over `Config::max_buffered` (TCP then pushes back, as spdystream's
//! unbuffered channels do). Sending WINDOW_UPDATEs to such a peer would even
//! be harmful: frames it has not read when it closes its socket make the
//! kernel reset the connection, and the reset discards output we have not
//! read yet. `Config::flow_control` turns SPDY/3 per-stream windows on (both
//! keeping to the peer's and announcing ours) for peers that use them.
//!
//! Closing is graceful the same way: after GOAWAY and our FIN, the read side
//! keeps draining until the peer closes (or `CLOSE_DRAIN` passes).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::driver;
use super::frame::{FLAG_FIN, Frame, goaway};
use super::headers::Headers;
use super::stream::{Stream, StreamState};

/// Which end of the connection this is: clients use odd stream and ping ids,
/// servers even ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Tuning of one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// The per-stream window both sides start with (SPDY/3 default 64 KiB).
    pub initial_window: u32,
    /// SPDY/3 per-stream flow control: stop sending when the peer's window is
    /// used up, send WINDOW_UPDATE as data is read. Off by default, as in
    /// spdystream (whose peers would never grant more window).
    pub flow_control: bool,
    /// Unread bytes of one stream above which the read loop waits.
    pub max_buffered: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { initial_window: 64 * 1024, flow_control: false, max_buffered: 256 * 1024 }
    }
}

/// Options of a stream this side opens.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// The stream this one is associated to (0: none).
    pub associated_to: u32,
    /// 0 (highest) to 7.
    pub priority: u8,
    /// Half-close at once: the SYN_STREAM is this side's last frame.
    pub fin: bool,
}

/// Errors of connection and stream operations.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("the SPDY connection is closed: {0}")]
    Closed(String),
    #[error("the peer sent GOAWAY; no new streams")]
    GoneAway,
    #[error("no stream ids left on this connection")]
    StreamIdsExhausted,
    #[error("stream {id} was reset (status {status})")]
    Reset { id: u32, status: u32 },
    #[error("stream {0} is not open")]
    UnknownStream(u32),
}

type Result<T, E = ConnectionError> = std::result::Result<T, E>;

/// How long a closing connection keeps reading for the peer's close.
pub(super) const CLOSE_DRAIN: Duration = Duration::from_secs(5);
/// Frames larger than this are split (spdystream sends one frame per write).
pub(super) const MAX_DATA_FRAME: usize = 32 * 1024;
/// Queued DATA bytes above which stream writers wait for the writer task.
pub(super) const OUTBOX_LIMIT: usize = 256 * 1024;

pub(super) struct State {
    pub(super) role: Role,
    pub(super) next_stream_id: u32,
    pub(super) next_ping_id: u32,
    pub(super) last_peer_stream_id: u32,
    pub(super) peer_initial_window: i64,
    pub(super) streams: HashMap<u32, StreamState>,
    pub(super) outbox: VecDeque<Frame>,
    pub(super) outbox_data: usize,
    pub(super) outbox_waiters: Vec<std::task::Waker>,
    pub(super) pings: HashMap<u32, oneshot::Sender<()>>,
    pub(super) incoming: Option<mpsc::UnboundedSender<Stream>>,
    pub(super) go_away_sent: bool,
    pub(super) go_away_received: bool,
    pub(super) closed: Option<String>,
    pub(super) closing: bool,
}

impl State {
    pub(super) fn queue(&mut self, frame: Frame) {
        if let Frame::Data { data, .. } = &frame {
            self.outbox_data += data.len();
        }
        self.outbox.push_back(frame);
    }

    fn fail(&mut self, reason: &str) {
        if self.closed.is_none() {
            self.closed = Some(reason.to_owned());
        }
        for stream in self.streams.values_mut() {
            stream.remote_fin = true;
            stream.wake_all();
        }
        for waker in self.outbox_waiters.drain(..) {
            waker.wake();
        }
        self.pings.clear();
        self.incoming = None;
    }
}

pub(super) struct Shared {
    state: Mutex<State>,
    pub(super) config: Config,
    /// The writer task waits on this for frames or closing.
    pub(super) writer_wake: Notify,
    /// The reader task waits on this for a stream's buffer to drain.
    pub(super) reader_wake: Notify,
    pub(super) closing: watch::Sender<bool>,
    pub(super) closed: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn fail(&self, reason: &str) {
        self.lock().fail(reason);
        self.closed.send_replace(true);
    }
}

/// Keeps the connection's tasks running while a `Connection` or `Stream`
/// handle exists; the last one dropped sends GOAWAY and closes the transport.
pub(super) struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            if !state.go_away_sent && state.closed.is_none() {
                let last = state.last_peer_stream_id;
                state.queue(Frame::GoAway { last_good_stream_id: last, status: goaway::OK });
                state.go_away_sent = true;
            }
            state.closing = true;
        }
        self.shared.writer_wake.notify_one();
        self.shared.closing.send_replace(true);
    }
}

/// One SPDY/3.1 connection.
pub struct Connection {
    shared: Arc<Shared>,
    owner: Arc<Owner>,
    incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<Stream>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Connection")
            .field("role", &state.role)
            .field("streams", &state.streams.len())
            .field("closed", &state.closed)
            .finish()
    }
}

impl Connection {
    /// Starts the connection's reader and writer tasks on `io` (which must
    /// already be past any HTTP upgrade). Needs a tokio runtime.
    pub fn new<T>(io: T, role: Role, config: Config) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let (first_stream, first_ping) = match role {
            Role::Client => (1, 1),
            Role::Server => (2, 2),
        };
        let state = State {
            role,
            next_stream_id: first_stream,
            next_ping_id: first_ping,
            last_peer_stream_id: 0,
            peer_initial_window: i64::from(config.initial_window),
            streams: HashMap::new(),
            outbox: VecDeque::new(),
            outbox_data: 0,
            outbox_waiters: Vec::new(),
            pings: HashMap::new(),
            incoming: Some(incoming_tx),
            go_away_sent: false,
            go_away_received: false,
            closed: None,
            closing: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            config,
            writer_wake: Notify::new(),
            reader_wake: Notify::new(),
            closing: watch::Sender::new(false),
            closed: watch::Sender::new(false),
        });
        let owner = Arc::new(Owner { shared: shared.clone() });
        let (reader, writer) = tokio::io::split(io);
        tokio::spawn(driver::read_loop(shared.clone(), Arc::downgrade(&owner), reader));
        tokio::spawn(driver::write_loop(shared.clone(), writer));
        Self { shared, owner, incoming: tokio::sync::Mutex::new(incoming_rx) }
    }

    /// Opens a stream with these SYN_STREAM headers.
    pub fn open(&self, headers: Headers) -> Result<Stream> {
        self.open_with(headers, OpenOptions::default())
    }

    /// Opens a stream with options (association, priority, FIN).
    pub fn open_with(&self, headers: Headers, options: OpenOptions) -> Result<Stream> {
        let mut state = self.shared.lock();
        if let Some(reason) = &state.closed {
            return Err(ConnectionError::Closed(reason.clone()));
        }
        if state.go_away_received || state.go_away_sent {
            return Err(ConnectionError::GoneAway);
        }
        let id = state.next_stream_id;
        if id > 0x7fff_ffff {
            return Err(ConnectionError::StreamIdsExhausted);
        }
        state.next_stream_id += 2;
        let window = state.peer_initial_window;
        let mut stream = StreamState::new(false, window);
        stream.local_fin = options.fin;
        state.streams.insert(id, stream);
        state.queue(Frame::SynStream {
            stream_id: id,
            associated_to: options.associated_to,
            priority: options.priority.min(7),
            flags: if options.fin { FLAG_FIN } else { 0 },
            headers: headers.clone(),
        });
        drop(state);
        self.shared.writer_wake.notify_one();
        Ok(Stream::new(id, headers, self.shared.clone(), self.owner.clone()))
    }

    /// The next stream the peer opened, with its SYN_STREAM headers; answer it
    /// with `Stream::reply` (or just write: an empty SYN_REPLY goes first).
    /// `None` once the connection is closed.
    pub async fn accept(&self) -> Option<Stream> {
        self.incoming.lock().await.recv().await
    }

    /// Sends a PING and waits for its echo; the round-trip time.
    pub async fn ping(&self) -> Result<Duration> {
        let (tx, rx) = oneshot::channel();
        let started = tokio::time::Instant::now();
        {
            let mut state = self.shared.lock();
            if let Some(reason) = &state.closed {
                return Err(ConnectionError::Closed(reason.clone()));
            }
            let id = state.next_ping_id;
            state.next_ping_id = if id > 0x7fff_fffd { id - 0x7fff_fffc } else { id + 2 };
            state.pings.insert(id, tx);
            state.queue(Frame::Ping { id });
        }
        self.shared.writer_wake.notify_one();
        rx.await.map_err(|_| ConnectionError::Closed("before the PING was answered".into()))?;
        Ok(started.elapsed())
    }

    /// Sends GOAWAY: no more streams will be opened or accepted; open streams go on.
    pub fn go_away(&self) {
        let mut state = self.shared.lock();
        if state.go_away_sent || state.closed.is_some() {
            return;
        }
        let last = state.last_peer_stream_id;
        state.queue(Frame::GoAway { last_good_stream_id: last, status: goaway::OK });
        state.go_away_sent = true;
        drop(state);
        self.shared.writer_wake.notify_one();
    }

    /// Whether the transport has ended (EOF, error or protocol error).
    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow()
    }

    /// Waits until the transport has ended.
    pub async fn closed(&self) {
        let mut rx = self.shared.closed.subscribe();
        // The sender lives in `shared`, which we hold: this cannot fail.
        let _ = rx.wait_for(|closed| *closed).await;
    }
}
