use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 time")
}

/// The next `count` firing times after `from`, in UTC.
fn fires(spec: &str, from: &str, count: usize) -> Vec<String> {
    let schedule = Schedule::parse(spec, &TimeZone::UTC).expect("a valid schedule");
    let mut t = at(from);
    let mut out = Vec::new();
    for _ in 0..count {
        t = schedule.next(t).expect("a next time");
        out.push(t.to_string());
    }
    out
}

fn next_one(spec: &str, from: &str) -> Option<String> {
    Schedule::parse(spec, &TimeZone::UTC).expect("a valid schedule").next(at(from)).map(|t| t.to_string())
}

fn error(spec: &str) -> String {
    Schedule::parse(spec, &TimeZone::UTC).expect_err("an invalid schedule")
}

#[test]
fn steps_ranges_and_lists_select_minutes_and_hours() {
    assert_eq!(
        fires("*/15 * * * *", "2024-01-01T10:07:30Z", 3),
        ["2024-01-01T10:15:00Z", "2024-01-01T10:30:00Z", "2024-01-01T10:45:00Z"]
    );
    // `N/step` runs from N to the maximum.
    assert_eq!(
        fires("50/5 * * * *", "2024-01-01T10:00:00Z", 3),
        ["2024-01-01T10:50:00Z", "2024-01-01T10:55:00Z", "2024-01-01T11:50:00Z"]
    );
    assert_eq!(
        fires("5,10-12 9-17/4 * * *", "2024-01-01T09:11:00Z", 4),
        ["2024-01-01T09:12:00Z", "2024-01-01T13:05:00Z", "2024-01-01T13:10:00Z", "2024-01-01T13:11:00Z"]
    );
    // Empty list items are ignored, as Go's FieldsFunc drops them.
    assert_eq!(next_one("1,,2 * * * *", "2024-01-01T10:01:00Z").as_deref(), Some("2024-01-01T10:02:00Z"));
}

#[test]
fn the_next_time_is_strictly_after_the_given_one() {
    assert_eq!(next_one("0 * * * *", "2024-01-01T10:00:00Z").as_deref(), Some("2024-01-01T11:00:00Z"));
    assert_eq!(next_one("0 * * * *", "2024-01-01T09:59:59.999Z").as_deref(), Some("2024-01-01T10:00:00Z"));
    assert_eq!(next_one("* * * * *", "2024-12-31T23:59:30Z").as_deref(), Some("2025-01-01T00:00:00Z"));
}

#[test]
fn month_and_weekday_names_are_case_insensitive() {
    assert_eq!(fires("0 0 1 JAN,jul *", "2024-02-01T00:00:00Z", 2), ["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"]);
    // 2024-01-05 is a Friday.
    assert_eq!(
        fires("0 9-17/2 * * MON-fri", "2024-01-05T16:00:00Z", 2),
        ["2024-01-05T17:00:00Z", "2024-01-08T09:00:00Z"]
    );
    assert_eq!(next_one("0 0 * * sun", "2024-01-01T00:00:00Z").as_deref(), Some("2024-01-07T00:00:00Z"));
}

#[test]
fn day_of_month_and_day_of_week_are_ored_when_both_are_restricted() {
    // The 13th or any Friday (2024-01-05, 12, 19 are Fridays; the 13th is a Saturday).
    assert_eq!(
        fires("0 0 13 * FRI", "2024-01-01T00:00:00Z", 4),
        ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-13T00:00:00Z", "2024-01-19T00:00:00Z"]
    );
    // `*` or `?` in one of them makes it AND: only the other one counts.
    assert_eq!(fires("0 0 13 * ?", "2024-01-01T00:00:00Z", 2), ["2024-01-13T00:00:00Z", "2024-02-13T00:00:00Z"]);
    assert_eq!(fires("0 0 * * FRI", "2024-01-01T00:00:00Z", 2), ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z"]);
    // `*/1` is still a star, `*/2` is not (robfig drops the star bit for steps above one).
    assert_eq!(fires("0 0 */1 * FRI", "2024-01-01T00:00:00Z", 2), ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z"]);
    assert_eq!(
        fires("0 0 */2 * FRI", "2024-01-01T00:00:00Z", 4),
        ["2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-09T00:00:00Z"]
    );
}

#[test]
fn february_29th_only_fires_in_leap_years() {
    assert_eq!(fires("0 0 29 2 *", "2023-01-01T00:00:00Z", 2), ["2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"]);
    assert_eq!(next_one("0 0 29 2 *", "2024-03-01T00:00:00Z").as_deref(), Some("2028-02-29T00:00:00Z"));
    // Feb 29th or any Monday in February.
    assert_eq!(fires("0 0 29 2 MON", "2025-02-20T00:00:00Z", 2), ["2025-02-24T00:00:00Z", "2026-02-02T00:00:00Z"]);
}

#[test]
fn a_date_that_never_comes_gives_no_next_time() {
    assert_eq!(next_one("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
    assert_eq!(next_one("59 23 31 4 *", "2024-01-01T00:00:00Z"), None);
}

#[test]
fn macros_are_the_schedules_they_stand_for() {
    let from = "2024-01-03T10:07:00Z"; // a Wednesday
    assert_eq!(next_one("@hourly", from).as_deref(), Some("2024-01-03T11:00:00Z"));
    assert_eq!(next_one("@daily", from).as_deref(), Some("2024-01-04T00:00:00Z"));
    assert_eq!(next_one("@midnight", from).as_deref(), Some("2024-01-04T00:00:00Z"));
    assert_eq!(next_one("@weekly", from).as_deref(), Some("2024-01-07T00:00:00Z"));
    assert_eq!(next_one("@monthly", from).as_deref(), Some("2024-02-01T00:00:00Z"));
    assert_eq!(next_one("@yearly", from).as_deref(), Some("2025-01-01T00:00:00Z"));
    assert_eq!(next_one("@annually", from).as_deref(), Some("2025-01-01T00:00:00Z"));
}

#[test]
fn every_is_a_constant_delay_in_whole_seconds() {
    assert_eq!(next_one("@every 1h30m", "2024-01-01T10:00:00.250Z").as_deref(), Some("2024-01-01T11:30:00Z"));
    assert_eq!(next_one("@every 1.5s", "2024-01-01T10:00:00Z").as_deref(), Some("2024-01-01T10:00:01Z"));
    assert_eq!(next_one("@every 10ms", "2024-01-01T10:00:00Z").as_deref(), Some("2024-01-01T10:00:01Z"));
    assert_eq!(error("@every 5x"), r#"failed to parse duration @every 5x: time: unknown unit "x" in duration "5x""#);
    assert_eq!(error("@every 5"), r#"failed to parse duration @every 5: time: missing unit in duration "5""#);
}

#[test]
fn time_zones_read_the_fields_in_local_time() {
    let berlin = TimeZone::get("Europe/Berlin").expect("the tz database");
    let schedule = Schedule::parse("0 9 * * *", &berlin).expect("valid");
    assert_eq!(
        schedule.next(at("2024-06-01T00:00:00Z")).map(|t| t.to_string()).as_deref(),
        Some("2024-06-01T07:00:00Z")
    );
    assert_eq!(
        schedule.next(at("2024-12-01T00:00:00Z")).map(|t| t.to_string()).as_deref(),
        Some("2024-12-01T08:00:00Z")
    );
    // A TZ= prefix overrides the default zone.
    assert_eq!(fires("TZ=America/New_York 0 12 * * *", "2024-01-01T00:00:00Z", 1), ["2024-01-01T17:00:00Z"]);
    assert_eq!(fires("CRON_TZ=Asia/Kolkata 0 12 * * *", "2024-01-01T00:00:00Z", 1), ["2024-01-01T06:30:00Z"]);
}

#[test]
fn a_time_in_the_spring_forward_gap_is_skipped_that_day() {
    // New York, 2024-03-10: 02:00 EST jumps to 03:00 EDT.
    assert_eq!(
        fires("TZ=America/New_York 30 2 * * *", "2024-03-09T17:00:00Z", 2),
        ["2024-03-11T06:30:00Z", "2024-03-12T06:30:00Z"]
    );
    // Hourly jobs run on the hours that exist.
    assert_eq!(
        fires("TZ=America/New_York 0 * * * *", "2024-03-10T05:30:00Z", 2),
        ["2024-03-10T06:00:00Z", "2024-03-10T07:00:00Z"]
    );
}

#[test]
fn a_time_in_the_fall_back_fold_fires_twice() {
    // New York, 2024-11-03: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    assert_eq!(
        fires("TZ=America/New_York 30 1 * * *", "2024-11-03T04:00:00Z", 3),
        ["2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-04T06:30:00Z"]
    );
}

#[test]
fn a_day_whose_midnight_does_not_exist_still_matches() {
    // Havana, 2024-03-10: midnight CST jumps to 01:00 CDT.
    assert_eq!(fires("TZ=America/Havana 0 12 10 3 *", "2024-03-01T12:00:00Z", 1), ["2024-03-10T16:00:00Z"]);
}

#[test]
fn invalid_schedules_fail_with_robfigs_messages() {
    assert_eq!(error(""), "empty spec string");
    assert_eq!(error("* * * *"), "expected exactly 5 fields, found 4: [* * * *]");
    assert_eq!(error("0 0 * * * *"), "expected exactly 5 fields, found 6: [0 0 * * * *]");
    assert_eq!(error("60 * * * *"), "end of range (60) above maximum (59): 60");
    assert_eq!(error("0 0 0 * *"), "beginning of range (0) below minimum (1): 0");
    assert_eq!(error("0 0 * * 7"), "end of range (7) above maximum (6): 7");
    assert_eq!(error("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
    assert_eq!(error("*/0 * * * *"), "step of range should be a positive number: */0");
    assert_eq!(error("1-2-3 * * * *"), "too many hyphens: 1-2-3");
    assert_eq!(error("1/2/3 * * * *"), "too many slashes: 1/2/3");
    assert_eq!(error("x * * * *"), r#"failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax"#);
    assert_eq!(error("@fortnightly"), "unrecognized descriptor: @fortnightly");
    assert_eq!(
        error("TZ=Nowhere/City 0 * * * *"),
        "provided bad location Nowhere/City: unknown time zone Nowhere/City"
    );
}

#[test]
fn go_durations_parse_as_go_does() {
    let secs = |s: &str| parse_go_duration(s).map(|d| d.as_secs_f64());
    assert_eq!(secs("1h30m"), Ok(5400.0));
    assert_eq!(secs("-1.5h"), Ok(-5400.0));
    assert_eq!(secs("300ms"), Ok(0.3));
    assert_eq!(secs("0"), Ok(0.0));
    assert_eq!(secs(".5s"), Ok(0.5));
    assert!(parse_go_duration("").is_err());
    assert!(parse_go_duration(".s").is_err());
    assert!(parse_go_duration("1d").is_err());
}
