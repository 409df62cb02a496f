//! Lenient accessors over the stored JSON: a missing field or a field of the wrong type reads as the
//! zero value Go would see after decoding, never as a panic.

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The value at `path`, or `None` when any step is missing, not an object, or the value is `null`.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// Whether a non-null value sits at `path` (Go: a non-nil pointer).
pub(super) fn has(v: &Value, path: &[&str]) -> bool {
    get(v, path).is_some()
}

/// The string at `path`, if it is a string.
pub(super) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The string at `path`, or "" (Go's zero string).
pub(super) fn string<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// An integer read from a JSON number (floats are truncated, as a Go decoder into int would refuse;
/// we prefer showing something).
pub(super) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| v.as_f64().map(|f| f as i64))
}

/// The integer at `path`, if it is a number.
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(as_int)
}

/// The integer at `path`, or 0.
pub(super) fn int(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The boolean at `path`, if it is a boolean.
pub(super) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The boolean at `path`, or false.
pub(super) fn boolean(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(super) fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The object at `path`, if it is an object.
pub(super) fn object<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// The number of entries of the array or object at `path` (Go's `len` of a slice or map).
pub(super) fn count(v: &Value, path: &[&str]) -> i64 {
    let n = match get(v, path) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The timestamp at `path`; `None` when missing, unparseable, or Go's zero time (0001-01-01T00:00:00Z).
pub(super) fn time(v: &Value, path: &[&str]) -> Option<Timestamp> {
    opt_str(v, path).and_then(parse_time)
}

/// Parses an RFC 3339 timestamp, treating Go's zero time as absent.
pub(super) fn parse_time(s: &str) -> Option<Timestamp> {
    let t: Timestamp = s.parse().ok()?;
    if t.as_second() == GO_ZERO_TIME_SECONDS && t.subsec_nanosecond() == 0 { None } else { Some(t) }
}

/// Unix seconds of 0001-01-01T00:00:00Z, Go's `time.Time{}`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// `metadata.name`.
pub(super) fn name(v: &Value) -> &str {
    string(v, &["metadata", "name"])
}

/// The first condition of `type` in the array at `path`.
pub(super) fn condition<'a>(v: &'a Value, path: &[&str], kind: &str) -> Option<&'a Value> {
    list(v, path).iter().find(|c| string(c, &["type"]) == kind)
}
