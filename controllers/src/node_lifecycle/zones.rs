//! Zones and the pace of NoExecute tainting (upstream's zone states and
//! RateLimitedTimedQueue): nodes are tainted at most `qps` per second per
//! zone, slower when a zone is partly down, and not at all when every zone
//! is fully down (the control plane is then more likely cut off than every node dead).

use std::collections::{HashSet, VecDeque};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;

/// A zone's health, as upstream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Initial,
    Normal,
    FullDisruption,
    PartialDisruption,
}

/// A node's zone: region and zone labels (empty for nodes without them).
pub fn zone_key(node: &Node) -> String {
    let labels = node.labels();
    let label = |stable: &str, beta: &str| labels.get(stable).or_else(|| labels.get(beta)).cloned().unwrap_or_default();
    let region = label("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region");
    let zone = label("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone");
    if region.is_empty() && zone.is_empty() { String::new() } else { format!("{region}:\x00:{zone}") }
}

/// A zone's state from its nodes' Ready statuses (`None`: no Ready
/// condition): fully disrupted when none is ready, partly when more than
/// two and at least `threshold` of them are not; with the not-ready count.
pub fn zone_state(ready: &[Option<&str>], threshold: f32) -> (usize, ZoneState) {
    let not_ready = ready.iter().filter(|s| **s != Some("True")).count();
    let ready_count = ready.len() - not_ready;
    let state = if ready_count == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f32 / ready.len() as f32 >= threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (not_ready, state)
}

/// A token bucket of one token (upstream's burst for evictions).
#[derive(Debug, Clone)]
struct Limiter {
    qps: f32,
    tokens: f64,
    last: Option<Timestamp>,
}

impl Limiter {
    fn new(qps: f32) -> Self {
        Self { qps, tokens: 1.0, last: None }
    }

    fn try_accept(&mut self, now: Timestamp) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        if let Some(last) = self.last {
            let elapsed = now.duration_since(last).as_secs_f64().max(0.0);
            self.tokens = (self.tokens + elapsed * f64::from(self.qps)).min(1.0);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        false
    }
}

/// A node waiting to be tainted.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub name: String,
    pub uid: String,
    process_at: Timestamp,
}

/// The nodes of one zone waiting for a NoExecute taint, taken at a limited rate.
/// A node once added stays known (and is not added again) until removed.
#[derive(Debug, Clone)]
pub struct TaintQueue {
    queue: VecDeque<Queued>,
    known: HashSet<String>,
    limiter: Limiter,
}

impl TaintQueue {
    pub fn new(qps: f32) -> Self {
        Self { queue: VecDeque::new(), known: HashSet::new(), limiter: Limiter::new(qps) }
    }

    /// Queues a node unless it is known; whether it was queued.
    pub fn add(&mut self, name: &str, uid: &str, now: Timestamp) -> bool {
        if !self.known.insert(name.to_owned()) {
            return false;
        }
        self.queue.push_back(Queued { name: name.to_owned(), uid: uid.to_owned(), process_at: now });
        true
    }

    /// Forgets a node (it may be added again); whether it was known.
    pub fn remove(&mut self, name: &str) -> bool {
        self.queue.retain(|q| q.name != name);
        self.known.remove(name)
    }

    /// The next node to handle now, if the rate allows one and one is due.
    pub fn next_due(&mut self, now: Timestamp) -> Option<Queued> {
        let head = self.queue.front()?.clone();
        if !self.limiter.try_accept(now) || now < head.process_at {
            return None;
        }
        Some(head)
    }

    /// The node was handled: out of the queue (still known).
    pub fn done(&mut self, name: &str) {
        self.queue.retain(|q| q.name != name);
    }

    /// The node is tried again after `wait`.
    pub fn retry(&mut self, name: &str, now: Timestamp, wait: SignedDuration) {
        if let Some(index) = self.queue.iter().position(|q| q.name == name)
            && let Some(mut item) = self.queue.remove(index)
        {
            item.process_at = now + wait + SignedDuration::from_nanos(1);
            self.queue.push_back(item);
        }
    }

    /// Changes the rate (0 stops tainting).
    pub fn set_rate(&mut self, qps: f32) {
        if (self.limiter.qps - qps).abs() > f32::EPSILON {
            self.limiter = Limiter::new(qps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_fully_disrupted_without_ready_nodes_and_partly_past_the_threshold() {
        let t = Some("True");
        let f = Some("False");
        let u = Some("Unknown");
        assert_eq!(zone_state(&[t, t, f], 0.55), (1, ZoneState::Normal));
        assert_eq!(zone_state(&[f, u, None], 0.55), (3, ZoneState::FullDisruption));
        assert_eq!(zone_state(&[t, f, u, f], 0.55), (3, ZoneState::PartialDisruption));
        assert_eq!(zone_state(&[t, t, f, u, f, t, t], 0.55), (3, ZoneState::Normal));
        assert_eq!(zone_state(&[t, f, f], 0.55), (2, ZoneState::Normal), "two down is never partial");
        assert_eq!(zone_state(&[], 0.55), (0, ZoneState::Normal));
    }

    #[test]
    fn the_zone_key_joins_region_and_zone() {
        let node = |labels: serde_json::Value| -> Node {
            serde_json::from_value(serde_json::json!({ "metadata": { "labels": labels } })).expect("node")
        };
        assert_eq!(zone_key(&node(serde_json::json!({}))), "");
        let both =
            node(serde_json::json!({ "topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z" }));
        assert_eq!(zone_key(&both), "r:\x00:z");
        assert_eq!(zone_key(&node(serde_json::json!({ "failure-domain.beta.kubernetes.io/zone": "b" }))), ":\x00:b");
    }

    #[test]
    fn nodes_are_taken_at_the_rate_and_once_until_removed() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let at = |secs: i64| start + SignedDuration::from_secs(secs);
        let mut queue = TaintQueue::new(0.1);
        assert!(queue.add("a", "1", start));
        assert!(queue.add("b", "2", start));
        assert!(!queue.add("a", "1", start), "already queued");
        assert_eq!(queue.next_due(start).map(|q| q.name), Some("a".to_owned()));
        queue.done("a");
        assert!(!queue.add("a", "1", start), "handled nodes stay known");
        assert_eq!(queue.next_due(at(5)), None, "one per ten seconds");
        assert_eq!(queue.next_due(at(15)).map(|q| q.name), Some("b".to_owned()));
        queue.retry("b", at(15), SignedDuration::from_millis(50));
        assert_eq!(queue.next_due(at(26)).map(|q| q.name), Some("b".to_owned()));
        assert!(queue.remove("a"));
        assert!(queue.add("a", "1", at(30)));
        queue.set_rate(0.0);
        assert_eq!(queue.next_due(at(100)), None, "a zero rate stops tainting");
    }
}
