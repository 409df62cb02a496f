//! The values that cross the [`crate::Backend`] interface.

use bytes::Bytes;

/// A store revision: the global counter bumped by every write. Kubernetes'
/// `resourceVersion` is a key's mod revision.
pub type Revision = i64;

/// A lease handle; keys attached to a lease are deleted when it expires.
pub type LeaseId = i64;

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key (reset by a delete).
    pub create_revision: Revision,
    /// Revision of the write that produced this version.
    pub mod_revision: Revision,
    /// Writes to the key since its creation, starting at 1.
    pub version: i64,
    /// The lease the key is attached to, if any.
    pub lease: Option<LeaseId>,
}

impl KeyValue {
    /// What a delete event reports as the key: no value, the delete's revision.
    pub fn tombstone(key: String, revision: Revision) -> Self {
        KeyValue { key, value: Bytes::new(), create_revision: 0, mod_revision: revision, version: 0, lease: None }
    }
}

/// The result of a guarded write: a failed compare-and-swap is a value, not
/// an error, and carries what the key holds now (`None`: it does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Outcome<T> {
    Applied(T),
    Conflict { current: Option<KeyValue> },
}

impl<T> Outcome<T> {
    /// The applied value, or `None` on conflict.
    pub fn applied(self) -> Option<T> {
        match self {
            Outcome::Applied(t) => Some(t),
            Outcome::Conflict { .. } => None,
        }
    }
}

/// What a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change of one key. For a delete, `kv` holds the key with an empty
/// value and the delete's revision as its mod revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The version the change replaced; always present for deletes.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The event of deleting `prev` at `revision`.
    pub fn deleted(prev: KeyValue, revision: Revision) -> Self {
        Event { kind: EventKind::Delete, kv: KeyValue::tombstone(prev.key.clone(), revision), prev: Some(prev) }
    }

    /// The revision of the write this event reports.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A range over the keys that start with `prefix`, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeRequest {
    pub prefix: String,
    /// First key to return (inclusive), for paging; must start with `prefix`.
    pub start: Option<String>,
    /// At most this many keys; `None` for all.
    pub limit: Option<usize>,
    /// Read the store as it was at this revision; `None` for the latest.
    pub revision: Option<Revision>,
}

impl RangeRequest {
    /// All keys under `prefix`, at the latest revision.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), ..Self::default() }
    }

    /// Start at `key` (inclusive).
    pub fn start(mut self, key: impl Into<String>) -> Self {
        self.start = Some(key.into());
        self
    }

    /// Return at most `limit` keys.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Read at `revision`.
    pub fn at(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    /// The half-open key interval `[start, end)` the request covers.
    pub(crate) fn interval(&self) -> (String, String) {
        let start = match &self.start {
            Some(s) if s.as_str() > self.prefix.as_str() => s.clone(),
            _ => self.prefix.clone(),
        };
        (start, prefix_end(&self.prefix))
    }
}

/// A page of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// Whether keys beyond this page exist at the same revision.
    pub more: bool,
    /// How many keys the interval holds in all, this page included.
    pub count: i64,
    /// The revision the range was read at; pass it to read the next page.
    pub revision: Revision,
}

/// The smallest string greater than every string with `prefix` (etcd's
/// range end for a prefix); empty for an empty prefix, meaning "no end".
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_character() {
        assert_eq!(prefix_end("/registry/pods/"), "/registry/pods0");
        assert_eq!(prefix_end("a"), "b");
        assert_eq!(prefix_end(""), "");
    }

    #[test]
    fn range_interval_starts_at_the_later_of_prefix_and_start() {
        let r = RangeRequest::prefix("/a/").start("/a/k");
        assert_eq!(r.interval(), ("/a/k".to_string(), "/a0".to_string()));
        let r = RangeRequest::prefix("/a/").start("/");
        assert_eq!(r.interval(), ("/a/".to_string(), "/a0".to_string()));
    }
}
