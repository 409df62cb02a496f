//! `resource.Quantity.String()`: quantities print in canonical form ("1536Mi" for "1.5Gi", "500m" for "0.5").

use serde_json::Value;

use super::TableError;

const NANO: i128 = 1_000_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// The canonical string of a quantity held in JSON (a string or a bare number); "0" when absent,
/// the raw text when it cannot be parsed or is too large for this implementation.
pub(super) fn quantity_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "0".into(),
        Some(Value::String(s)) => canonical(s).unwrap_or_else(|_| s.clone()),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            canonical(&s).unwrap_or(s)
        }
        Some(other) => other.to_string(),
    }
}

/// Like [`quantity_string`] but "<nil>" for an absent optional quantity (Go's `(*Quantity)(nil).String()`).
pub(super) fn optional_quantity_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".into(),
        some => quantity_string(some),
    }
}

/// Parses a quantity and prints it canonically.
pub(super) fn canonical(s: &str) -> Result<String, TableError> {
    let (nanos, format) = parse(s)?;
    Ok(print(nanos, format))
}

fn invalid(s: &str) -> TableError {
    TableError::InvalidQuantity(s.to_string())
}

fn pow(base: i128, exp: u32) -> Option<i128> {
    base.checked_pow(exp)
}

/// Divides rounding away from zero (the rounding Quantity applies below nano precision).
fn div_away(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 { q } else { q + n.signum() }
}

/// The value of `s` in nano-units, and the format its suffix selects.
fn parse(s: &str) -> Result<(i128, Format), TableError> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(invalid(s));
    }
    let digits = format!("{whole}{frac}");
    let digits = digits.trim_start_matches('0');
    let mut mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| invalid(s))? };
    if negative {
        mantissa = -mantissa;
    }
    let frac_len = i32::try_from(frac.len()).map_err(|_| invalid(s))?;
    let (binary_power, decimal_exp, format) = match suffix {
        "Ki" => (1, 0, Format::BinarySi),
        "Mi" => (2, 0, Format::BinarySi),
        "Gi" => (3, 0, Format::BinarySi),
        "Ti" => (4, 0, Format::BinarySi),
        "Pi" => (5, 0, Format::BinarySi),
        "Ei" => (6, 0, Format::BinarySi),
        "n" => (0, -9, Format::DecimalSi),
        "u" => (0, -6, Format::DecimalSi),
        "m" => (0, -3, Format::DecimalSi),
        "" => (0, 0, Format::DecimalSi),
        "k" => (0, 3, Format::DecimalSi),
        "M" => (0, 6, Format::DecimalSi),
        "G" => (0, 9, Format::DecimalSi),
        "T" => (0, 12, Format::DecimalSi),
        "P" => (0, 15, Format::DecimalSi),
        "E" => (0, 18, Format::DecimalSi),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().map_err(|_| invalid(s))?;
            if exp[1..].starts_with('+') || !(-100..=100).contains(&e) {
                return Err(invalid(s));
            }
            (0, e, Format::DecimalExponent)
        }
        _ => return Err(invalid(s)),
    };
    let scaled = mantissa.checked_mul(pow(1024, binary_power).ok_or_else(|| invalid(s))?).ok_or_else(|| invalid(s))?;
    let shift = 9 + decimal_exp - frac_len;
    let nanos = if shift >= 0 {
        let factor = pow(10, shift.unsigned_abs()).ok_or_else(|| invalid(s))?;
        scaled.checked_mul(factor).ok_or_else(|| invalid(s))?
    } else {
        match pow(10, shift.unsigned_abs()) {
            Some(d) => div_away(scaled, d),
            None => scaled.signum(),
        }
    };
    Ok((nanos, format))
}

fn print(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".into();
    }
    let mut format = format;
    if format == Format::BinarySi && (nanos.abs() < 1024 * NANO || nanos % NANO != 0) {
        format = Format::DecimalSi;
    }
    if format == Format::BinarySi {
        let mut n = nanos / NANO;
        let mut power = 0;
        while power < 6 && n % 1024 == 0 {
            n /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(power).copied().unwrap_or_default();
        return format!("{n}{suffix}");
    }
    let mut mantissa = nanos;
    let mut exponent: i32 = -9;
    while mantissa % 1000 == 0 {
        mantissa /= 1000;
        exponent += 3;
    }
    let suffix = match (format, exponent) {
        (_, 0) => String::new(),
        (Format::DecimalSi, -9) => "n".into(),
        (Format::DecimalSi, -6) => "u".into(),
        (Format::DecimalSi, -3) => "m".into(),
        (Format::DecimalSi, 3) => "k".into(),
        (Format::DecimalSi, 6) => "M".into(),
        (Format::DecimalSi, 9) => "G".into(),
        (Format::DecimalSi, 12) => "T".into(),
        (Format::DecimalSi, 15) => "P".into(),
        (Format::DecimalSi, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    format!("{mantissa}{suffix}")
}
