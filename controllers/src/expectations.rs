//! Expectations (upstream's ControllerExpectations, tracked by name and UID):
//! the children a controller created or deleted that its watch caches do not
//! show yet. Until they do, the controller must not act on the stale cache,
//! or a burst of events would make it create or delete twice.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Expectations older than this are dropped (a lost watch event cannot wedge a controller).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Pending {
    /// Names of children created but not seen yet.
    creations: HashSet<String>,
    /// UIDs of children deleted but still seen.
    deletions: HashSet<String>,
    since: Instant,
}

/// Per owner key (`namespace/name`), what is still expected.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Pending>) -> R) -> R {
        f(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn entry<'a>(map: &'a mut HashMap<String, Pending>, key: &str) -> &'a mut Pending {
        map.entry(key.to_owned()).or_insert_with(|| Pending {
            creations: HashSet::new(),
            deletions: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// A child named `name` was created.
    pub fn created(&self, key: &str, name: &str) {
        self.with(|map| {
            let pending = Self::entry(map, key);
            pending.creations.insert(name.to_owned());
            pending.since = Instant::now();
        });
    }

    /// The child with this UID was deleted (or its deletion requested).
    pub fn deleted(&self, key: &str, uid: &str) {
        self.with(|map| {
            let pending = Self::entry(map, key);
            pending.deletions.insert(uid.to_owned());
            pending.since = Instant::now();
        });
    }

    /// Whether the cache has caught up: every created name is `seen_name`
    /// and no deleted UID is still `present_uid` (live, not terminating).
    /// Met (and expired) expectations are forgotten.
    pub fn satisfied(&self, key: &str, seen_name: impl Fn(&str) -> bool, present_uid: impl Fn(&str) -> bool) -> bool {
        self.with(|map| {
            let Some(pending) = map.get_mut(key) else { return true };
            pending.creations.retain(|name| !seen_name(name));
            pending.deletions.retain(|uid| present_uid(uid));
            let done = (pending.creations.is_empty() && pending.deletions.is_empty())
                || pending.since.elapsed() > EXPECTATIONS_TIMEOUT;
            if done {
                map.remove(key);
            }
            done
        })
    }

    /// Forgets the owner (it was deleted).
    pub fn forget(&self, key: &str) {
        self.with(|map| map.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_hold_until_the_cache_shows_every_change() {
        let expectations = Expectations::default();
        assert!(expectations.satisfied("ns/rs", |_| false, |_| true), "nothing expected");
        expectations.created("ns/rs", "rs-a");
        expectations.created("ns/rs", "rs-b");
        expectations.deleted("ns/rs", "uid-old");
        assert!(!expectations.satisfied("ns/rs", |n| n == "rs-a", |_| true), "rs-b not seen yet");
        assert!(!expectations.satisfied("ns/rs", |n| n == "rs-b", |u| u == "uid-old"), "uid-old still there");
        assert!(expectations.satisfied("ns/rs", |_| false, |_| false), "rs-a and rs-b were seen before");
        expectations.created("ns/other", "x");
        expectations.forget("ns/other");
        assert!(expectations.satisfied("ns/other", |_| false, |_| false));
    }
}
