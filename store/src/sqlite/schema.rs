//! The SQLite file: connections, pragmas and the tables.
//!
//! `kv` is the append-only log of every version (row id = revision), each
//! row pointing at the version it replaced (`prev_rev`); `live` maps each
//! existing key to its latest revision; `meta` holds the counters, `leases`
//! the granted leases. There is deliberately no index on `kv (key, rev)`:
//! every write would then dirty a second randomly placed page, which halved
//! group-commit throughput. Past versions are found through `prev_rev`
//! from the changes after the revision asked for.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::kv::Revision;

/// `meta` names.
pub(super) const CURRENT_REV: &str = "current_rev";
pub(super) const COMPACT_REV: &str = "compact_rev";
/// How far compaction has physically deleted rows (it lags `compact_rev`).
pub(super) const COMPACT_CURSOR: &str = "compact_cursor";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS live (
    key TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS live_lease ON live (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_ms);
";

fn open_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::OpenSqlite { path: path.display().to_string(), source }
}

/// Opens (creating if needed) the writer's connection, sets the durability
/// pragmas, checks the file's integrity and creates the tables.
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let err = open_error(path);
    let conn = Connection::open(path).map_err(&err)?;
    // auto_vacuum must be chosen before the first table exists.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;").map_err(&err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::CorruptSqlite {
            path: path.display().to_string(),
            detail: format!("journal mode {mode}, not WAL"),
        });
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA journal_size_limit = 16777216;
         PRAGMA cache_size = -65536;
         PRAGMA mmap_size = 268435456;
         PRAGMA foreign_keys = OFF;",
    )
    .map_err(&err)?;
    // The writer is the only writing connection: it never waits for a lock
    // except a checkpoint's wait for readers, which must stay short.
    conn.busy_timeout(Duration::from_millis(200)).map_err(&err)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(&err)?;
    if check != "ok" {
        return Err(Error::CorruptSqlite { path: path.display().to_string(), detail: check });
    }
    conn.execute_batch(SCHEMA).map_err(&err)?;
    Ok(conn)
}

/// Opens a connection for reads only.
pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let err = open_error(path);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(&err)?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA mmap_size = 268435456;").map_err(&err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(&err)?;
    Ok(conn)
}

/// Reads a `meta` counter (0 if unset).
pub(super) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<Revision> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
        .optional()
        .map(Option::unwrap_or_default)
}

/// Sets a `meta` counter.
pub(super) fn set_meta(conn: &Connection, name: &str, value: Revision) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, value])?;
    Ok(())
}
