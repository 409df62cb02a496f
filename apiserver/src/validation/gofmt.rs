//! Go's `%q` and `%#v` renderings of the values upstream puts in messages.

use serde_json::{Map, Value};

/// strconv.Quote: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How upstream prints a bad value of the Go type the JSON would decode to:
/// strings quoted, numbers and booleans bare, `map[string]string{...}` and
/// `[]string{...}` for string maps and lists, compact JSON otherwise.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Object(map) if map.values().all(Value::is_string) => string_map(Some(map)),
        Value::Array(items) if items.iter().all(Value::is_string) => string_slice(Some(items)),
        other => other.to_string(),
    }
}

/// `%#v` of a map[string]string (`map[string]string(nil)` when absent).
pub fn string_map(map: Option<&Map<String, Value>>) -> String {
    let Some(map) = map else { return "map[string]string(nil)".to_string() };
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> =
        entries.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v.as_str().unwrap_or_default()))).collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// `%#v` of a []string (`[]string(nil)` when absent).
pub fn string_slice(items: Option<&Vec<Value>>) -> String {
    let Some(items) = items else { return "[]string(nil)".to_string() };
    let parts: Vec<String> = items.iter().map(|v| quote(v.as_str().unwrap_or_default())).collect();
    format!("[]string{{{}}}", parts.join(", "))
}

/// `%#v` of a metav1.LabelSelector decoded from `selector`.
pub fn label_selector(selector: &Value) -> String {
    let match_labels = string_map(selector.get("matchLabels").and_then(Value::as_object));
    let expressions = match selector.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        quote(e.get("key").and_then(Value::as_str).unwrap_or_default()),
                        quote(e.get("operator").and_then(Value::as_str).unwrap_or_default()),
                        string_slice(e.get("values").and_then(Value::as_array))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{expressions}}}")
}

/// `%#v` of an intstr.IntOrString decoded from `value`.
pub fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", quote(s)),
        other => format!("intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}", other.as_i64().unwrap_or(0)),
    }
}

/// `%#v` of a string field of a typed struct (`""` when absent).
pub fn str_field(object: &Value, key: &str) -> String {
    quote(object.get(key).and_then(Value::as_str).unwrap_or_default())
}
