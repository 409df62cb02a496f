//! The skiff datastore: a [`Backend`] with etcd v3 semantics (one global
//! revision, compare-and-swap on mod revision, ranges at a fixed revision,
//! watches with previous values, compaction, leases), and its backends:
//! embedded SQLite (the default), a real etcd cluster, and memory (for tests).

mod backend;
mod endpoint;
mod error;
mod etcd;
mod kv;
mod memory;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod watch_hub;

pub use backend::{Backend, WatchStream};
pub use endpoint::{Datastore, open};
pub use error::{Error, Result};
pub use etcd::{EtcdBackend, EtcdConfig};
pub use kv::{Event, EventKind, KeyValue, LeaseId, Outcome, RangeRequest, RangeResponse, Revision, prefix_end};
pub use memory::MemoryBackend;
pub use sqlite::{SqliteBackend, SqliteConfig};
