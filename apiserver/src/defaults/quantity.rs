//! Just enough of resource.Quantity to add and compare CPU and memory amounts for a pod's QoS class.

/// The quantity in units of 10^-9 (finer digits are dropped); `None` when it does not parse or
/// does not fit.
pub(crate) fn parse_nanos(text: &str) -> Option<i128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || whole.len() + fraction.len() > 38 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let mantissa: i128 = digits.parse().ok()?;
    let (decimal_exponent, binary_exponent) = suffix_exponents(suffix)?;
    let fraction_len = i32::try_from(fraction.len()).ok()?;
    let exponent = decimal_exponent.checked_add(9)?.checked_sub(fraction_len)?;
    let mut value = mantissa;
    if exponent >= 0 {
        value = value.checked_mul(10_i128.checked_pow(u32::try_from(exponent).ok()?)?)?;
    } else {
        let divisor = u32::try_from(-exponent).ok().and_then(|e| 10_i128.checked_pow(e));
        value = divisor.map_or(0, |d| value / d);
    }
    value = value.checked_mul(1_i128.checked_shl(binary_exponent)?)?;
    Some(if negative { -value } else { value })
}

/// The (power of ten, power of two) a quantity suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    let exponents = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (exponent.parse().ok()?, 0)
        }
    };
    Some(exponents)
}
