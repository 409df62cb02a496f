//! The slices this controller wrote and not yet seen back in its cache
//! (upstream's EndpointSliceTracker): a reconcile that would read a cache
//! missing them could create duplicates, so it reads the API instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// A service, as (namespace, name).
pub type ServiceKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Written at this generation.
    Generation(i64),
    /// Deleted.
    Deletion,
}

/// Per service, what the controller expects of each of its slices (by UID).
#[derive(Debug, Default)]
pub struct SliceTracker {
    services: Mutex<HashMap<ServiceKey, HashMap<String, Expect>>>,
}

impl SliceTracker {
    /// Records a slice as created or updated.
    pub fn written(&self, key: &ServiceKey, slice: &EndpointSlice) {
        let (Some(uid), generation) = (slice.metadata.uid.clone(), slice.metadata.generation.unwrap_or_default())
        else {
            return;
        };
        self.lock().entry(key.clone()).or_default().insert(uid, Expect::Generation(generation));
    }

    /// Records a slice as deleted.
    pub fn deleted(&self, key: &ServiceKey, slice: &EndpointSlice) {
        if let Some(uid) = slice.metadata.uid.clone() {
            self.lock().entry(key.clone()).or_default().insert(uid, Expect::Deletion);
        }
    }

    /// Whether `cached` (the service's slices in the cache) misses a write:
    /// a deleted slice still there, a written one absent or older.
    /// Expected deletions the cache has caught up with are forgotten.
    pub fn stale(&self, key: &ServiceKey, cached: &[Arc<EndpointSlice>]) -> bool {
        let mut services = self.lock();
        let Some(expected) = services.get_mut(key) else { return false };
        let find = |uid: &str| cached.iter().find(|s| s.metadata.uid.as_deref() == Some(uid));
        expected.retain(|uid, expect| *expect != Expect::Deletion || find(uid).is_some());
        let stale = expected.iter().any(|(uid, expect)| match (expect, find(uid)) {
            (Expect::Deletion, Some(_)) => true,
            (Expect::Generation(g), Some(slice)) => slice.metadata.generation.unwrap_or_default() < *g,
            (Expect::Generation(_), None) => true,
            (Expect::Deletion, None) => false,
        });
        if expected.is_empty() {
            services.remove(key);
        }
        stale
    }

    /// Forgets the service (after reading its slices from the API, or its deletion).
    pub fn forget(&self, key: &ServiceKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ServiceKey, HashMap<String, Expect>>> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(uid: &str, generation: i64) -> EndpointSlice {
        let mut slice = EndpointSlice::default();
        slice.metadata.uid = Some(uid.to_owned());
        slice.metadata.generation = Some(generation);
        slice
    }

    #[test]
    fn a_cache_is_stale_until_it_shows_every_write() {
        let tracker = SliceTracker::default();
        let key = ("ns".to_owned(), "web".to_owned());
        assert!(!tracker.stale(&key, &[]));
        tracker.written(&key, &slice("a", 2));
        assert!(tracker.stale(&key, &[]), "the created slice is missing");
        assert!(tracker.stale(&key, &[Arc::new(slice("a", 1))]), "an older generation");
        assert!(!tracker.stale(&key, &[Arc::new(slice("a", 2))]));
        tracker.deleted(&key, &slice("b", 1));
        assert!(tracker.stale(&key, &[Arc::new(slice("a", 2)), Arc::new(slice("b", 1))]), "the deleted slice is there");
        assert!(!tracker.stale(&key, &[Arc::new(slice("a", 2))]));
        tracker.forget(&key);
        assert!(!tracker.stale(&key, &[]));
    }
}
