//! Reads: a small pool of read-only connections, each read one snapshot.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{columns, event, key_value, version_at};
use super::schema::{COMPACT_REV, CURRENT_REV, meta, open_reader};
use crate::error::{Error, Result};
use crate::kv::{Event, KeyValue, RangeRequest, RangeResponse, Revision, prefix_end};

/// Idle read connections kept open.
const MAX_IDLE: usize = 8;

/// An upper bound for "no end" in key comparisons (keys are UTF-8, compared bytewise).
const KEY_MAX: &str = "\u{10FFFF}";

/// The pool of read connections.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path, idle: Mutex::new(Vec::new()) }
    }

    /// Runs `read` on a pooled connection on the blocking thread pool.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let pooled = this.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&this.path)?,
            };
            let out = read(&conn);
            let mut idle = this.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|_| Error::Closed)?
    }
}

/// The latest and the compacted revision as this snapshot sees them.
fn revisions(conn: &Connection) -> Result<(Revision, Revision)> {
    Ok((meta(conn, CURRENT_REV)?, meta(conn, COMPACT_REV)?))
}

/// Checks that `requested` can be read; returns the revision to read at.
fn readable(requested: Option<Revision>, current: Revision, compacted: Revision) -> Result<Revision> {
    match requested {
        None | Some(0) => Ok(current),
        Some(r) if r < compacted => Err(Error::Compacted { requested: r, compacted }),
        Some(r) if r > current => Err(Error::FutureRevision { requested: r, current }),
        Some(r) => Ok(r),
    }
}

fn interval_end(end: String) -> String {
    if end.is_empty() { KEY_MAX.to_owned() } else { end }
}

/// `key` now, or as it was at `revision`.
pub(super) fn get(conn: &Connection, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>> {
    let tx = conn.unchecked_transaction()?;
    let (current, compacted) = revisions(&tx)?;
    let at = readable(revision, current, compacted)?;
    let live: Option<Revision> =
        tx.prepare_cached("SELECT rev FROM live WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?;
    let version = match live {
        Some(rev) if rev <= at => rev,
        _ => {
            // Changed since: the first change after `at` points at the version then.
            let first_change = tx
                .prepare_cached("SELECT prev_rev FROM kv WHERE rev > ?1 AND key = ?2 ORDER BY rev LIMIT 1")?
                .query_row(params![at, key], |r| r.get::<_, Revision>(0))
                .optional()?;
            match first_change {
                Some(prev) if prev != 0 => prev,
                _ => return Ok(None),
            }
        }
    };
    Ok(version_at(&tx, version)?)
}

/// A page of keys under a prefix.
pub(super) fn range(conn: &Connection, request: &RangeRequest) -> Result<RangeResponse> {
    let tx = conn.unchecked_transaction()?;
    let (current, compacted) = revisions(&tx)?;
    let at = readable(request.revision, current, compacted)?;
    let (start, end) = request.interval();
    let end = interval_end(end);
    let limit = request.limit.map_or(-1, |l| l as i64);
    let cols = columns("k");
    let (kvs, count) = if at == current {
        let sql = format!(
            "SELECT {cols} FROM live l JOIN kv k ON k.rev = l.rev
             WHERE l.key >= ?1 AND l.key < ?2 ORDER BY l.key LIMIT ?3"
        );
        let kvs = collect(&tx, &sql, params![start, end, limit])?;
        let count = tx
            .prepare_cached("SELECT COUNT(*) FROM live WHERE key >= ?1 AND key < ?2")?
            .query_row(params![start, end], |r| r.get(0))?;
        (kvs, count)
    } else {
        // The versions at `at`: live keys unchanged since, and for keys changed
        // since, the version their first change after `at` replaced.
        let versions = "WITH changed AS (
                SELECT MIN(rev) AS first FROM kv WHERE rev > ?3 AND key >= ?1 AND key < ?2 GROUP BY key
            ), versions AS (
                SELECT rev FROM live WHERE key >= ?1 AND key < ?2 AND rev <= ?3
                UNION ALL
                SELECT k.prev_rev FROM changed c JOIN kv k ON k.rev = c.first WHERE k.prev_rev != 0
            )";
        let sql =
            format!("{versions} SELECT {cols} FROM versions v JOIN kv k ON k.rev = v.rev ORDER BY k.key LIMIT ?4");
        let kvs = collect(&tx, &sql, params![start, end, at, limit])?;
        let count_sql = format!("{versions} SELECT COUNT(*) FROM versions");
        let count = tx.prepare_cached(&count_sql)?.query_row(params![start, end, at], |r| r.get(0))?;
        (kvs, count)
    };
    Ok(RangeResponse { more: count > kvs.len() as i64, kvs, count, revision: at })
}

fn collect(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<KeyValue>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params, |r| key_value(r, 0))?;
    let mut kvs = Vec::new();
    for kv in rows {
        kvs.extend(kv?);
    }
    Ok(kvs)
}

/// How many keys start with `prefix` now.
pub(super) fn count(conn: &Connection, prefix: &str) -> Result<i64> {
    let end = interval_end(prefix_end(prefix));
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM live WHERE key >= ?1 AND key < ?2")?
        .query_row(params![prefix, end], |r| r.get(0))?)
}

/// The events under `prefix` with revisions in `from..=to`, oldest first.
pub(super) fn history(
    conn: &Connection,
    prefix: &str,
    from: Revision,
    to: Revision,
    limit: usize,
) -> Result<Vec<Event>> {
    let end = interval_end(prefix_end(prefix));
    let sql = format!(
        "SELECT {}, {} FROM kv k LEFT JOIN kv p ON p.rev = k.prev_rev
         WHERE k.rev >= ?1 AND k.rev <= ?2 AND k.key >= ?3 AND k.key < ?4 ORDER BY k.rev LIMIT ?5",
        columns("k"),
        columns("p")
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![from, to, prefix, end, limit as i64], event)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
