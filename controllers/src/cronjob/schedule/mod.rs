//! CronJob schedules with the exact semantics of robfig/cron/v3's
//! `ParseStandard` and `Schedule.Next`, which kube-controller-manager uses:
//! five fields (minute hour day-of-month month day-of-week) with `*`, `?`,
//! ranges, steps, lists and names (JAN-DEC, SUN-SAT); day-of-month and
//! day-of-week OR-ed when both are restricted; the `@yearly` .. `@hourly`
//! macros and `@every <duration>`; a `TZ=`/`CRON_TZ=` prefix; and Go's
//! `time.Date` handling of daylight-saving gaps and folds while searching.
//!
//! Written here rather than taken from a crate: the Rust cron crates differ
//! from robfig in the details that decide when a Job runs (seconds fields,
//! 1-7 or 0-7 weekdays, AND instead of OR for day-of-month/day-of-week, other
//! DST behaviour, no `TZ=` prefix, no `@every`), and a CronJob must fire at
//! the same instants as on a real cluster.
//!
//! The API server already rejects `TZ=`/`CRON_TZ=` in new schedules (users
//! set `spec.timeZone`, which the controller turns into that prefix, as
//! upstream's `formatSchedule` does); the prefix is still parsed here for
//! CronJobs stored before that validation.

mod duration;
mod next;

use jiff::tz::TimeZone;

pub use duration::parse_go_duration;

/// Bit set on a field written as `*` or `?` (robfig's starBit): such a
/// day-of-month or day-of-week field does not take part in the OR.
const STAR_BIT: u64 = 1 << 63;

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The bounds of one field and the names it accepts (the first name is `first_name`).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    first_name: u32,
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[], first_name: 0 };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[], first_name: 0 };
const DOM: Bounds = Bounds { min: 1, max: 31, names: &[], first_name: 0 };
const MONTH: Bounds = Bounds { min: 1, max: 12, names: &MONTHS, first_name: 1 };
const DOW: Bounds = Bounds { min: 0, max: 6, names: &DAYS, first_name: 0 };

/// A parsed schedule: when, after a given instant, it fires next.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Fields as bit sets (bit n set: value n matches), in `location`.
    Spec(SpecSchedule),
    /// `@every <duration>`: a constant delay, whole seconds, at least one second.
    Every(jiff::SignedDuration),
}

/// The five fields (and robfig's always-zero seconds) as bit sets.
#[derive(Debug, Clone)]
pub struct SpecSchedule {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    location: TimeZone,
}

impl Schedule {
    /// Parses as robfig's `cron.ParseStandard`; `local` is the zone of a schedule
    /// without a `TZ=` prefix (Go's `time.Local`). Errors carry robfig's texts.
    pub fn parse(spec: &str, local: &TimeZone) -> Result<Self, String> {
        if spec.is_empty() {
            return Err("empty spec string".to_owned());
        }
        let mut spec = spec;
        let mut location = local.clone();
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let (Some(space), Some(eq)) = (spec.find(' '), spec.find('=')) else {
                return Err(format!("provided bad location {spec}: unknown time zone {spec}"));
            };
            let name = spec.get(eq + 1..space).unwrap_or_default();
            location =
                load_location(name).ok_or_else(|| format!("provided bad location {name}: unknown time zone {name}"))?;
            spec = spec.get(space..).unwrap_or_default().trim();
        }
        if spec.starts_with('@') {
            return parse_descriptor(spec, location);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
        }
        Ok(Self::Spec(SpecSchedule {
            second: 1,
            minute: field(fields[0], MINUTES)?,
            hour: field(fields[1], HOURS)?,
            dom: field(fields[2], DOM)?,
            month: field(fields[3], MONTH)?,
            dow: field(fields[4], DOW)?,
            location,
        }))
    }

    /// The first time the schedule fires strictly after `t` (robfig's `Next`);
    /// `None` when nothing matches within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, t: jiff::Timestamp) -> Option<jiff::Timestamp> {
        match self {
            Self::Spec(spec) => next::next(spec, t),
            Self::Every(delay) => {
                let into_second = jiff::SignedDuration::from_nanos(i64::from(t.subsec_nanosecond()));
                t.checked_add(*delay - into_second).ok()
            }
        }
    }
}

/// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the system zone, others IANA names.
pub fn load_location(name: &str) -> Option<TimeZone> {
    match name {
        "" | "UTC" => Some(TimeZone::UTC),
        "Local" => Some(TimeZone::system()),
        _ if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") => None,
        _ => TimeZone::get(name).ok(),
    }
}

fn parse_descriptor(spec: &str, location: TimeZone) -> Result<Schedule, String> {
    let all = |b: Bounds| bits(b.min, b.max, 1) | STAR_BIT;
    let (minute, hour) = (1, 1);
    let fields = match spec {
        "@yearly" | "@annually" => (minute, hour, 1 << 1, 1 << 1, all(DOW)),
        "@monthly" => (minute, hour, 1 << 1, all(MONTH), all(DOW)),
        "@weekly" => (minute, hour, all(DOM), all(MONTH), 1),
        "@daily" | "@midnight" => (minute, hour, all(DOM), all(MONTH), all(DOW)),
        "@hourly" => (minute, all(HOURS), all(DOM), all(MONTH), all(DOW)),
        _ => {
            let Some(text) = spec.strip_prefix("@every ") else {
                return Err(format!("unrecognized descriptor: {spec}"));
            };
            let duration = parse_go_duration(text).map_err(|e| format!("failed to parse duration {spec}: {e}"))?;
            let second = jiff::SignedDuration::from_secs(1);
            let delay = if duration < second { second } else { jiff::SignedDuration::from_secs(duration.as_secs()) };
            return Ok(Schedule::Every(delay));
        }
    };
    let (minute, hour, dom, month, dow) = fields;
    Ok(Schedule::Spec(SpecSchedule { second: 1, minute, hour, dom, month, dow, location }))
}

/// One field: comma-separated ranges (empty pieces ignored, as Go's FieldsFunc does).
fn field(text: &str, bounds: Bounds) -> Result<u64, String> {
    text.split(',').filter(|r| !r.is_empty()).try_fold(0, |acc, expr| Ok(acc | range(expr, bounds)?))
}

/// `*`, `?`, `N`, `N-M`, each optionally `/step` (`N/step` meaning `N-max/step`).
fn range(expr: &str, b: Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra) = if matches!(low_and_high[0], "*" | "?") {
        (b.min, b.max, STAR_BIT)
    } else {
        let start = int_or_name(low_and_high[0], b)?;
        match low_and_high.len() {
            1 => (start, start, 0),
            2 => (start, int_or_name(low_and_high[1], b)?, 0),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", b.min));
    }
    if end > b.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", b.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(expr: &str, b: Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    match b.names.iter().position(|n| *n == lower) {
        Some(i) => Ok(b.first_name + i as u32),
        None => parse_int(expr),
    }
}

/// robfig's mustParseInt over Go's strconv.Atoi.
fn parse_int(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"));
    }
    let num: i64 = expr
        .parse()
        .map_err(|_| format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"))?;
    if num < 0 {
        return Err(format!("negative number ({num}) not allowed: {expr}"));
    }
    // Anything this large is above every field's maximum.
    Ok(u32::try_from(num).unwrap_or(u32::MAX))
}

/// Bits `min..=max` every `step`.
fn bits(min: u32, max: u32, step: u32) -> u64 {
    (min..=max).step_by(step as usize).fold(0, |acc, i| acc | (1 << i))
}

#[cfg(test)]
mod tests;
