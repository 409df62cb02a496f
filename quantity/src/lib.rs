//! resource.Quantity values (`"500m"`, `"1.5Gi"`, `"1e3"`): exact, in
//! thousandths rounded up as upstream's `MilliValue` and `Value` round, or
//! approximate as a float.
//!
//! Written here because k8s-openapi keeps a Quantity as its string and no
//! maintained crate parses Kubernetes' suffixes.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity in millis, rounded up (upstream's `MilliValue`); unparsable counts as 0.
pub fn milli_value(quantity: &Quantity) -> i64 {
    parse_milli(&quantity.0).map_or(0, clamp_i64)
}

/// A quantity in whole units, rounded up (upstream's `Value`); unparsable counts as 0.
pub fn value(quantity: &Quantity) -> i64 {
    parse_milli(&quantity.0).map_or(0, |m| clamp_i64(ceil_div(m, 1000)))
}

/// `numerator / denominator` rounded towards positive infinity.
pub fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    if numerator % denominator != 0 && (numerator > 0) == (denominator > 0) { quotient + 1 } else { quotient }
}

fn clamp_i64(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// A quantity's value times 1000, rounded up; `None` when it does not parse.
pub fn parse_milli(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') || whole.len() + fraction.len() > 30 {
        return None;
    }
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let (binary, decimal): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent if exponent.starts_with(['e', 'E']) => (0, exponent[1..].parse().ok()?),
        _ => return None,
    };
    let numerator = digits.checked_mul(1i128.checked_shl(binary)?)?;
    let power = decimal - fraction.len() as i32 + 3;
    let value = if power >= 0 {
        numerator.checked_mul(10i128.checked_pow(power as u32)?)?
    } else {
        let denominator = 10i128.checked_pow((-power) as u32)?;
        ceil_div(numerator, denominator)
    };
    Some(if negative { -value } else { value })
}

/// The numeric value of a quantity (`"500m"`, `"1Gi"`, `"1e3"`), or `None`
/// when it does not parse.
pub fn to_f64(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || number.len() - digits.len() > 1 || digits.contains(['+', '-']) {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let exponent: i32 = digits.parse().ok()?;
            10f64.powi(exponent)
        }
    };
    Some(value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_round_up_to_millis_and_units() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("1Ki"), Some(1_024_000));
        assert_eq!(parse_milli("1u"), Some(1), "rounded up");
        assert_eq!(parse_milli("2e3"), Some(2_000_000));
        assert_eq!(parse_milli("-1.5"), Some(-1500));
        for bad in ["", ".", "12x", "1.2.3", "e3"] {
            assert_eq!(parse_milli(bad), None, "{bad:?}");
        }
        assert_eq!(value(&Quantity("1500m".into())), 2);
        assert_eq!(milli_value(&Quantity("junk".into())), 0);
        assert_eq!(ceil_div(7, 2), 4);
        assert_eq!(ceil_div(-7, 2), -3);
    }

    #[test]
    fn approximate_values_take_decimal_and_binary_suffixes() {
        assert_eq!(to_f64("1Gi"), Some(1073741824.0));
        assert_eq!(to_f64("250m"), Some(0.25));
        assert_eq!(to_f64("64M"), Some(64e6));
        assert_eq!(to_f64("1e3"), Some(1000.0));
        for bad in ["lots", "", ".", "+-1", "1x"] {
            assert_eq!(to_f64(bad), None, "{bad:?}");
        }
    }
}
