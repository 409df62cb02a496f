//! Back-off as client-go's `flowcontrol.Backoff`, as the kubelet uses it for
//! crashing containers (10 s doubling to 5 min) and failed image pulls: an
//! entry grows on each failure and is forgotten after twice the maximum
//! without one (a container that ran 10 minutes starts again at 10 s).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

/// The kubelet's container restart back-off (`backOffPeriod`, `MaxContainerBackOff`).
pub const CRASH_BACKOFF: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(300));
/// The kubelet's image pull back-off.
pub const IMAGE_BACKOFF: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(300));

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// Per-key exponential back-off on wall-clock times (container finish times come from the runtime).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
    notes: HashMap<String, String>,
}

impl Backoff {
    /// Back-off starting at `initial`, doubling up to `max`.
    pub fn new((initial, max): (Duration, Duration)) -> Self {
        Self { initial, max, entries: HashMap::new(), notes: HashMap::new() }
    }

    fn expired(&self, entry: &Entry, at: Timestamp) -> bool {
        at.duration_since(entry.last_update).unsigned_abs() > 2 * self.max
    }

    /// Records a failure at `at`: the back-off starts at the initial period or doubles.
    pub fn next(&mut self, key: &str, at: Timestamp) {
        let backoff = match self.entries.get(key) {
            Some(entry) if !self.expired(entry, at) => (entry.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(key.to_owned(), Entry { backoff, last_update: at });
    }

    /// While the failure at `since` is still in back-off: the current period and when it ends.
    pub fn in_backoff_since(&self, key: &str, since: Timestamp, now: Timestamp) -> Option<(Duration, Timestamp)> {
        let entry = self.entries.get(key).filter(|e| !self.expired(e, now))?;
        let ends = since.checked_add(entry.backoff).ok()?;
        (now < ends).then_some((entry.backoff, ends))
    }

    /// As [`in_backoff_since`](Self::in_backoff_since), since the last recorded failure.
    pub fn in_backoff(&self, key: &str, now: Timestamp) -> Option<(Duration, Timestamp)> {
        let since = self.entries.get(key)?.last_update;
        self.in_backoff_since(key, since, now)
    }

    /// Forgets a key (its failures are over).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
        self.notes.remove(key);
    }

    /// Keeps a note with a key's last failure (the pull error shown during an image pull back-off).
    pub fn set_note(&mut self, key: &str, note: String) {
        self.notes.insert(key.to_owned(), note);
    }

    /// The note kept with a key.
    pub fn note(&self, key: &str) -> Option<&str> {
        self.notes.get(key).map(String::as_str)
    }
}

/// A duration as Go's `time.Duration.String()` writes it, to the millisecond: `10s`, `1m20s`,
/// `5m0s`, `1.5s`, `250ms`.
pub fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    let fraction = millis % 1000;
    let secs = if fraction == 0 {
        format!("{}s", seconds % 60)
    } else {
        format!("{}.{}s", seconds % 60, format!("{fraction:03}").trim_end_matches('0'))
    };
    match (seconds / 3600, seconds % 3600 / 60) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn backoff_doubles_to_the_maximum_and_resets_after_twice_the_maximum() {
        let mut backoff = Backoff::new(CRASH_BACKOFF);
        assert_eq!(backoff.in_backoff_since("c", at(0), at(0)), None, "no failure yet");
        let mut seen = Vec::new();
        let mut t = 0;
        for _ in 0..7 {
            backoff.next("c", at(t));
            let (period, _) = backoff.in_backoff_since("c", at(t), at(t)).expect("in back-off");
            seen.push(go_duration(period));
            t += 1;
        }
        assert_eq!(seen, ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]);
        assert!(backoff.in_backoff_since("c", at(t), at(t + 299)).is_some());
        assert!(backoff.in_backoff_since("c", at(t), at(t + 300)).is_none());
        backoff.next("c", at(t + 601));
        assert_eq!(backoff.in_backoff("c", at(t + 601)).map(|(p, _)| p), Some(Duration::from_secs(10)));
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        for (millis, want) in
            [(0, "0s"), (250, "250ms"), (1500, "1.5s"), (10_000, "10s"), (80_000, "1m20s"), (3_723_050, "1h2m3.05s")]
        {
            assert_eq!(go_duration(Duration::from_millis(millis)), want);
        }
    }
}
