//! The [`Backend`] trait: the store interface the API server uses for
//! everything it keeps, with etcd v3 semantics.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;
use crate::kv::{Event, KeyValue, LeaseId, Outcome, RangeRequest, RangeResponse, Revision};

/// A watch: events in revision order with no gap, each with its previous
/// value. It ends with an `Err` item when it cannot continue (for example
/// [`crate::Error::Compacted`]); dropping it cancels the watch.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// A key-value store with etcd v3 semantics.
///
/// Every successful write bumps one global revision; the new revision is the
/// key's mod revision. Guarded writes compare the key's mod revision and
/// report a mismatch as [`Outcome::Conflict`] with the current value, so the
/// caller can retry without reading again. Reads never see a write before it
/// is durable.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The revision of the latest write (0 for an empty store).
    async fn current_revision(&self) -> Result<Revision>;

    /// The oldest revision that can still be read or watched from
    /// (0 if nothing has been compacted).
    async fn compacted_revision(&self) -> Result<Revision>;

    /// The key at the latest revision, or as it was at `revision`.
    /// `Ok(None)`: the key did not exist then. A compacted revision is
    /// [`crate::Error::Compacted`]; a future one [`crate::Error::FutureRevision`].
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>>;

    /// A page of the keys under a prefix in key order. All pages read at the
    /// revision the first page returns are consistent with each other.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// How many keys start with `prefix` at the latest revision.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Creates `key`; returns the new revision, or a conflict carrying the
    /// existing value if the key exists.
    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Outcome<Revision>>;

    /// Replaces `key` if its mod revision is `expected`; returns the new
    /// revision, or a conflict carrying the current value (`None` if the key
    /// does not exist).
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>>;

    /// Deletes `key`, if `expected` is given only when its mod revision
    /// matches; returns the delete's revision and the deleted value, or a
    /// conflict carrying the current value (`None` if the key does not exist).
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Outcome<(Revision, KeyValue)>>;

    /// Watches the keys under `prefix` for changes after revision `after`:
    /// the first event has a revision greater than `after`. Watching from
    /// before the compacted revision fails with [`crate::Error::Compacted`].
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// Discards the versions that were superseded at or before `revision`;
    /// reads and watches from before it then fail with
    /// [`crate::Error::Compacted`]. Returns once the space is reclaimable.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// Grants a lease that expires `ttl` from now (whole seconds, at least 1).
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId>;

    /// Revokes a lease at once, deleting its keys (with delete events).
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()>;
}
