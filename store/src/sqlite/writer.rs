//! The single writer thread: group commit of concurrent writes, leases and
//! the expiry of leases, and compaction in small steps between batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::SqliteConfig;
use super::compaction::Compaction;
use super::rows::version_at;
use super::schema::{COMPACT_CURSOR, COMPACT_REV, CURRENT_REV, meta, set_meta};
use super::wal::WalLimit;
use crate::error::{Error, Result};
use crate::kv::{Event, EventKind, KeyValue, LeaseId, Outcome, Revision};
use crate::watch_hub::WatchHub;

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 2048;

/// A write for the writer thread.
#[derive(Debug)]
pub(super) enum Op {
    Create { key: String, value: Bytes, lease: Option<LeaseId> },
    Update { key: String, value: Bytes, expected: Revision, lease: Option<LeaseId> },
    Delete { key: String, expected: Option<Revision> },
    GrantLease { ttl_secs: i64 },
    RevokeLease { id: LeaseId },
}

/// The writer's answer to an [`Op`].
#[derive(Debug)]
pub(super) enum Reply {
    Put(Outcome<Revision>),
    Delete(Outcome<(Revision, KeyValue)>),
    Lease(LeaseId),
    Done,
}

/// Where to send a [`Reply`].
pub(super) type ReplyTo = oneshot::Sender<Result<Reply>>;

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(super) enum Request {
    /// A write, batched with others into one transaction.
    Write(Op, ReplyTo),
    /// Compaction up to a revision, answered when it has finished.
    Compact(Revision, ReplyTo),
}

/// Revisions the backend's readers can see without a query.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub current: AtomicI64,
    pub compacted: AtomicI64,
}

/// The writer thread's state.
pub(super) struct Writer {
    conn: Connection,
    hub: Arc<WatchHub>,
    counters: Arc<Counters>,
    /// The latest committed revision.
    current: Revision,
    compaction: Compaction,
    wal: WalLimit,
    /// When the next lease expires (unix ms), if any lease exists.
    next_expiry: Option<i64>,
    periodic: Option<(Duration, Instant, Revision)>,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        hub: Arc<WatchHub>,
        counters: Arc<Counters>,
        config: &SqliteConfig,
    ) -> Result<Self> {
        let current = meta(&conn, CURRENT_REV)?;
        let compaction = Compaction::new(meta(&conn, COMPACT_REV)?, meta(&conn, COMPACT_CURSOR)?);
        counters.current.store(current, Ordering::SeqCst);
        counters.compacted.store(compaction.target(), Ordering::SeqCst);
        let periodic = config.compact_interval.map(|every| (every, Instant::now() + every, current));
        let wal = WalLimit::new(config.path());
        let mut writer = Self { conn, hub, counters, current, compaction, wal, next_expiry: None, periodic };
        writer.next_expiry = writer.earliest_expiry()?;
        Ok(writer)
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, requests: Receiver<Request>) {
        loop {
            let wait = self.idle_wait();
            let mut batch = Vec::new();
            match requests.recv_timeout(wait) {
                Ok(request) => batch.push(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let mut writes = Vec::with_capacity(batch.len());
            for request in batch {
                match request {
                    Request::Write(op, reply) => writes.push((op, reply)),
                    Request::Compact(revision, reply) => self.start_compaction(revision, reply),
                }
            }
            let batch = writes;
            let expired = self.expired_leases();
            if !batch.is_empty() || !expired.is_empty() {
                self.commit(batch, &expired);
            }
            self.maintain();
        }
        self.compaction.shutdown(&self.conn);
    }

    /// How long to wait for a request before there is maintenance to do.
    fn idle_wait(&self) -> Duration {
        let mut wait = Duration::from_secs(3600);
        if let Some(at) = self.compaction.next_step_at() {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        if let Some(expiry) = self.next_expiry {
            wait = wait.min(Duration::from_millis((expiry - now_ms()).max(0) as u64));
        }
        if let Some((_, due, _)) = self.periodic {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        wait
    }

    /// Commits a batch in one transaction and answers its requests; if the
    /// transaction fails, each request is retried alone so only the failing
    /// one sees the error.
    fn commit(&mut self, batch: Vec<(Op, ReplyTo)>, expired: &[LeaseId]) {
        let ops: Vec<&Op> = batch.iter().map(|(op, _)| op).collect();
        match self.apply_in_transaction(&ops, expired) {
            Ok((replies, events)) => {
                self.counters.current.store(self.current, Ordering::SeqCst);
                self.hub.publish(events);
                for ((_, reply_to), reply) in batch.into_iter().zip(replies) {
                    let _ = reply_to.send(reply);
                }
                self.wal.after_commit(&self.conn);
            }
            Err(err) if batch.len() > 1 => {
                tracing::warn!(error = %err, size = batch.len(), "write batch failed; retrying its writes one by one");
                for request in batch {
                    self.commit(vec![request], expired);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "write failed");
                for (_, reply_to) in batch {
                    let _ = reply_to.send(Err(Error::Sqlite(clone_error(&err))));
                }
            }
        }
        if let Ok(next) = self.earliest_expiry() {
            self.next_expiry = next;
        }
    }

    fn apply_in_transaction(
        &mut self,
        ops: &[&Op],
        expired: &[LeaseId],
    ) -> rusqlite::Result<(Vec<Result<Reply>>, Vec<Event>)> {
        let start = self.current;
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = self.apply_all(ops, expired).and_then(|out| {
            set_meta(&self.conn, CURRENT_REV, self.current)?;
            self.conn.execute_batch("COMMIT")?;
            Ok(out)
        });
        if result.is_err() {
            self.current = start;
            if let Err(err) = self.conn.execute_batch("ROLLBACK") {
                tracing::debug!(error = %err, "rollback after a failed batch");
            }
        }
        result
    }

    fn apply_all(&mut self, ops: &[&Op], expired: &[LeaseId]) -> rusqlite::Result<(Vec<Result<Reply>>, Vec<Event>)> {
        let mut events = Vec::new();
        for lease in expired {
            tracing::debug!(lease, "lease expired");
            self.revoke(*lease, &mut events)?;
        }
        let mut applied = Vec::with_capacity(ops.len());
        for op in ops {
            applied.push(self.apply(op, &mut events)?);
        }
        Ok((applied, events))
    }

    /// Applies one op inside the open transaction. Outer `Err`: the
    /// transaction failed; inner `Err`: this request is refused.
    fn apply(&mut self, op: &Op, events: &mut Vec<Event>) -> rusqlite::Result<Result<Reply>> {
        let reply = match op {
            Op::Create { key, value, lease } => {
                if let Some(rev) = self.live_rev(key)? {
                    Ok(Reply::Put(Outcome::Conflict { current: version_at(&self.conn, rev)? }))
                } else if !self.lease_exists(*lease)? {
                    Err(Error::LeaseNotFound(lease.unwrap_or_default()))
                } else {
                    Ok(Reply::Put(Outcome::Applied(self.put(key, value, *lease, None, events)?)))
                }
            }
            Op::Update { key, value, expected, lease } => match self.live_rev(key)? {
                None => Ok(Reply::Put(Outcome::Conflict { current: None })),
                Some(rev) if rev != *expected => {
                    Ok(Reply::Put(Outcome::Conflict { current: version_at(&self.conn, rev)? }))
                }
                Some(rev) if self.lease_exists(*lease)? => {
                    let prev = version_at(&self.conn, rev)?;
                    Ok(Reply::Put(Outcome::Applied(self.put(key, value, *lease, prev, events)?)))
                }
                Some(_) => Err(Error::LeaseNotFound(lease.unwrap_or_default())),
            },
            Op::Delete { key, expected } => match self.live_rev(key)? {
                None => Ok(Reply::Delete(Outcome::Conflict { current: None })),
                Some(rev) => match version_at(&self.conn, rev)? {
                    Some(prev) if expected.is_some_and(|e| e != rev) => {
                        Ok(Reply::Delete(Outcome::Conflict { current: Some(prev) }))
                    }
                    Some(prev) => Ok(Reply::Delete(Outcome::Applied(self.delete(prev, events)?))),
                    None => Ok(Reply::Delete(Outcome::Conflict { current: None })),
                },
            },
            Op::GrantLease { ttl_secs } => {
                self.conn
                    .prepare_cached("INSERT INTO leases (ttl, expires_ms) VALUES (?1, ?2)")?
                    .execute(params![ttl_secs, now_ms() + ttl_secs * 1000])?;
                Ok(Reply::Lease(self.conn.last_insert_rowid()))
            }
            Op::RevokeLease { id } => {
                if self.lease_exists(Some(*id))? {
                    self.revoke(*id, events)?;
                    Ok(Reply::Done)
                } else {
                    Err(Error::LeaseNotFound(*id))
                }
            }
        };
        Ok(reply)
    }

    /// Compaction runs outside write batches, in its own transactions.
    fn start_compaction(&mut self, revision: Revision, reply: ReplyTo) {
        if revision > self.current {
            let _ = reply.send(Err(Error::FutureRevision { requested: revision, current: self.current }));
            return;
        }
        match self.compaction.start(&self.conn, revision) {
            Ok(()) => {
                self.counters.compacted.store(self.compaction.target(), Ordering::SeqCst);
                self.compaction.wait(revision, reply);
            }
            Err(err) => {
                let _ = reply.send(Err(Error::Sqlite(err)));
            }
        }
    }

    fn next_revision(&mut self) -> Revision {
        self.current += 1;
        self.current
    }

    fn live_rev(&self, key: &str) -> rusqlite::Result<Option<Revision>> {
        self.conn.prepare_cached("SELECT rev FROM live WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()
    }

    fn lease_exists(&self, lease: Option<LeaseId>) -> rusqlite::Result<bool> {
        let Some(id) = lease else { return Ok(true) };
        self.conn.prepare_cached("SELECT 1 FROM leases WHERE id = ?1")?.exists([id])
    }

    /// Writes a new version of `key` after `prev` (`None`: a create).
    fn put(
        &mut self,
        key: &str,
        value: &Bytes,
        lease: Option<LeaseId>,
        prev: Option<KeyValue>,
        events: &mut Vec<Event>,
    ) -> rusqlite::Result<Revision> {
        let rev = self.next_revision();
        let (create_rev, prev_rev, version) = match &prev {
            Some(p) => (p.create_revision, p.mod_revision, p.version + 1),
            None => (rev, 0, 1),
        };
        let lease_col = lease.unwrap_or(0);
        self.conn
            .prepare_cached(
                "INSERT INTO kv (rev, key, deleted, create_rev, prev_rev, version, lease, value)
                 VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![rev, key, create_rev, prev_rev, version, lease_col, value.as_ref()])?;
        self.conn
            .prepare_cached(
                "INSERT INTO live (key, rev, lease) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET rev = excluded.rev, lease = excluded.lease",
            )?
            .execute(params![key, rev, lease_col])?;
        let kv = KeyValue {
            key: key.to_owned(),
            value: value.clone(),
            create_revision: create_rev,
            mod_revision: rev,
            version,
            lease,
        };
        events.push(Event { kind: EventKind::Put, kv, prev });
        Ok(rev)
    }

    /// Deletes the live version `prev`.
    fn delete(&mut self, prev: KeyValue, events: &mut Vec<Event>) -> rusqlite::Result<(Revision, KeyValue)> {
        let rev = self.next_revision();
        self.conn
            .prepare_cached(
                "INSERT INTO kv (rev, key, deleted, create_rev, prev_rev, version, lease, value)
                 VALUES (?1, ?2, 1, 0, ?3, 0, 0, x'')",
            )?
            .execute(params![rev, prev.key, prev.mod_revision])?;
        self.conn.prepare_cached("DELETE FROM live WHERE key = ?1")?.execute([&prev.key])?;
        events.push(Event::deleted(prev.clone(), rev));
        Ok((rev, prev))
    }

    /// Deletes a lease and every key attached to it.
    fn revoke(&mut self, lease: LeaseId, events: &mut Vec<Event>) -> rusqlite::Result<()> {
        let revs: Vec<Revision> = self
            .conn
            .prepare_cached("SELECT rev FROM live WHERE lease = ?1 ORDER BY key")?
            .query_map([lease], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for rev in revs {
            if let Some(prev) = version_at(&self.conn, rev)? {
                self.delete(prev, events)?;
            }
        }
        self.conn.prepare_cached("DELETE FROM leases WHERE id = ?1")?.execute([lease])?;
        Ok(())
    }

    fn expired_leases(&self) -> Vec<LeaseId> {
        if self.next_expiry.is_none_or(|at| at > now_ms()) {
            return Vec::new();
        }
        let query = || -> rusqlite::Result<Vec<LeaseId>> {
            self.conn
                .prepare_cached("SELECT id FROM leases WHERE expires_ms <= ?1 ORDER BY id")?
                .query_map([now_ms()], |r| r.get(0))?
                .collect()
        };
        query().unwrap_or_else(|err| {
            tracing::warn!(error = %err, "reading expired leases failed");
            Vec::new()
        })
    }

    fn earliest_expiry(&self) -> rusqlite::Result<Option<i64>> {
        self.conn.query_row("SELECT MIN(expires_ms) FROM leases", [], |r| r.get(0))
    }

    /// Periodic compaction and one step of pending compaction work.
    fn maintain(&mut self) {
        if let Some((every, due, since)) = self.periodic
            && Instant::now() >= due
        {
            // Like kube-apiserver: compact to what was current one interval ago.
            if let Err(err) = self.compaction.start(&self.conn, since) {
                tracing::warn!(error = %err, "starting periodic compaction failed");
            }
            self.counters.compacted.store(self.compaction.target(), Ordering::SeqCst);
            self.periodic = Some((every, Instant::now() + every, self.current));
        }
        self.compaction.step(&self.conn);
    }
}

/// Milliseconds since the Unix epoch (lease expiry survives restarts).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// rusqlite's error is not `Clone`; keep its code and message.
pub(super) fn clone_error(err: &rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}
