//! The embedded default backend: one SQLite file (WAL, synchronous=FULL),
//! one writer thread that commits concurrent writes together (group commit)
//! and acknowledges them only once durable, a pool of readers, watches
//! served from memory with the history on disk, and compaction in small
//! steps that keeps the file bounded.

mod compaction;
mod read;
mod rows;
mod schema;
mod wal;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::oneshot;

use self::read::Readers;
use self::writer::{Counters, Op, Reply, Request, Writer};
use crate::backend::{Backend, WatchStream};
use crate::error::{Error, Result};
use crate::kv::{Event, KeyValue, LeaseId, Outcome, RangeRequest, RangeResponse, Revision};
use crate::watch_hub::{History, WatchHub};

/// Options of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    path: PathBuf,
    compact_interval: Option<Duration>,
    watch_cache_events: usize,
}

impl SqliteConfig {
    /// A database at `path`, compacted every 5 minutes, with 10,000 recent
    /// events served to watches from memory.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), compact_interval: Some(Duration::from_secs(300)), watch_cache_events: 10_000 }
    }

    /// How often to compact away what was superseded an interval ago
    /// (`None`: only when [`Backend::compact`] is called).
    pub fn compact_interval(mut self, every: Option<Duration>) -> Self {
        self.compact_interval = every;
        self
    }

    /// How many recent events watches read from memory.
    pub fn watch_cache_events(mut self, events: usize) -> Self {
        self.watch_cache_events = events;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The embedded SQLite backend.
#[derive(Debug)]
pub struct SqliteBackend {
    path: PathBuf,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<Readers>,
    history: Arc<SqliteHistory>,
    hub: Arc<WatchHub>,
}

impl SqliteBackend {
    /// Opens (or creates) the database; a file that is not a healthy SQLite
    /// datastore is an error naming it.
    pub fn open(config: SqliteConfig) -> Result<Self> {
        let path = config.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        }
        let conn = schema::open_writer(&path)?;
        let counters = Arc::new(Counters::default());
        let current = schema::meta(&conn, schema::CURRENT_REV)?;
        let hub = Arc::new(WatchHub::new(current, config.watch_cache_events));
        let writer = Writer::new(conn, Arc::clone(&hub), Arc::clone(&counters), &config)?;
        let (requests, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("skiff-sqlite-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        let readers = Arc::new(Readers::new(path.clone()));
        let history = Arc::new(SqliteHistory { readers: Arc::clone(&readers), counters });
        tracing::info!(path = %path.display(), revision = current, "SQLite datastore open");
        Ok(Self { path, requests: Some(requests), writer: Some(writer), readers, history, hub })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn call(&self, request: impl FnOnce(oneshot::Sender<Result<Reply>>) -> Request) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        let requests = self.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(request(reply)).map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn write(&self, op: Op) -> Result<Reply> {
        self.call(|reply| Request::Write(op, reply)).await
    }

    async fn put(&self, op: Op) -> Result<Outcome<Revision>> {
        match self.write(op).await? {
            Reply::Put(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }
}

impl Drop for SqliteBackend {
    /// Lets the writer finish what it was given, checkpoint, and close.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("SQLite writer thread panicked");
        }
    }
}

/// A reply of the wrong kind: a bug, reported rather than panicked on.
fn unexpected(reply: Reply) -> Error {
    tracing::error!(?reply, "SQLite writer answered with the wrong reply kind");
    Error::Closed
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.history.counters.current.load(Ordering::SeqCst))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.history.compacted().await
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.readers.run(move |conn| read::get(conn, &key, revision)).await
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.readers.run(move |conn| read::range(conn, &request)).await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = prefix.to_owned();
        self.readers.run(move |conn| read::count(conn, &prefix)).await
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Outcome<Revision>> {
        self.put(Op::Create { key: key.to_owned(), value, lease }).await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>> {
        self.put(Op::Update { key: key.to_owned(), value, expected, lease }).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Outcome<(Revision, KeyValue)>> {
        match self.write(Op::Delete { key: key.to_owned(), expected }).await? {
            Reply::Delete(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.hub.watch(Arc::clone(&self.history), prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.call(|reply| Request::Compact(revision, reply)).await.map(drop)
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let ttl_secs = ttl.as_secs_f64().ceil().max(1.0) as i64;
        match self.write(Op::GrantLease { ttl_secs }).await? {
            Reply::Lease(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.write(Op::RevokeLease { id: lease }).await.map(drop)
    }
}

/// Watch history read from the `kv` log on disk.
#[derive(Debug)]
struct SqliteHistory {
    readers: Arc<Readers>,
    counters: Arc<Counters>,
}

#[async_trait]
impl History for SqliteHistory {
    async fn events(&self, prefix: &str, from: Revision, to: Revision, limit: usize) -> Result<Vec<Event>> {
        let prefix = prefix.to_owned();
        self.readers.run(move |conn| read::history(conn, &prefix, from, to, limit)).await
    }

    async fn compacted(&self) -> Result<Revision> {
        Ok(self.counters.compacted.load(Ordering::SeqCst))
    }
}
