//! Owners the API server said do not exist (upstream's `absentOwnerCache`, a
//! 500-entry LRU): a dependent of an owner found absent once is collected
//! without asking again.

use std::collections::VecDeque;

use super::graph::Identity;

/// How many absent owners are remembered.
pub const CAPACITY: usize = 500;

/// A small least-recently-used set of identities.
#[derive(Debug)]
pub struct AbsentOwners {
    entries: VecDeque<Identity>,
    capacity: usize,
}

impl Default for AbsentOwners {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl AbsentOwners {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: VecDeque::new(), capacity }
    }

    /// Remembers `identity` (only its coordinates and namespace count).
    pub fn add(&mut self, identity: Identity) {
        self.entries.retain(|e| *e != identity);
        self.entries.push_front(identity);
        self.entries.truncate(self.capacity);
    }

    /// Whether `identity` is known absent; a hit makes it the most recently used.
    pub fn has(&mut self, identity: &Identity) -> bool {
        let Some(at) = self.entries.iter().position(|e| e == identity) else { return false };
        if let Some(hit) = self.entries.remove(at) {
            self.entries.push_front(hit);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> Identity {
        Identity {
            kind: "ConfigMap".into(),
            api_version: "v1".into(),
            name: name.into(),
            uid: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted() {
        let mut cache = AbsentOwners::with_capacity(2);
        cache.add(id("a"));
        cache.add(id("b"));
        assert!(cache.has(&id("a")));
        cache.add(id("c"));
        assert!(cache.has(&id("a")) && cache.has(&id("c")));
        assert!(!cache.has(&id("b")));
    }

    #[test]
    fn the_namespace_is_part_of_the_key() {
        let mut cache = AbsentOwners::default();
        cache.add(Identity { namespace: "ns".into(), ..id("a") });
        assert!(!cache.has(&id("a")));
        assert!(cache.has(&Identity { namespace: "ns".into(), ..id("a") }));
    }
}
