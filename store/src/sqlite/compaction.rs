//! Compaction of the SQLite log in small steps: each step deletes the
//! superseded versions of a window of revisions in its own short transaction,
//! so writes interleave with it and never wait long; when a compaction is
//! done, freed pages go back to the file system (incremental vacuum) and the
//! WAL is checkpointed and truncated.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::schema::{COMPACT_CURSOR, COMPACT_REV, set_meta};
use super::wal::checkpoint;
use super::writer::Reply;
use crate::error::{Error, Result};
use crate::kv::Revision;

/// Revisions examined by one step.
const WINDOW: i64 = 1000;
/// Pages given back by one step of incremental vacuum.
const VACUUM_PAGES: i64 = 512;
/// Pause after a failed step before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// Progress of compaction, and the callers waiting for it.
#[derive(Debug)]
pub(super) struct Compaction {
    /// The compacted revision: reads before it fail.
    target: Revision,
    /// Rows up to this revision have been examined and the superseded ones deleted.
    cursor: Revision,
    /// Free pages and WAL still to be given back.
    reclaim: bool,
    waiters: Vec<(Revision, oneshot::Sender<Result<Reply>>)>,
    retry_at: Option<Instant>,
}

impl Compaction {
    pub(super) fn new(target: Revision, cursor: Revision) -> Self {
        Self { target, cursor, reclaim: false, waiters: Vec::new(), retry_at: None }
    }

    /// The compacted revision.
    pub(super) fn target(&self) -> Revision {
        self.target
    }

    /// When the next step is due, if there is work left.
    pub(super) fn next_step_at(&self) -> Option<Instant> {
        (self.cursor < self.target || self.reclaim).then(|| self.retry_at.unwrap_or_else(Instant::now))
    }

    /// Marks everything before `revision` compacted (durably, at once) and
    /// schedules the physical work. Older revisions are a no-op.
    pub(super) fn start(&mut self, conn: &Connection, revision: Revision) -> rusqlite::Result<()> {
        if revision <= self.target {
            return Ok(());
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = set_meta(conn, COMPACT_REV, revision).and_then(|()| conn.execute_batch("COMMIT"));
        if done.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        done?;
        tracing::info!(revision, "compaction started");
        self.target = revision;
        Ok(())
    }

    /// Answers `reply` once compaction up to `revision` has finished.
    pub(super) fn wait(&mut self, revision: Revision, reply: oneshot::Sender<Result<Reply>>) {
        if revision <= self.cursor && !self.reclaim {
            let _ = reply.send(Ok(Reply::Done));
        } else {
            self.waiters.push((revision, reply));
        }
    }

    /// Does one step of pending work, if due.
    pub(super) fn step(&mut self, conn: &Connection) {
        if self.next_step_at().is_none_or(|at| at > Instant::now()) {
            return;
        }
        let result = if self.cursor < self.target { self.delete_window(conn) } else { self.reclaim_space(conn) };
        match result {
            Ok(()) => self.retry_at = None,
            Err(err) => {
                tracing::warn!(error = %err, "compaction step failed; retrying");
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
        if !self.reclaim {
            let cursor = self.cursor;
            let (done, waiting) = std::mem::take(&mut self.waiters).into_iter().partition(|(rev, _)| *rev <= cursor);
            self.waiters = waiting;
            for (_, reply) in done {
                let _ = reply.send(Ok(Reply::Done));
            }
        }
    }

    /// Deletes the versions in the next window that were superseded (or
    /// deleted) at or before the target.
    fn delete_window(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let high = (self.cursor + WINDOW).min(self.target);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = (|| {
            // A version is superseded by the row that points back at it.
            conn.prepare_cached(
                "DELETE FROM kv WHERE rev IN (SELECT prev_rev FROM kv WHERE rev > ?1 AND rev <= ?2 AND prev_rev != 0)",
            )?
            .execute([self.cursor, high])?;
            conn.prepare_cached("DELETE FROM kv WHERE rev > ?1 AND rev <= ?2 AND deleted = 1")?
                .execute([self.cursor, high])?;
            set_meta(conn, COMPACT_CURSOR, high)?;
            conn.execute_batch("COMMIT")
        })();
        if done.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        done?;
        self.cursor = high;
        if self.cursor >= self.target {
            self.reclaim = true;
        }
        Ok(())
    }

    /// Gives back free pages a batch at a time, then checkpoints and
    /// truncates the WAL.
    fn reclaim_space(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free > 0 {
            conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
            return Ok(());
        }
        checkpoint(conn);
        self.reclaim = false;
        tracing::info!(revision = self.target, "compaction finished");
        Ok(())
    }

    /// On shutdown: a last checkpoint, and the waiters told the store closed.
    pub(super) fn shutdown(&mut self, conn: &Connection) {
        checkpoint(conn);
        for (_, reply) in self.waiters.drain(..) {
            let _ = reply.send(Err(Error::Closed));
        }
    }
}
