//! Go's `time.ParseDuration`, for `@every <duration>` schedules.

use jiff::SignedDuration;

/// Parses `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` (units ns, us, µs, μs, ms, s, m, h) as Go does,
/// with Go's error texts.
pub fn parse_go_duration(text: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let whole: i128 = if int_len == 0 { 0 } else { rest[..int_len].parse().map_err(|_| invalid())? };
        rest = &rest[int_len..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            fraction = &after[..len];
            rest = &after[len..];
            if int_len == 0 && len == 0 {
                return Err(invalid());
            }
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        let mut value = whole.checked_mul(nanos).ok_or_else(invalid)?;
        if !fraction.is_empty() {
            let f: f64 = format!("0.{fraction}").parse().map_err(|_| invalid())?;
            value += (f * nanos as f64) as i128;
        }
        total = total.checked_add(value).filter(|t| *t <= i128::from(i64::MAX)).ok_or_else(invalid)?;
    }
    let nanos = i64::try_from(total).map_err(|_| invalid())?;
    Ok(SignedDuration::from_nanos(if negative { -nanos } else { nanos }))
}
