//! Errors of the strategic merge patch engine, worded as upstream's, plus Go `%v` rendering of JSON values
//! (upstream messages embed the offending maps printed by Go's fmt).

use serde_json::Value;

/// Why a strategic merge patch could not be applied.
///
/// kube-apiserver's patch handler (`interpretStrategicMergePatchError` in
/// k8s.io/apiserver/pkg/endpoints/handlers/patch.go) maps the well-known errors of the mergepatch package to
/// 400 Bad Request or 422 Unprocessable Entity; every other engine error is returned as a plain Go error,
/// which the response writer turns into a 500 status with an empty reason ("Error from server: <message>"
/// in kubectl). [`StrategicPatchError::status_code`] gives the code per variant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrategicPatchError {
    /// 400: the patch body is not a JSON object (decoding into `map[string]interface{}` fails).
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAnObject(&'static str),
    /// 400: a malformed `$deleteFromPrimitiveList/<field>` key.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveListFormat,
    /// 400: `$retainKeys` is not a list, or the patch sets a field the list does not name.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeysFormat,
    /// 400: a malformed `$setElementOrder/<field>` key or value.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrderFormat,
    /// 422: a list whose elements are lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// 500: an element of a merged list, or of `$setElementOrder`, lacks the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// 500: `$patch` with a value other than `replace` / `delete` (in a map) or `replace` / `delete` /
    /// `merge` (in a list element).
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownPatchType { directive: String, map: String },
    /// 500: `$patch: merge` in a list element.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,
    /// 500: a value of the wrong JSON type where the engine needs a map or a list.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType { expected: &'static str, actual: &'static str },
    /// 500: a list mixing element types.
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    /// 500: `$setElementOrder` for a list that is empty both in the object and in the patch.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// 500: the patch list is not ordered as its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch { patch: String, order: String },
    /// 500: a list of objects merged (by `$deleteFromPrimitiveList`) although the field has no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoDeclaredMergeKey(&'static str),
    /// 500: a list element is not a map where merge-key lookup needs one.
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
}

impl StrategicPatchError {
    /// The HTTP status kube-apiserver answers a PATCH with when the engine fails this way.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NotAnObject(_)
            | Self::BadPrimitiveListFormat
            | Self::BadRetainKeysFormat
            | Self::BadSetElementOrderFormat => 400,
            Self::ListOfLists => 422,
            _ => 500,
        }
    }

    pub(super) fn no_merge_key(map: &serde_json::Map<String, Value>, key: &str) -> Self {
        Self::NoMergeKey { map: go_map(map), key: key.to_owned() }
    }
}

/// Go's name for the dynamic type of a decoded JSON value (`reflect.TypeOf`).
pub(super) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

pub(super) const GO_MAP: &str = "map[string]interface {}";
pub(super) const GO_SLICE: &str = "[]interface {}";

/// A value as Go's `%v` prints it (maps with sorted keys, strings unquoted).
pub(super) fn go_v(value: &Value) -> String {
    let mut out = String::new();
    write_go(&mut out, value, false);
    out
}

/// A value as Go's `%s` prints it (non-strings as `%!s(type=value)`).
pub(super) fn go_s(value: &Value) -> String {
    let mut out = String::new();
    write_go(&mut out, value, true);
    out
}

pub(super) fn go_map(map: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, map, false);
    out
}

/// Go `%v` of a list of lists (`fmt.Sprint` of `[][]interface{}`).
pub(super) fn go_lists(lists: &[&[Value]]) -> String {
    let inner: Vec<String> = lists.iter().map(|l| go_v(&Value::Array(l.to_vec()))).collect();
    format!("[{}]", inner.join(" "))
}

fn write_go(out: &mut String, value: &Value, s_verb: bool) {
    let scalar = match value {
        Value::Null => {
            out.push_str(if s_verb { "%!s(<nil>)" } else { "<nil>" });
            return;
        }
        Value::String(s) => {
            out.push_str(s);
            return;
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(out, item, s_verb);
            }
            out.push(']');
            return;
        }
        Value::Object(map) => {
            write_map(out, map, s_verb);
            return;
        }
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float(f),
            (None, None) => n.to_string(),
        },
    };
    if s_verb {
        out.push_str(&format!("%!s({}={scalar})", go_type(value)));
    } else {
        out.push_str(&scalar);
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, s_verb: bool) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push_str("map[");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        if let Some(v) = map.get(key.as_str()) {
            write_go(out, v, s_verb);
        }
    }
    out.push(']');
}

/// Go's `%v` of a float64: shortest digits, in exponent form (signed, at least two exponent digits) when the
/// decimal exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else { return sci };
    let Ok(exp) = exp.parse::<i32>() else { return sci };
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_go_fmt_does() {
        let cases = [
            (json!({"image": "nginx", "ports": [80, 443]}), "map[image:nginx ports:[80 443]]"),
            (json!({"b": true, "a": null}), "map[a:<nil> b:true]"),
            (json!(1.5), "1.5"),
            (json!(1000000.5), "1.0000005e+06"),
            (json!(0.00001), "1e-05"),
        ];
        for (value, want) in cases {
            assert_eq!(go_v(&value), want, "{value}");
        }
    }

    #[test]
    fn non_strings_print_as_go_percent_s_does() {
        assert_eq!(go_s(&json!(3)), "%!s(int64=3)");
        assert_eq!(go_s(&json!("merge")), "merge");
    }

    #[test]
    fn statuses_follow_the_patch_handler() {
        assert_eq!(StrategicPatchError::BadRetainKeysFormat.status_code(), 400);
        assert_eq!(StrategicPatchError::ListOfLists.status_code(), 422);
        assert_eq!(StrategicPatchError::MergeListDirective.status_code(), 500);
    }
}
