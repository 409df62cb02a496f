//! The delay before a failed Job pod is replaced: 10 s doubling with each
//! consecutive failure since the last success, at most 10 minutes (upstream's
//! backoff_utils.go and its DefaultJobPodFailureBackOff/MaxJobPodFailureBackOff;
//! the user documentation still says six minutes). Per index with
//! backoffLimitPerIndex, from the failed pod's failure-count annotation.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;

use super::indexes::index_absolute_failure_count;
use super::podutil::finished_time;

static BASE_MILLIS: AtomicU64 = AtomicU64::new(10_000);
static MAX_MILLIS: AtomicU64 = AtomicU64::new(600_000);

/// Changes the pod failure back-off of every Job controller in the process
/// (upstream exports the same knobs for its tests).
pub fn set_pod_failure_backoff(base: Duration, max: Duration) {
    BASE_MILLIS.store(u64::try_from(base.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    MAX_MILLIS.store(u64::try_from(max.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn limits() -> (SignedDuration, SignedDuration) {
    let millis =
        |a: &AtomicU64| SignedDuration::from_millis(i64::try_from(a.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
    (millis(&BASE_MILLIS), millis(&MAX_MILLIS))
}

/// Consecutive failures since the last success, and when the last of them happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    pub failures_after_last_success: i32,
    pub last_failure: Option<Timestamp>,
}

impl Record {
    /// How long to wait before creating pods at `now`.
    pub fn remaining(&self, now: Timestamp) -> SignedDuration {
        remaining_for(self.failures_after_last_success, self.last_failure, now)
    }
}

/// The records of the Jobs this controller runs, kept in memory as upstream does.
#[derive(Debug, Default)]
pub struct Store(Mutex<HashMap<String, Record>>);

impl Store {
    /// The record updated with the pods that finished since the last sync (not stored yet).
    pub fn next(&self, key: &str, succeeded: &[&Pod], failed: &[&Pod]) -> Record {
        let previous = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied().unwrap_or_default();
        next_record(previous, succeeded, failed)
    }

    pub fn update(&self, key: &str, record: Record) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned(), record);
    }

    pub fn remove(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// upstream's newBackoffRecord: failures after the latest success add up; a success resets.
pub fn next_record(previous: Record, succeeded: &[&Pod], failed: &[&Pod]) -> Record {
    let mut failed_times: Vec<Timestamp> = failed.iter().map(|p| finished_time(p)).collect();
    failed_times.sort();
    let last_success = succeeded.iter().map(|p| finished_time(p)).max();
    match last_success {
        None if failed_times.is_empty() => previous,
        None => Record {
            failures_after_last_success: previous.failures_after_last_success + failed_times.len() as i32,
            last_failure: failed_times.last().copied(),
        },
        Some(success) => {
            let after: Vec<&Timestamp> = failed_times.iter().filter(|t| **t > success).collect();
            Record { failures_after_last_success: after.len() as i32, last_failure: after.last().map(|t| **t) }
        }
    }
}

/// The delay for an index whose last failed pod is `last_failed` (none: no delay).
pub fn remaining_for_index(last_failed: Option<&Pod>, now: Timestamp) -> SignedDuration {
    let Some(pod) = last_failed else { return SignedDuration::ZERO };
    remaining_for(index_absolute_failure_count(pod) + 1, Some(finished_time(pod)), now)
}

fn remaining_for(failures: i32, last_failure: Option<Timestamp>, now: Timestamp) -> SignedDuration {
    let Some(last) = last_failure.filter(|_| failures > 0) else { return SignedDuration::ZERO };
    let (base, max) = limits();
    let mut delay = base;
    for _ in 1..failures {
        delay = delay.saturating_mul(2);
        if delay >= max {
            delay = max;
            break;
        }
    }
    let elapsed = now.duration_since(last);
    if delay < elapsed { SignedDuration::ZERO } else { delay - elapsed }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod_finished_at(at: &str) -> Pod {
        serde_json::from_value(json!({ "status": {
            "conditions": [{ "type": "Ready", "status": "False", "lastTransitionTime": at }] } }))
        .expect("a pod")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a time")
    }

    #[test]
    fn failures_after_the_last_success_are_counted_and_a_success_resets() {
        let (f1, f2, s) = (
            pod_finished_at("2024-01-01T00:00:01Z"),
            pod_finished_at("2024-01-01T00:00:03Z"),
            pod_finished_at("2024-01-01T00:00:02Z"),
        );
        let record = next_record(Record::default(), &[], &[&f2, &f1]);
        assert_eq!(record, Record { failures_after_last_success: 2, last_failure: Some(at("2024-01-01T00:00:03Z")) });
        let record = next_record(record, &[&s], &[&f1, &f2]);
        assert_eq!(record, Record { failures_after_last_success: 1, last_failure: Some(at("2024-01-01T00:00:03Z")) });
        assert_eq!(next_record(record, &[&s], &[]), Record::default());
        assert_eq!(next_record(record, &[], &[]), record);
    }

    #[test]
    fn the_delay_doubles_from_ten_seconds_up_to_ten_minutes() {
        let last = at("2024-01-01T00:00:00Z");
        let record = |n| Record { failures_after_last_success: n, last_failure: Some(last) };
        assert_eq!(record(0).remaining(last), SignedDuration::ZERO);
        assert_eq!(record(1).remaining(last), SignedDuration::from_secs(10));
        assert_eq!(record(3).remaining(last + SignedDuration::from_secs(15)), SignedDuration::from_secs(25));
        assert_eq!(record(30).remaining(last), SignedDuration::from_secs(600));
        assert_eq!(record(2).remaining(last + SignedDuration::from_secs(60)), SignedDuration::ZERO);
    }
}
