//! robfig/cron/v3 ParseStandard's acceptance and error texts, and Go's
//! time.LoadLocation for CronJob time zones.

const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Whether Go's time.LoadLocation would know `name`: "UTC" always; other
/// names are looked up in the system tz database (all accepted when the
/// machine has none).
pub fn time_zone_exists(name: &str) -> bool {
    if name == "UTC" || name.is_empty() || name == "Local" {
        return true;
    }
    if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return false;
    }
    let root = std::path::Path::new(ZONEINFO);
    !root.is_dir() || root.join(name).is_file()
}

/// Go's strconv.Atoi as the cron parser reports it.
fn parse_int(expr: &str) -> Result<u32, String> {
    let syntax = || {
        format!("failed to parse int from {expr}: strconv.Atoi: parsing {}: invalid syntax", super::gofmt::quote(expr))
    };
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let num: i64 = expr.parse().map_err(|_| {
        format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {}: value out of range",
            super::gofmt::quote(expr)
        )
    })?;
    if num < 0 {
        return Err(format!("negative number ({num}) not allowed: {expr}"));
    }
    u32::try_from(num).map_err(|_| format!("end of range ({num}) above maximum: {expr}"))
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    first_name: u32,
}

fn parse_int_or_name(expr: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        return Ok(bounds.first_name + i as u32);
    }
    parse_int(expr)
}

fn parse_range(expr: &str, bounds: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step.first().copied().unwrap_or("").split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end) = match low_and_high.as_slice() {
        ["*" | "?"] => (bounds.min, bounds.max),
        [low] => {
            let start = parse_int_or_name(low, bounds)?;
            (start, start)
        }
        [low, high] => (parse_int_or_name(low, bounds)?, parse_int_or_name(high, bounds)?),
        _ => return Err(format!("too many hyphens: {expr}")),
    };
    let step = match range_and_step.as_slice() {
        [_] => 1,
        [_, step] => {
            let step = parse_int(step)?;
            if single {
                end = bounds.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", bounds.min));
    }
    if end > bounds.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", bounds.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// Go's time.ParseDuration acceptance (`1h30m`, `1.5s`, ...).
fn is_duration(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    if body == "0" {
        return true;
    }
    let mut rest = body;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        if !matches!(&rest[..unit_len], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

/// cron.ParseStandard: `Ok` or upstream's error text.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let (Some(space), Some(eq)) = (spec.find(' '), spec.find('=')) else {
            return Err(format!("provided bad location {spec}: unknown time zone {spec}"));
        };
        let location = spec.get(eq + 1..space).unwrap_or("");
        if !time_zone_exists(location) {
            return Err(format!("provided bad location {location}: unknown time zone {location}"));
        }
        spec = spec.get(space..).unwrap_or("").trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            _ => match spec.strip_prefix("@every ") {
                Some(duration) if is_duration(duration) => Ok(()),
                Some(duration) => Err(format!(
                    "failed to parse duration {spec}: time: invalid duration {}",
                    super::gofmt::quote(duration)
                )),
                None => Err(format!("unrecognized descriptor: {spec}")),
            },
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    let bounds = [
        Bounds { min: 0, max: 59, names: &[], first_name: 0 },
        Bounds { min: 0, max: 23, names: &[], first_name: 0 },
        Bounds { min: 1, max: 31, names: &[], first_name: 0 },
        Bounds { min: 1, max: 12, names: &MONTHS, first_name: 1 },
        Bounds { min: 0, max: 6, names: &DAYS, first_name: 0 },
    ];
    for (field, bounds) in fields.iter().zip(bounds.iter()) {
        for expr in field.split(',') {
            parse_range(expr, bounds)?;
        }
    }
    Ok(())
}
