//! The watch cache: per resource, the current objects and the recent
//! changes, kept in memory by one store watch, so that WATCH (and LIST at
//! resourceVersion "0") cost the store nothing however many clients ask.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use skiff_store::{Backend, EventKind, RangeRequest, Revision};
use tokio::sync::watch;

use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};
use crate::storage::decode;

/// Recent changes each cache keeps for watches that resume.
const HISTORY: usize = 4096;
/// Pause before re-listing after the store watch failed.
const RELIST_AFTER: Duration = Duration::from_millis(200);

/// One change, decoded once for every watcher.
#[derive(Debug)]
pub struct Change {
    pub revision: Revision,
    pub kind: EventKind,
    /// The object after the change (for a delete: the last version, with the delete's resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change, if it existed.
    pub old: Option<Arc<Value>>,
}

#[derive(Debug, Default)]
struct State {
    /// The cache reflects the store up to this revision (at least).
    revision: Revision,
    objects: BTreeMap<String, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    /// Changes after this revision are all in `history`.
    history_from: Revision,
}

/// The cache of one resource.
#[derive(Debug)]
pub struct Cache {
    /// The resource whose objects (in its served version) the cache holds.
    resource: Resource,
    prefix: String,
    state: RwLock<State>,
    revision: watch::Sender<Revision>,
}

/// What a resumed watch gets from the cache.
#[derive(Debug)]
pub enum Replay {
    /// The changes after the requested revision (possibly none yet), and the revision they reach.
    Changes(Vec<Arc<Change>>, Revision),
    /// The cache no longer holds changes that old.
    TooOld,
}

impl Cache {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The objects under `prefix` (a namespace's, or all) and the revision they are at.
    pub fn list(&self, prefix: &str) -> (Vec<Arc<Value>>, Revision) {
        let state = self.state();
        let objects = state
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        (objects, state.revision)
    }

    /// The changes after `after`, at most `limit`.
    pub fn changes_after(&self, after: Revision, limit: usize) -> Replay {
        let state = self.state();
        if after < state.history_from {
            return Replay::TooOld;
        }
        let start = state.history.partition_point(|c| c.revision <= after);
        let changes: Vec<Arc<Change>> = state.history.iter().skip(start).take(limit).cloned().collect();
        let reached = changes.last().map_or(state.revision.max(after), |c| c.revision);
        Replay::Changes(changes, reached)
    }

    /// Notified whenever the cache's revision moves.
    pub fn subscribe(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    /// The store key prefix this cache mirrors.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn reset(&self, objects: BTreeMap<String, Arc<Value>>, revision: Revision) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        *state = State { revision, objects, history: VecDeque::new(), history_from: revision };
        drop(state);
        self.revision.send_replace(revision);
    }

    fn apply(&self, event: &skiff_store::Event) -> ApiResult<()> {
        let old = match &event.prev {
            Some(prev) => Some(Arc::new(decode(&self.resource, prev)?)),
            None => None,
        };
        let object = match event.kind {
            EventKind::Put => Arc::new(decode(&self.resource, &event.kv)?),
            EventKind::Delete => {
                let mut last = old.as_deref().cloned().unwrap_or(Value::Null);
                if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("resourceVersion".into(), Value::String(event.revision().to_string()));
                }
                Arc::new(last)
            }
        };
        let change =
            Arc::new(Change { revision: event.revision(), kind: event.kind, object: Arc::clone(&object), old });
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match event.kind {
            EventKind::Put => state.objects.insert(event.kv.key.clone(), object),
            EventKind::Delete => state.objects.remove(&event.kv.key),
        };
        state.revision = change.revision;
        state.history.push_back(change);
        if state.history.len() > HISTORY
            && let Some(dropped) = state.history.pop_front()
        {
            state.history_from = dropped.revision;
        }
        let revision = state.revision;
        drop(state);
        self.revision.send_replace(revision);
        Ok(())
    }
}

/// The caches of every resource, started on first use.
#[derive(Debug)]
pub struct WatchCaches {
    backend: Arc<dyn Backend>,
    /// By group and plural: a stored kind served in two versions has a cache per version.
    caches: Mutex<HashMap<(&'static str, &'static str), Arc<Cache>>>,
}

impl WatchCaches {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend, caches: Mutex::new(HashMap::new()) }
    }

    /// The resource's cache, filled (listed) before it is returned.
    pub async fn get(&self, resource: &Resource) -> ApiResult<Arc<Cache>> {
        let (cache, fresh) = {
            let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
            match caches.get(&(resource.group, resource.plural)) {
                Some(cache) => (Arc::clone(cache), false),
                None => {
                    let cache = Arc::new(Cache {
                        resource: resource.clone(),
                        prefix: resource.prefix(None),
                        state: RwLock::new(State::default()),
                        revision: watch::channel(0).0,
                    });
                    caches.insert((resource.group, resource.plural), Arc::clone(&cache));
                    (cache, true)
                }
            }
        };
        if fresh {
            let backend = Arc::downgrade(&self.backend);
            let filling = Arc::downgrade(&cache);
            tokio::spawn(async move { keep_filled(backend, filling).await });
        }
        // Wait until the first list is in (this or another request started it).
        let mut revision = cache.subscribe();
        while *revision.borrow_and_update() == 0 {
            if tokio::time::timeout(Duration::from_secs(30), revision.changed()).await.is_err() {
                return Err(ApiError::new(504, "Timeout", "Timeout: too long waiting for the watch cache to be ready"));
            }
        }
        Ok(cache)
    }
}

/// Lists the resource, then follows its changes; re-lists if the watch
/// fails. Ends when the cache or the store is gone (the API server was dropped).
async fn keep_filled(backend: std::sync::Weak<dyn Backend>, cache: std::sync::Weak<Cache>) {
    loop {
        let (Some(backend), Some(cache)) = (backend.upgrade(), cache.upgrade()) else { return };
        let page = match backend.range(RangeRequest::prefix(cache.prefix.clone())).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(prefix = cache.prefix, %error, "watch cache list failed");
                tokio::time::sleep(RELIST_AFTER).await;
                continue;
            }
        };
        let objects = page
            .kvs
            .iter()
            .filter_map(|kv| decode(&cache.resource, kv).ok().map(|o| (kv.key.clone(), Arc::new(o))))
            .collect();
        cache.reset(objects, page.revision.max(1));
        let mut events = match backend.watch(&cache.prefix, page.revision).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(prefix = cache.prefix, %error, "watch cache watch failed");
                tokio::time::sleep(RELIST_AFTER).await;
                continue;
            }
        };
        // Only the stream is held while waiting: it ends when the store is dropped.
        drop(backend);
        let cache = Arc::downgrade(&cache);
        while let Some(event) = events.next().await {
            let Some(cache) = cache.upgrade() else { return };
            let applied = event.map_err(ApiError::from).and_then(|event| cache.apply(&event));
            if let Err(error) = applied {
                tracing::warn!(prefix = cache.prefix, error = %error.message, "watch cache re-lists");
                break;
            }
        }
        tokio::time::sleep(RELIST_AFTER).await;
    }
}
