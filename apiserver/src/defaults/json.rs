//! Small helpers for editing `serde_json::Value` trees without panicking.
//!
//! Go's "unset" differs per field kind; these helpers name the three cases kube-apiserver uses:
//! pointers (absent or null), strings (absent, null or "") and plain integers (absent, null or 0).
//! A value of an unexpected JSON type is always left alone.

use serde_json::{Map, Value};

/// A JSON object, as edited in place.
pub(crate) type Obj = Map<String, Value>;

/// True when the key is missing or null (a nil Go pointer, slice or map).
pub(crate) fn is_nil(map: &Obj, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// Sets `key` to `value` when it is missing or null (a nil Go pointer).
pub(crate) fn default_ptr(map: &mut Obj, key: &str, value: Value) {
    if is_nil(map, key) {
        map.insert(key.to_owned(), value);
    }
}

/// Sets `key` to the string `value` when it is missing, null or "" (an empty Go string).
pub(crate) fn default_str(map: &mut Obj, key: &str, value: &str) {
    if str_is_empty(map, key) {
        map.insert(key.to_owned(), Value::from(value));
    }
}

/// True when a Go string field is empty: missing, null or "".
pub(crate) fn str_is_empty(map: &Obj, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// Sets `key` to `value` when it is missing, null or 0 (a zero Go integer).
pub(crate) fn default_int(map: &mut Obj, key: &str, value: i64) {
    let zero = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(_) => false,
    };
    if zero {
        map.insert(key.to_owned(), Value::from(value));
    }
}

/// The string at `key`, if it is one.
pub(crate) fn get_str<'a>(map: &'a Obj, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// The object at `key` for editing, if it is one.
pub(crate) fn obj_mut<'a>(map: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key`, created empty when missing or null; `None` when it has another type.
pub(crate) fn ensure_obj<'a>(map: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    if is_nil(map, key) {
        map.insert(key.to_owned(), Value::Object(Obj::new()));
    }
    obj_mut(map, key)
}

/// Runs `f` on every object element of the array at `key` (other elements are skipped).
pub(crate) fn each_obj(map: &mut Obj, key: &str, mut f: impl FnMut(&mut Obj)) {
    if let Some(items) = map.get_mut(key).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// True when `key` holds a non-empty object.
pub(crate) fn has_entries(map: &Obj, key: &str) -> bool {
    map.get(key).and_then(Value::as_object).is_some_and(|m| !m.is_empty())
}

/// True when `key` holds a non-empty array.
pub(crate) fn has_items(map: &Obj, key: &str) -> bool {
    map.get(key).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// True when `key` is missing, null or an empty object (a Go map of length 0).
pub(crate) fn is_empty_map(map: &Obj, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}

/// The non-empty labels of a spec's pod template, copied.
pub(crate) fn template_labels(spec: &Obj) -> Option<Value> {
    spec.get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|labels| labels.as_object().is_some_and(|l| !l.is_empty()))
        .cloned()
}
