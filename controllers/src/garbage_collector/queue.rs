//! A work queue as client-go's rate-limited workqueue: an item is queued
//! at most once, is never handed to two workers at a time (one added while
//! it is being processed is handed out again after `done`), and failures
//! are retried with a per-item exponential back-off (5 ms doubling to
//! 1000 s, upstream's default controller rate limiter).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);

/// A deduplicating queue of keys, shared by its producers and workers.
#[derive(Debug)]
pub struct WorkQueue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
}

impl<T: Clone + Eq + Hash + Send + 'static> WorkQueue<T> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
            }),
            ready: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` unless it is queued already.
    pub fn add(&self, item: T) {
        let mut state = self.state();
        if !state.dirty.insert(item.clone()) {
            return;
        }
        if state.processing.contains(&item) {
            return;
        }
        state.queue.push_back(item);
        drop(state);
        self.ready.notify_one();
    }

    /// Queues `item` after `delay`.
    pub fn add_after(self: &Arc<Self>, item: T, delay: Duration) {
        if delay.is_zero() {
            self.add(item);
            return;
        }
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(item);
        });
    }

    /// Queues `item` after its back-off, which doubles with every failure until [`forget`](Self::forget).
    pub fn add_rate_limited(self: &Arc<Self>, item: T) {
        let delay = {
            let mut state = self.state();
            let failures = state.failures.entry(item.clone()).or_insert(0);
            let delay = backoff(*failures);
            *failures = failures.saturating_add(1);
            delay
        };
        self.add_after(item, delay);
    }

    /// Resets `item`'s back-off.
    pub fn forget(&self, item: &T) {
        self.state().failures.remove(item);
    }

    /// How many times `item` has failed since it was last forgotten.
    #[cfg(test)]
    pub fn failures(&self, item: &T) -> u32 {
        self.state().failures.get(item).copied().unwrap_or(0)
    }

    /// The next item; the caller owns it until [`done`](Self::done).
    pub async fn get(&self) -> T {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                if let Some(item) = state.queue.pop_front() {
                    state.dirty.remove(&item);
                    state.processing.insert(item.clone());
                    let more = !state.queue.is_empty();
                    drop(state);
                    if more {
                        self.ready.notify_one();
                    }
                    return item;
                }
            }
            notified.await;
        }
    }

    /// Processing of `item` ended; it is handed out again if it was added meanwhile.
    pub fn done(&self, item: &T) {
        let mut state = self.state();
        state.processing.remove(item);
        if state.dirty.contains(item) {
            state.queue.push_back(item.clone());
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Items waiting to be handed out.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The delay after `failures` earlier failures.
pub fn backoff(failures: u32) -> Duration {
    BASE_DELAY.checked_mul(2u32.saturating_pow(failures.min(30))).map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_milliseconds_up_to_a_thousand_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(5));
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(10), Duration::from_millis(5120));
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[tokio::test]
    async fn an_item_is_queued_once_and_not_handed_out_while_processing() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        assert_eq!(queue.len(), 2);
        let a = queue.get().await;
        assert_eq!(a, "a");
        queue.add("a");
        assert_eq!(queue.get().await, "b");
        assert!(queue.is_empty(), "a is being processed, so it waits");
        queue.done(&a);
        assert_eq!(queue.get().await, "a");
    }

    #[tokio::test]
    async fn failures_delay_the_item_until_forgotten() {
        let queue = WorkQueue::new();
        queue.add_rate_limited("a");
        queue.add_rate_limited("a");
        assert_eq!(queue.failures(&"a"), 2);
        assert!(queue.is_empty());
        assert_eq!(queue.get().await, "a");
        queue.forget(&"a");
        assert_eq!(queue.failures(&"a"), 0);
    }
}
