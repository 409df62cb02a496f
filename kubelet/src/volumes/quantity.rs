//! Just enough of resource.Quantity to read sizes and resource values
//! (decimal and binary suffixes, exponents); k8s-openapi keeps quantities as strings.

/// The value of a quantity (`"1Gi"` → 1073741824, `"250m"` → 0.25); `None` when malformed.
pub fn parse(quantity: &str) -> Option<f64> {
    let text = quantity.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
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
            let digits = exponent.strip_prefix('e').or_else(|| exponent.strip_prefix('E'))?;
            10f64.powi(digits.parse().ok()?)
        }
    };
    Some(number * factor)
}

/// The node's memory in bytes (MemTotal of /proc/meminfo).
pub fn node_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantities_parse_with_decimal_and_binary_suffixes() {
        assert_eq!(super::parse("1Gi"), Some(1073741824.0));
        assert_eq!(super::parse("250m"), Some(0.25));
        assert_eq!(super::parse("64M"), Some(64e6));
        assert_eq!(super::parse("2"), Some(2.0));
        assert_eq!(super::parse("1e3"), Some(1000.0));
        assert_eq!(super::parse("lots"), None);
    }
}
