//! The store's errors.

use crate::kv::Revision;

/// Why a store operation failed. Compare-and-swap conflicts are not errors
/// (see [`crate::Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested revision was compacted away; the API server answers 410 Gone.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is newer than the store.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// The lease does not exist (never granted, revoked or expired).
    #[error("lease {0} not found")]
    LeaseNotFound(i64),
    /// The datastore endpoint could not be understood.
    #[error("invalid datastore endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// Opening the SQLite file failed (missing directory, not a database, corrupt).
    #[error("cannot open SQLite datastore {path}")]
    OpenSqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite file is damaged or not usable as a datastore.
    #[error("SQLite datastore {path} is corrupt: {detail}")]
    CorruptSqlite { path: String, detail: String },
    /// A statement on the SQLite datastore failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// No etcd endpoint answered within the retries.
    #[error("etcd at {endpoints} is unreachable after {attempts} attempts")]
    EtcdUnreachable {
        endpoints: String,
        attempts: u32,
        #[source]
        source: etcd_client::Error,
    },
    /// An etcd request failed.
    #[error(transparent)]
    Etcd(#[from] etcd_client::Error),
    /// A key or value read back from etcd is not what skiff stores.
    #[error("etcd returned a key that is not UTF-8: {0:?}")]
    NonUtf8Key(Vec<u8>),
    /// The backend has shut down (its writer stopped).
    #[error("the datastore is closed")]
    Closed,
    /// A filesystem operation on the datastore failed.
    #[error("datastore I/O on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The message with its causes, each once: `cannot open ...: file is not a database`.
    pub fn chain(&self) -> String {
        let mut message = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            let text = err.to_string();
            if !message.contains(&text) && !text.contains(message.rsplit(": ").next().unwrap_or_default()) {
                message = format!("{message}: {text}");
            }
            cause = err.source();
        }
        message
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
