//! An in-memory backend with the same semantics, for fast tests of the
//! crates above the store. Nothing is durable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{Backend, WatchStream};
use crate::error::{Error, Result};
use crate::kv::{Event, EventKind, KeyValue, LeaseId, Outcome, RangeRequest, RangeResponse, Revision};
use crate::watch_hub::{History, WatchHub};

/// Recent events the memory backend's watch hub keeps (older ones come from its log).
const WATCH_CACHE_EVENTS: usize = 10_000;

/// The in-memory backend.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    hub: Arc<WatchHub>,
}

#[derive(Debug, Default)]
struct State {
    current: Revision,
    compacted: Revision,
    /// Every version of every key not yet compacted; `None` is a delete.
    versions: BTreeMap<String, Vec<(Revision, Option<KeyValue>)>>,
    /// The events after `compacted`, oldest first.
    log: VecDeque<Event>,
    leases: HashMap<LeaseId, Vec<String>>,
    next_lease: LeaseId,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        let inner = Inner { state: Mutex::new(State::default()), hub: Arc::new(WatchHub::new(0, WATCH_CACHE_EVENTS)) };
        Self { inner: Arc::new(inner) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state()
    }

    /// Applies a write under the lock and publishes its events in order.
    fn write<T>(&self, apply: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut state = self.state();
        let before = state.log.len();
        let out = apply(&mut state)?;
        let events: Vec<Event> = state.log.iter().skip(before).cloned().collect();
        self.inner.hub.publish(events);
        Ok(out)
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn latest(&self, key: &str) -> Option<&KeyValue> {
        self.versions.get(key)?.last()?.1.as_ref()
    }

    fn at(&self, key: &str, revision: Revision) -> Option<&KeyValue> {
        let versions = self.versions.get(key)?;
        versions.iter().rev().find(|(rev, _)| *rev <= revision)?.1.as_ref()
    }

    fn readable(&self, requested: Option<Revision>) -> Result<Revision> {
        match requested {
            None | Some(0) => Ok(self.current),
            Some(r) if r < self.compacted => Err(Error::Compacted { requested: r, compacted: self.compacted }),
            Some(r) if r > self.current => Err(Error::FutureRevision { requested: r, current: self.current }),
            Some(r) => Ok(r),
        }
    }

    fn check_lease(&self, lease: Option<LeaseId>) -> Result<()> {
        match lease {
            Some(id) if !self.leases.contains_key(&id) => Err(Error::LeaseNotFound(id)),
            _ => Ok(()),
        }
    }

    fn put(&mut self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Revision {
        self.current += 1;
        let rev = self.current;
        let prev = self.latest(key).cloned();
        let kv = KeyValue {
            key: key.to_owned(),
            value,
            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            lease,
        };
        if let Some(id) = lease {
            self.leases.entry(id).or_default().push(key.to_owned());
        }
        self.versions.entry(key.to_owned()).or_default().push((rev, Some(kv.clone())));
        self.log.push_back(Event { kind: EventKind::Put, kv, prev });
        rev
    }

    fn delete(&mut self, prev: KeyValue) -> (Revision, KeyValue) {
        self.current += 1;
        let rev = self.current;
        self.versions.entry(prev.key.clone()).or_default().push((rev, None));
        self.log.push_back(Event::deleted(prev.clone(), rev));
        (rev, prev)
    }

    fn revoke(&mut self, lease: LeaseId) -> Result<()> {
        let keys = self.leases.remove(&lease).ok_or(Error::LeaseNotFound(lease))?;
        for key in keys {
            if let Some(kv) = self.latest(&key).filter(|kv| kv.lease == Some(lease)).cloned() {
                self.delete(kv);
            }
        }
        Ok(())
    }

    fn compact(&mut self, revision: Revision) {
        if revision <= self.compacted {
            return;
        }
        self.compacted = revision;
        self.versions.retain(|_, versions| {
            // Keep the version current at `revision` (unless deleted) and all later ones.
            let first_kept = versions.iter().rposition(|(rev, _)| *rev <= revision).unwrap_or(0);
            versions.drain(..first_kept);
            if versions.first().is_some_and(|(rev, kv)| *rev <= revision && kv.is_none()) {
                versions.remove(0);
            }
            !versions.is_empty()
        });
        while self.log.front().is_some_and(|e| e.revision() <= revision) {
            self.log.pop_front();
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.state().current)
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.state().compacted)
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>> {
        let state = self.state();
        let at = state.readable(revision)?;
        Ok(state.at(key, at).cloned())
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let state = self.state();
        let at = state.readable(request.revision)?;
        let (start, end) = request.interval();
        let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end) };
        let limit = request.limit.unwrap_or(usize::MAX);
        let mut kvs = Vec::new();
        let mut count = 0;
        for key in state.versions.range::<String, _>((Bound::Included(start), upper)).map(|(k, _)| k) {
            if let Some(kv) = state.at(key, at) {
                count += 1;
                if kvs.len() < limit {
                    kvs.push(kv.clone());
                }
            }
        }
        Ok(RangeResponse { more: count > kvs.len() as i64, kvs, count, revision: at })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let response = self.range(RangeRequest::prefix(prefix).limit(0)).await?;
        Ok(response.count)
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Outcome<Revision>> {
        self.write(|state| {
            if let Some(current) = state.latest(key) {
                return Ok(Outcome::Conflict { current: Some(current.clone()) });
            }
            state.check_lease(lease)?;
            Ok(Outcome::Applied(state.put(key, value, lease)))
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>> {
        self.write(|state| match state.latest(key) {
            Some(current) if current.mod_revision == expected => {
                state.check_lease(lease)?;
                Ok(Outcome::Applied(state.put(key, value, lease)))
            }
            current => Ok(Outcome::Conflict { current: current.cloned() }),
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Outcome<(Revision, KeyValue)>> {
        self.write(|state| match state.latest(key) {
            Some(current) if expected.is_none_or(|e| e == current.mod_revision) => {
                let current = current.clone();
                Ok(Outcome::Applied(state.delete(current)))
            }
            current => Ok(Outcome::Conflict { current: current.cloned() }),
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let history = Arc::new(MemoryHistory(Arc::downgrade(&self.inner)));
        self.inner.hub.watch(history, prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.state();
        if revision > state.current {
            return Err(Error::FutureRevision { requested: revision, current: state.current });
        }
        state.compact(revision);
        Ok(())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let id = {
            let mut state = self.state();
            state.next_lease += 1;
            let id = state.next_lease;
            state.leases.insert(id, Vec::new());
            id
        };
        let ttl = Duration::from_secs(ttl.as_secs_f64().ceil().max(1.0) as u64);
        let backend = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            if let Some(inner) = backend.upgrade() {
                let expired = MemoryBackend { inner };
                // Already revoked is fine.
                let _ = expired.write(|state| state.revoke(id));
            }
        });
        Ok(id)
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.write(|state| state.revoke(lease))
    }
}

/// The memory backend's own log as watch history.
#[derive(Debug)]
struct MemoryHistory(Weak<Inner>);

#[async_trait]
impl History for MemoryHistory {
    async fn events(&self, prefix: &str, from: Revision, to: Revision, limit: usize) -> Result<Vec<Event>> {
        let inner = self.0.upgrade().ok_or(Error::Closed)?;
        let state = inner.state();
        // The log holds every revision after the compacted one, in order.
        let skip = state.log.front().map_or(0, |first| (from - first.revision()).max(0) as usize);
        let events = state.log.iter().skip(skip).take_while(|e| e.revision() <= to);
        Ok(events.filter(|e| e.kv.key.starts_with(prefix)).take(limit).cloned().collect())
    }

    async fn compacted(&self) -> Result<Revision> {
        let inner = self.0.upgrade().ok_or(Error::Closed)?;
        Ok(inner.state().compacted)
    }
}
