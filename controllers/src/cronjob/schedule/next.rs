//! robfig's `SpecSchedule.Next` over Go's `time` semantics: wall-clock
//! fields read in the schedule's zone, `time.Date`/`AddDate` resolving a
//! wall time in a daylight-saving gap or fold as Go does, and `Add` moving
//! absolute time (so an hour is skipped or repeated where the clocks change).

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::{STAR_BIT, SpecSchedule};

/// A wall-clock reading of an instant in the schedule's zone.
struct Wall {
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    weekday: i8,
}

fn wall(t: Timestamp, tz: &TimeZone) -> Wall {
    let dt = tz.to_datetime(t);
    Wall {
        year: dt.year(),
        month: dt.month(),
        day: dt.day(),
        hour: dt.hour(),
        minute: dt.minute(),
        second: dt.second(),
        weekday: dt.weekday().to_sunday_zero_offset(),
    }
}

/// Go's `time.Date(year, month, day, hour, 0, 0, 0, loc)`: out-of-range months and
/// days roll over; a wall time that does not exist or exists twice takes the
/// offset Go's lookup picks (in a gap, the offset after the change applied to
/// the wall time, which lands before the gap; in a fold, the earlier instant).
fn go_date(year: i16, month: i64, day: i64, clock: (i64, i64, i64), tz: &TimeZone) -> Option<Timestamp> {
    let months = i64::from(year) * 12 + (month - 1);
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
    let first = Date::new(i16::try_from(year).ok()?, month as i8, 1).ok()?;
    let dt: DateTime = first.checked_add((day - 1).days()).ok()?.to_datetime(jiff::civil::Time::midnight());
    let (hour, minute, second) = clock;
    let dt = dt.checked_add((hour * 3600 + minute * 60 + second).seconds()).ok()?;
    let as_utc = Offset::UTC.to_timestamp(dt).ok()?;
    let guess = tz.to_offset(as_utc);
    let offset = tz.to_offset(as_utc.checked_sub(SignedDuration::from_secs(i64::from(guess.seconds()))).ok()?);
    as_utc.checked_sub(SignedDuration::from_secs(i64::from(offset.seconds()))).ok()
}

fn has(bits: u64, value: i8) -> bool {
    bits & (1 << value) != 0
}

/// robfig's dayMatches: with `*` in either day field both must match, else either.
fn day_matches(s: &SpecSchedule, w: &Wall) -> bool {
    let dom = has(s.dom, w.day);
    let dow = has(s.dow, w.weekday);
    if s.dom & STAR_BIT != 0 || s.dow & STAR_BIT != 0 { dom && dow } else { dom || dow }
}

fn truncate(t: Timestamp, unit_seconds: i64) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(unit_seconds) * unit_seconds).unwrap_or(t)
}

/// The first matching second strictly after `t`, searching at most five years ahead.
pub(super) fn next(s: &SpecSchedule, t: Timestamp) -> Option<Timestamp> {
    let tz = &s.location;
    let hour = SignedDuration::from_hours(1);
    let minute = SignedDuration::from_mins(1);
    let second = SignedDuration::from_secs(1);
    // Start at the next whole second.
    let mut t = t.checked_add(second - SignedDuration::from_nanos(i64::from(t.subsec_nanosecond()))).ok()?;
    let mut added = false;
    let year_limit = wall(t, tz).year + 5;
    'wrap: loop {
        if wall(t, tz).year > year_limit {
            return None;
        }
        loop {
            let w = wall(t, tz);
            if has(s.month, w.month) {
                break;
            }
            if !added {
                added = true;
                t = go_date(w.year, i64::from(w.month), 1, (0, 0, 0), tz)?;
            }
            let w = wall(t, tz);
            t = add_date(&w, 1, 0, tz)?;
            if wall(t, tz).month == 1 {
                continue 'wrap;
            }
        }
        loop {
            let w = wall(t, tz);
            if day_matches(s, &w) {
                break;
            }
            if !added {
                added = true;
                t = go_date(w.year, i64::from(w.month), i64::from(w.day), (0, 0, 0), tz)?;
            }
            let w = wall(t, tz);
            t = add_date(&w, 0, 1, tz)?;
            // Midnight may not exist (a DST change at midnight): go back to the
            // day's start if the clock reads early morning, on to the next day
            // if it reads late evening.
            let h = wall(t, tz).hour;
            if h != 0 {
                let shift = if h > 12 { 24 - i64::from(h) } else { -i64::from(h) };
                t = t.checked_add(SignedDuration::from_hours(shift)).ok()?;
            }
            if wall(t, tz).day == 1 {
                continue 'wrap;
            }
        }
        loop {
            let w = wall(t, tz);
            if has(s.hour, w.hour) {
                break;
            }
            if !added {
                added = true;
                t = go_date(w.year, i64::from(w.month), i64::from(w.day), (i64::from(w.hour), 0, 0), tz)?;
            }
            t = t.checked_add(hour).ok()?;
            if wall(t, tz).hour == 0 {
                continue 'wrap;
            }
        }
        loop {
            if has(s.minute, wall(t, tz).minute) {
                break;
            }
            if !added {
                added = true;
                t = truncate(t, 60);
            }
            t = t.checked_add(minute).ok()?;
            if wall(t, tz).minute == 0 {
                continue 'wrap;
            }
        }
        loop {
            if has(s.second, wall(t, tz).second) {
                break;
            }
            if !added {
                added = true;
                t = truncate(t, 1);
            }
            t = t.checked_add(second).ok()?;
            if wall(t, tz).second == 0 {
                continue 'wrap;
            }
        }
        return Some(t);
    }
}

/// Go's `t.AddDate(0, months, days)`: the same wall clock, months and days later.
fn add_date(w: &Wall, months: i64, days: i64, tz: &TimeZone) -> Option<Timestamp> {
    let clock = (i64::from(w.hour), i64::from(w.minute), i64::from(w.second));
    go_date(w.year, i64::from(w.month) + months, i64::from(w.day) + days, clock, tz)
}
