//! The time controllers read, injectable so that time-driven logic (CronJob
//! schedules, deadlines, minReadySeconds) is tested without waiting.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// Where controllers get the current time from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until it is moved (for tests).
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<Timestamp>>);

impl FakeClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stream that yields whenever `clock` moves differently from real time
/// by more than `tolerance` (checked every `every`): a [`FakeClock`] being
/// advanced, or the system clock being stepped. Controllers whose work is
/// due at clock times (CronJob schedules, deadlines, TTLs) re-check all their
/// objects on it, since their timed requeues run on real (tokio) time.
/// A `FakeClock` that stands still drifts too, so under one it also fires
/// about every `tolerance` (a short periodic re-check in tests).
pub fn jumps(
    clock: Arc<dyn Clock>,
    every: std::time::Duration,
    tolerance: std::time::Duration,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    let tolerance = SignedDuration::try_from(tolerance).unwrap_or(SignedDuration::MAX);
    let start = (clock.now(), tokio::time::Instant::now());
    futures::stream::unfold((clock, start), move |(clock, base)| async move {
        loop {
            tokio::time::sleep(every).await;
            let (now, real) = (clock.now(), tokio::time::Instant::now());
            let real_elapsed = SignedDuration::try_from(real - base.1).unwrap_or(SignedDuration::MAX);
            let drift = now.duration_since(base.0) - real_elapsed;
            if drift.abs() > tolerance {
                return Some(((), (clock, (now, real))));
            }
        }
    })
}

/// The RFC 3339 form the API uses for timestamps (seconds precision).
pub fn api_time(at: Timestamp) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at.round(jiff::Unit::Second).unwrap_or(at))
}
