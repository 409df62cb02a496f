//! The scheduling queue, in kube-scheduler's shape: an active queue ordered
//! by priority then arrival, a back-off queue for pods that failed recently,
//! and the unschedulable pods that wait for the cluster to change.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

/// Back-off after the first failed attempt (upstream's podInitialBackoffSeconds).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest back-off (podMaxBackoffSeconds).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried at least this often (podMaxInUnschedulablePodsDuration).
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// A pod waiting to be scheduled.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub uid: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it last entered the queue (for the order among equal priorities).
    pub added: Instant,
    /// When its last attempt failed.
    pub failed_at: Option<Instant>,
}

impl QueuedPod {
    pub fn new(pod: Arc<Pod>) -> Self {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        Self { pod, uid, attempts: 0, added: Instant::now(), failed_at: None }
    }

    fn priority(&self) -> i32 {
        self.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
    }

    /// When its back-off ends: 1 s doubling per failed attempt, at most 10 s.
    pub fn backoff_until(&self) -> Option<Instant> {
        let failed = self.failed_at?;
        let doublings = self.attempts.saturating_sub(1).min(16);
        Some(failed + (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF))
    }
}

/// Order in the active queue: higher priority first, then earlier arrival.
type ActiveKey = (i32, Reverse<Instant>, Reverse<u64>);

/// The three queues; every pod is in at most one of them.
#[derive(Debug, Default)]
pub struct Queue {
    active: BinaryHeap<(ActiveKey, String)>,
    backoff: BTreeMap<(Instant, u64), String>,
    unschedulable: HashMap<String, Instant>,
    /// The pods queued, by UID (the entries above refer to these).
    pods: HashMap<String, (QueuedPod, u64)>,
    sequence: u64,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn push_active(&mut self, pod: QueuedPod) {
        let sequence = self.next_sequence();
        let key = (pod.priority(), Reverse(pod.added), Reverse(sequence));
        self.active.push((key, pod.uid.clone()));
        self.pods.insert(pod.uid.clone(), (pod, sequence));
    }

    /// A new pending pod, or a newer version of one queued (which keeps its place and attempts
    /// but goes back to the active queue if it was waiting, as an update may make it schedulable).
    pub fn add_or_update(&mut self, pod: Arc<Pod>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match self.pods.get_mut(&uid) {
            Some((queued, _)) => {
                let changed = queued.pod.spec != pod.spec || queued.pod.metadata.labels != pod.metadata.labels;
                queued.pod = pod;
                if changed && self.unschedulable.remove(&uid).is_some() {
                    self.requeue(&uid, Instant::now());
                }
            }
            None => self.push_active(QueuedPod::new(pod)),
        }
    }

    /// Forgets a pod (deleted, or bound by someone else).
    pub fn remove(&mut self, uid: &str) {
        self.pods.remove(uid);
        self.unschedulable.remove(uid);
        // Entries left in the heaps are skipped when popped.
    }

    /// The next pod to schedule, moving pods whose back-off ended first.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        while let Some((_, uid)) = self.active.pop() {
            if let Some((pod, _)) = self.pods.remove(&uid) {
                return Some(pod);
            }
        }
        None
    }

    /// When the next back-off ends (to wake up for it).
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.keys().next().map(|(at, _)| *at)
    }

    /// A pod whose attempt failed: waits for a cluster change (unschedulable) or its back-off (errors).
    pub fn failed(&mut self, mut pod: QueuedPod, unschedulable: bool, now: Instant) {
        pod.attempts += 1;
        pod.failed_at = Some(now);
        let uid = pod.uid.clone();
        let sequence = self.next_sequence();
        if unschedulable {
            self.unschedulable.insert(uid.clone(), now);
        } else if let Some(until) = pod.backoff_until() {
            self.backoff.insert((until, sequence), uid.clone());
        }
        self.pods.insert(uid, (pod, sequence));
    }

    /// The cluster changed in a way that may let waiting pods fit: they go
    /// to the back-off queue, or straight to the active one if their back-off is over.
    pub fn move_all_unschedulable(&mut self) {
        let waiting: Vec<String> = self.unschedulable.drain().map(|(uid, _)| uid).collect();
        let now = Instant::now();
        for uid in waiting {
            self.requeue(&uid, now);
        }
    }

    fn requeue(&mut self, uid: &str, now: Instant) {
        let Some((pod, _)) = self.pods.remove(uid) else { return };
        match pod.backoff_until().filter(|until| *until > now) {
            Some(until) => {
                let sequence = self.next_sequence();
                self.backoff.insert((until, sequence), uid.to_owned());
                self.pods.insert(uid.to_owned(), (pod, sequence));
            }
            None => self.push_active(pod),
        }
    }

    /// Moves pods whose back-off ended to the active queue, and pods
    /// unschedulable for too long back into play.
    fn flush(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= MAX_UNSCHEDULABLE)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in stale {
            self.unschedulable.remove(&uid);
            self.requeue(&uid, now);
        }
        while let Some(entry) = self.backoff.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, sequence), uid) = entry.remove_entry();
            if let Some((pod, current)) = self.pods.remove(&uid) {
                if current == sequence {
                    self.push_active(pod);
                } else {
                    self.pods.insert(uid, (pod, current));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, priority: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": { "name": name, "uid": name },
                "spec": { "containers": [{ "name": "c" }], "priority": priority },
            }))
            .expect("pod"),
        )
    }

    #[test]
    fn higher_priority_first_then_arrival() {
        let mut queue = Queue::default();
        queue.add_or_update(pod("low", 0));
        queue.add_or_update(pod("high", 100));
        queue.add_or_update(pod("low2", 0));
        let now = Instant::now();
        let order: Vec<String> = std::iter::from_fn(|| queue.pop(now)).map(|p| p.uid).collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_then_their_backoff() {
        let mut queue = Queue::default();
        queue.add_or_update(pod("p", 0));
        let now = Instant::now();
        let popped = queue.pop(now).expect("p");
        queue.failed(popped, true, now);
        assert!(queue.pop(now + Duration::from_secs(60)).is_none(), "waits for a cluster change");
        queue.move_all_unschedulable();
        assert!(queue.pop(now).is_none(), "still backing off");
        let retried = queue.pop(now + INITIAL_BACKOFF).expect("back after 1 s");
        assert_eq!(retried.attempts, 1);
        queue.failed(retried, false, now);
        assert_eq!(queue.next_backoff(), Some(now + INITIAL_BACKOFF * 2), "doubles");
        queue.remove("p");
        assert!(queue.pop(now + MAX_BACKOFF).is_none() && queue.is_empty());
    }

    #[test]
    fn unschedulable_pods_come_back_after_five_minutes() {
        let mut queue = Queue::default();
        queue.add_or_update(pod("p", 0));
        let now = Instant::now();
        let popped = queue.pop(now).expect("p");
        queue.failed(popped, true, now);
        assert!(queue.pop(now + MAX_UNSCHEDULABLE).is_some());
    }
}
