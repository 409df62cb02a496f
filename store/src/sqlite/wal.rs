//! Keeping the WAL bounded. SQLite's automatic checkpoints are passive: with
//! readers always active (as an API server's are) the WAL can never be reset
//! and grows without limit. So when it passes a size, the writer forces a
//! truncating checkpoint, which waits briefly for the readers of older
//! snapshots to finish.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// WAL size that triggers a truncating checkpoint.
const LIMIT_BYTES: u64 = 16 * 1024 * 1024;
/// After a checkpoint that readers blocked, wait this long before trying again.
const BACKOFF: Duration = Duration::from_millis(100);

/// Watches the WAL file's size after commits.
#[derive(Debug)]
pub(super) struct WalLimit {
    wal: PathBuf,
    retry_at: Option<Instant>,
}

impl WalLimit {
    /// For the database at `db`.
    pub(super) fn new(db: &std::path::Path) -> Self {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Self { wal: wal.into(), retry_at: None }
    }

    /// Checkpoints and truncates the WAL if it has grown past the limit.
    pub(super) fn after_commit(&mut self, conn: &Connection) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let size = std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size < LIMIT_BYTES {
            return;
        }
        self.retry_at = (!checkpoint(conn)).then(|| Instant::now() + BACKOFF);
    }
}

/// Copies the WAL into the database and truncates it; `false` if readers of
/// older snapshots kept it from finishing (it is then retried later).
pub(super) fn checkpoint(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => true,
        Ok(_) => {
            tracing::debug!("WAL checkpoint deferred: readers are active");
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, "WAL checkpoint failed");
            false
        }
    }
}
