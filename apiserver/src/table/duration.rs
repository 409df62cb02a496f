//! `k8s.io/apimachinery/pkg/util/duration`: HumanDuration and ShortHumanDuration.

use jiff::{SignedDuration, Timestamp};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// Go's `time.Duration` arithmetic saturates at the bounds of an i64 of nanoseconds.
fn go_nanos(d: SignedDuration) -> i64 {
    let n = d.as_nanos();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// The time from `from` to `to`, as Go's saturating `to.Sub(from)`.
pub(super) fn between(from: Timestamp, to: Timestamp) -> SignedDuration {
    to.duration_since(from)
}

/// HumanDuration: ~2-3 significant figures ("59s", "119s", "5m12s", "3h4m", "2d5h", "3y12d").
pub fn human_duration(d: SignedDuration) -> String {
    let d = go_nanos(d);
    let seconds = d / SECOND;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / MINUTE;
    if minutes < 10 {
        let s = (d / SECOND) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 8 {
        let m = (d / MINUTE) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{h}h", hours / 24)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{dy}d", hours / 24 / 365)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// ShortHumanDuration: one unit only ("59s", "5m", "3h", "12d", "2y").
pub fn short_human_duration(d: SignedDuration) -> String {
    let d = go_nanos(d);
    let seconds = d / SECOND;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = d / MINUTE;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 24 {
        format!("{hours}h")
    } else if hours < 24 * 365 {
        format!("{}d", hours / 24)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// translateTimestampSince: the age of `t` at `now`, "<unknown>" without a timestamp.
pub(super) fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(between(t, now)),
        None => "<unknown>".into(),
    }
}
