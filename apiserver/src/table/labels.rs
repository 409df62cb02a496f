//! Label maps and label selectors printed as `labels.FormatLabels` / `metav1.FormatLabelSelector` do.

use serde_json::{Map, Value};

use super::TableError;
use super::access::{list, object, string};

/// `labels.FormatLabels`: "k=v" sorted by key, comma-joined; "<none>" when empty.
pub(super) fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> =
        labels.into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs.join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, "<none>" when it selects nothing or everything,
/// "<error>" when invalid.
pub(super) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(_) => "<error>".into(),
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: "" for a nil or empty selector.
pub(super) fn selector_string(selector: Option<&Value>) -> Result<String, TableError> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else { return Ok(String::new()) };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in object(selector, &["matchLabels"]).into_iter().flatten() {
        let value = value.as_str().unwrap_or_default();
        validate_key(key)?;
        validate_value(value)?;
        requirements.push((key.clone(), format!("{key}={value}")));
    }
    for expr in list(selector, &["matchExpressions"]) {
        let key = string(expr, &["key"]);
        validate_key(key)?;
        let mut values: Vec<&str> = list(expr, &["values"]).iter().map(|v| v.as_str().unwrap_or_default()).collect();
        for v in &values {
            validate_value(v)?;
        }
        values.sort_unstable();
        let operator = string(expr, &["operator"]);
        let text = match operator {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return Err(TableError::InvalidSelector(
                        "for 'in', 'notin' operators, values set can't be empty".into(),
                    ));
                }
                let word = if operator == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(TableError::InvalidSelector(
                        "values set must be empty for exists and does not exist".into(),
                    ));
                }
                if operator == "Exists" { key.to_string() } else { format!("!{key}") }
            }
            other => {
                return Err(TableError::InvalidSelector(format!("{other:?} is not a valid label selector operator")));
            }
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join(","))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(f), Some(l)) => {
            s.len() <= 63 && f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() && s.chars().all(is_name_char)
        }
        _ => false,
    }
}

/// A lowercase RFC 1123 subdomain of at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

fn validate_key(key: &str) -> Result<(), TableError> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(key),
    };
    if ok { Ok(()) } else { Err(TableError::InvalidSelector(format!("invalid label key {key:?}"))) }
}

fn validate_value(value: &str) -> Result<(), TableError> {
    if value.is_empty() || is_qualified_name_part(value) {
        Ok(())
    } else {
        Err(TableError::InvalidSelector(format!("invalid label value {value:?}")))
    }
}
