//! Reading `kv` rows back as [`KeyValue`]s and events.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::kv::{Event, EventKind, KeyValue, Revision};

/// The `kv` columns [`key_value`] reads, in order (with a table alias prefix).
pub(super) fn columns(alias: &str) -> String {
    ["rev", "key", "deleted", "create_rev", "version", "lease", "value"].map(|c| format!("{alias}.{c}")).join(", ")
}

/// A version read from the columns of [`columns`] starting at `at`; `None`
/// for a tombstone or a NULL outer-join row.
pub(super) fn key_value(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<KeyValue>> {
    let Some(mod_revision) = row.get::<_, Option<Revision>>(at)? else {
        return Ok(None);
    };
    if row.get::<_, bool>(at + 2)? {
        return Ok(None);
    }
    Ok(Some(KeyValue {
        key: row.get(at + 1)?,
        value: Bytes::from(row.get::<_, Vec<u8>>(at + 6)?),
        create_revision: row.get(at + 3)?,
        mod_revision,
        version: row.get(at + 4)?,
        lease: Some(row.get::<_, i64>(at + 5)?).filter(|l| *l != 0),
    }))
}

/// The version of `key` at revision `rev` (a live row, or `None`).
pub(super) fn version_at(conn: &Connection, rev: Revision) -> rusqlite::Result<Option<KeyValue>> {
    let sql = format!("SELECT {} FROM kv k WHERE k.rev = ?1", columns("k"));
    Ok(conn.prepare_cached(&sql)?.query_row([rev], |r| key_value(r, 0)).optional()?.flatten())
}

/// The event a `kv` row records, with its previous version.
pub(super) fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    let prev = key_value(row, 7)?;
    match key_value(row, 0)? {
        Some(kv) => Ok(Event { kind: EventKind::Put, kv, prev }),
        None => Ok(Event { kind: EventKind::Delete, kv: KeyValue::tombstone(row.get(1)?, row.get(0)?), prev }),
    }
}
