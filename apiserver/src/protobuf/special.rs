//! Kubernetes types whose protobuf message differs from their JSON form.

use super::ProtobufError;
use super::debug_tree::Node;

/// Turns a parsed message into its JSON-shaped node when it is one of Kubernetes' special wire types
/// (`Time`, `MicroTime`, `Duration`, `IntOrString`, `Quantity`, `RawExtension`, `FieldsV1`); any other
/// message stays a [`Node::Struct`].
pub(super) fn convert(name: &str, fields: Vec<(String, Node)>) -> Result<Node, ProtobufError> {
    let field = |wanted: &str| fields.iter().find(|(n, _)| n == wanted).map(|(_, v)| v);
    let int = |wanted: &str| match field(wanted) {
        Some(Node::Int(i)) => *i,
        _ => 0,
    };
    match name {
        // metav1.Time keeps whole seconds only (its Unmarshal drops nanos); an empty message is the zero
        // time, which Go renders as `null`.
        "Time" if field("seconds").is_none_or(|v| *v == Node::Null) => Ok(Node::Null),
        "Time" => timestamp(int("seconds"), 0),
        "MicroTime" if fields.iter().all(|(_, v)| *v == Node::Null) => Ok(Node::Null),
        "MicroTime" => timestamp(int("seconds"), int("nanos") / 1000 * 1000),
        "Duration" => Ok(Node::Str(go_duration(int("duration")))),
        // IntOrString: type 1 is a string, anything else an int.
        "IntOrString" if int("type") == 1 => Ok(Node::Str(string(field("str_val")))),
        "IntOrString" => Ok(Node::Int(int("int_val"))),
        "Quantity" => Ok(Node::Str(string(field("string")))),
        "RawExtension" | "FieldsV1" => raw_json(name, field("raw")),
        _ => Ok(Node::Struct(name.to_string(), fields)),
    }
}

fn string(node: Option<&Node>) -> String {
    match node {
        Some(Node::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

fn timestamp(seconds: i64, nanos: i64) -> Result<Node, ProtobufError> {
    let nanos = i32::try_from(nanos).unwrap_or(0);
    jiff::Timestamp::new(seconds, nanos)
        .map(|t| Node::Str(t.to_string()))
        .map_err(|e| ProtobufError::Convert { kind: "Time".into(), message: e.to_string() })
}

/// The bytes of a `bytes` field (rendered as a list of small integers).
pub(super) fn bytes(items: &[Node]) -> Option<Vec<u8>> {
    items
        .iter()
        .map(|n| match n {
            Node::Int(i) => u8::try_from(*i).ok(),
            Node::UInt(u) => u8::try_from(*u).ok(),
            _ => None,
        })
        .collect()
}

/// RawExtension and FieldsV1 carry raw JSON; a RawExtension may also hold a nested `k8s\0` protobuf object.
fn raw_json(name: &str, raw: Option<&Node>) -> Result<Node, ProtobufError> {
    let data = match raw {
        Some(Node::List(items)) => bytes(items).unwrap_or_default(),
        _ => Vec::new(),
    };
    if data.is_empty() {
        return Ok(Node::Null);
    }
    if data.starts_with(super::MAGIC) {
        return super::decode(&data).map(Node::Json);
    }
    serde_json::from_slice(&data)
        .map(Node::Json)
        .map_err(|e| ProtobufError::Convert { kind: name.to_string(), message: format!("raw bytes are not JSON: {e}") })
}

/// Formats nanoseconds the way Go's `time.Duration.String` does ("1h0m0s", "1.5s", "300ms", "0s").
pub(super) fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (unit, scale) = match u {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{}{unit}", u / scale, fraction(u % scale, scale));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}{}s", fraction(u % 1_000_000_000, 1_000_000_000)));
    out
}

/// `.ddd` for `rest / scale` without trailing zeros, or nothing.
fn fraction(rest: u64, scale: u64) -> String {
    if rest == 0 {
        return String::new();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}
