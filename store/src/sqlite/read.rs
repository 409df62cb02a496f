//! Reads: a small pool of read-only connections, each read one snapshot.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use super::rows::{columns, event, key_value};
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
    let sql = format!("SELECT {} FROM kv k WHERE k.key = ?1 AND k.rev <= ?2 ORDER BY k.rev DESC LIMIT 1", columns("k"));
    let mut rows = tx.prepare_cached(&sql)?;
    let mut found = rows.query(params![key, at])?;
    Ok(match found.next()? {
        Some(row) => key_value(row, 0)?,
        None => None,
    })
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
        let latest = "SELECT MAX(rev) AS rev FROM kv WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key";
        let sql = format!(
            "SELECT {cols} FROM kv k JOIN ({latest}) m ON k.rev = m.rev
             WHERE k.deleted = 0 ORDER BY k.key LIMIT ?4"
        );
        let kvs = collect(&tx, &sql, params![start, end, at, limit])?;
        let count_sql = format!("SELECT COUNT(*) FROM kv k JOIN ({latest}) m ON k.rev = m.rev WHERE k.deleted = 0");
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
