//! When a CronJob should have started a Job, as upstream's
//! `mostRecentScheduleTime`, `nextScheduleTime` and `nextScheduleTimeDuration`
//! compute it, and the deterministic name of the Job for a scheduled time.

use jiff::{SignedDuration, Timestamp};

use super::schedule::Schedule;

/// Added to a requeue so that it lands just after the scheduled time (upstream's nextScheduleDelta).
pub const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);

/// How many schedules were missed since the last one (or the CronJob's creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    /// More than 100: upstream warns with TooManyMissedTimes and starts only the latest.
    Many,
}

/// What the CronJob's status and spec say about its past.
#[derive(Debug, Clone, Copy)]
pub struct History {
    pub created: Timestamp,
    pub last_schedule: Option<Timestamp>,
    pub starting_deadline_seconds: Option<i64>,
}

/// The result of [`most_recent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recent {
    /// The last schedule time, or the creation time (moved up to the starting deadline if asked).
    pub earliest: Timestamp,
    /// The most recent time at or before now a Job should have been created.
    pub most_recent: Option<Timestamp>,
    pub missed: Missed,
}

/// upstream's mostRecentScheduleTime; `Err` when two consecutive schedules are less
/// than a second apart (a schedule such as `0 0 31 2 *` that never fires).
pub fn most_recent(
    history: &History,
    now: Timestamp,
    schedule: &Schedule,
    with_deadline: bool,
) -> Result<Recent, String> {
    let mut earliest = history.last_schedule.unwrap_or(history.created);
    if let (true, Some(deadline)) = (with_deadline, history.starting_deadline_seconds) {
        let scheduling_deadline = now - SignedDuration::from_secs(deadline);
        if scheduling_deadline > earliest {
            earliest = scheduling_deadline;
        }
    }
    let none = Recent { earliest, most_recent: None, missed: Missed::None };
    let too_close = || "time difference between two schedules is less than 1 second".to_owned();
    let Some(t1) = schedule.next(earliest) else { return Err(too_close()) };
    if now < t1 {
        return Ok(none);
    }
    let Some(t2) = schedule.next(t1) else { return Err(too_close()) };
    if now < t2 {
        return Ok(Recent { most_recent: Some(t1), ..none });
    }
    let between = t2.duration_since(t1).round(jiff::Unit::Second).map(|d| d.as_secs()).unwrap_or(0);
    if between < 1 {
        return Err(too_close());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed_count = elapsed / between + 1;
    // Start one interval before the estimate, then let the schedule find the exact times
    // (schedules such as `30 6-16/4 * * 1-5` are not evenly spaced).
    let potential_earliest = t1 + SignedDuration::from_secs((missed_count - 2) * between);
    let mut most_recent = None;
    let mut t = schedule.next(potential_earliest);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = schedule.next(at);
    }
    let missed = if missed_count > 100 { Missed::Many } else { Missed::Few };
    Ok(Recent { earliest, most_recent, missed })
}

/// upstream's nextScheduleTime: the time to start a Job for now, if any (with the
/// starting deadline applied), and whether too many were missed.
pub fn to_start(history: &History, now: Timestamp, schedule: &Schedule) -> Result<Option<(Timestamp, Missed)>, String> {
    let recent = most_recent(history, now, schedule, true);
    match recent {
        Ok(Recent { most_recent: Some(at), missed, .. }) if at <= now => Ok(Some((at, missed))),
        Ok(_) => Ok(None),
        Err(error) => Err(error),
    }
}

/// upstream's nextScheduleTimeDuration: how long until the next schedule (plus 100 ms).
pub fn until_next(history: &History, now: Timestamp, schedule: &Schedule) -> Option<SignedDuration> {
    let from = match most_recent(history, now, schedule, false) {
        Err(_) => now,
        Ok(Recent { most_recent: Some(at), .. }) => at,
        Ok(Recent { earliest, missed: Missed::None, .. }) => earliest,
        Ok(_) => now,
    };
    Some(schedule.next(from)?.duration_since(now) + NEXT_SCHEDULE_DELTA)
}

/// `<cronjob>-<scheduled time in minutes since the epoch>` (upstream's getJobName).
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// The batch.kubernetes.io/cronjob-scheduled-timestamp value: RFC 3339 in the CronJob's
/// time zone (UTC without one), as Go's `time.RFC3339` formats it.
pub fn scheduled_timestamp(scheduled: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let zoned = scheduled.to_zoned(zone.clone());
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Go's `time.RFC1123Z` in UTC, as upstream's MissSchedule event prints the time.
pub fn rfc1123z(at: Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::UTC).strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a time")
    }

    fn schedule(spec: &str) -> Schedule {
        Schedule::parse(spec, &TimeZone::UTC).expect("valid")
    }

    fn history(created: &str, last: Option<&str>, deadline: Option<i64>) -> History {
        History { created: at(created), last_schedule: last.map(at), starting_deadline_seconds: deadline }
    }

    #[test]
    fn nothing_is_due_before_the_first_schedule_after_creation() {
        let h = history("2024-01-01T10:00:30Z", None, None);
        assert_eq!(to_start(&h, at("2024-01-01T10:00:59Z"), &schedule("* * * * *")), Ok(None));
        let due = to_start(&h, at("2024-01-01T10:01:00Z"), &schedule("* * * * *"));
        assert_eq!(due, Ok(Some((at("2024-01-01T10:01:00Z"), Missed::None))));
        let wait = until_next(&h, at("2024-01-01T10:00:59Z"), &schedule("* * * * *"));
        assert_eq!(wait, Some(SignedDuration::from_millis(1_100)));
    }

    #[test]
    fn after_missed_schedules_only_the_most_recent_is_started() {
        let h = history("2024-01-01T10:00:00Z", Some("2024-01-01T10:00:00Z"), None);
        let due = to_start(&h, at("2024-01-01T10:05:30Z"), &schedule("* * * * *"));
        assert_eq!(due, Ok(Some((at("2024-01-01T10:05:00Z"), Missed::Few))));
        // Unevenly spaced schedules still find the exact latest time.
        let h = history("2024-01-01T00:00:00Z", None, None);
        let due = to_start(&h, at("2024-01-03T15:00:00Z"), &schedule("30 6-16/4 * * *"));
        assert_eq!(due, Ok(Some((at("2024-01-03T14:30:00Z"), Missed::Few))));
    }

    #[test]
    fn more_than_a_hundred_missed_schedules_are_many() {
        let h = history("2024-01-01T00:00:00Z", None, None);
        let due = to_start(&h, at("2024-01-01T02:00:30Z"), &schedule("* * * * *"));
        assert_eq!(due, Ok(Some((at("2024-01-01T02:00:00Z"), Missed::Many))));
        // A starting deadline limits how far back the controller looks.
        let h = history("2024-01-01T00:00:00Z", None, Some(200));
        let due = to_start(&h, at("2024-01-01T02:00:30Z"), &schedule("* * * * *"));
        assert_eq!(due, Ok(Some((at("2024-01-01T02:00:00Z"), Missed::Few))));
    }

    #[test]
    fn a_schedule_past_its_starting_deadline_is_not_due() {
        // Last ran at 10:00, hourly, deadline 10 minutes: at 11:30 the 11:00 run is too late.
        let h = history("2024-01-01T09:00:00Z", Some("2024-01-01T10:00:00Z"), Some(600));
        assert_eq!(to_start(&h, at("2024-01-01T11:30:00Z"), &schedule("0 * * * *")), Ok(None));
        assert_eq!(
            to_start(&h, at("2024-01-01T11:05:00Z"), &schedule("0 * * * *")),
            Ok(Some((at("2024-01-01T11:00:00Z"), Missed::None)))
        );
        // The requeue ignores the deadline and aims at the next schedule.
        let wait = until_next(&h, at("2024-01-01T11:30:00Z"), &schedule("0 * * * *"));
        assert_eq!(wait, Some(SignedDuration::from_secs(1800) + NEXT_SCHEDULE_DELTA));
    }

    #[test]
    fn a_schedule_that_never_fires_is_an_error() {
        let h = history("2024-01-01T00:00:00Z", None, None);
        assert!(to_start(&h, at("2024-06-01T00:00:00Z"), &schedule("0 0 30 2 *")).is_err());
    }

    #[test]
    fn job_names_count_minutes_since_the_epoch() {
        assert_eq!(job_name("backup", at("2024-01-01T10:05:00Z")), "backup-28401725");
        assert_eq!(job_name("backup", at("1970-01-01T00:01:59Z")), "backup-1");
    }

    #[test]
    fn scheduled_timestamps_are_rfc3339_in_the_cronjobs_zone() {
        let t = at("2024-01-01T10:05:00Z");
        assert_eq!(scheduled_timestamp(t, &TimeZone::UTC), "2024-01-01T10:05:00Z");
        let ny = TimeZone::get("America/New_York").expect("tz database");
        assert_eq!(scheduled_timestamp(t, &ny), "2024-01-01T05:05:00-05:00");
        assert_eq!(rfc1123z(t), "Mon, 01 Jan 2024 10:05:00 +0000");
    }
}
