//! The strategic merge patch engine: upstream's `mergeMap` / `mergeSlice` as kube-apiserver runs them
//! (`MergeParallelList` and `IgnoreUnmatchedNulls` on), over `serde_json` values.

use serde_json::{Map, Value};

use super::error::{GO_MAP, StrategicPatchError, go_lists, go_map, go_s, go_type};
use super::order;
use super::schema::{self, Field, Strategy, Type};

pub(super) type Obj = Map<String, Value>;
pub(super) type Result<T> = std::result::Result<T, StrategicPatchError>;
pub(super) type Ty = Option<&'static Type>;

pub(super) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// The dynamic type of a decoded JSON value as Go sees it (integers and floats differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    List,
    Map,
}

pub(super) fn kind(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Map,
    }
}

/// Merges `patch` into `original`, whose patch metadata is `ty`.
pub(super) fn merge_map(mut original: Obj, mut patch: Obj, ty: Ty) -> Result<Obj> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Obj::new()),
            _ => Err(unknown_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    order::merge_ordered_lists(&mut original, &mut patch, ty)?;

    for (key, patch_value) in patch {
        let (key, delete_list) = split_delete_list(key)?;
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let merged = match original.remove(&key) {
            None if delete_list => continue,
            None => inserted(patch_value),
            Some(current) if kind(&current) != kind(&patch_value) => {
                if delete_list {
                    original.insert(key, current);
                    continue;
                }
                inserted(patch_value)
            }
            Some(Value::Object(current)) => {
                let field = schema::field(ty, &key);
                match patch_value {
                    Value::Object(p) if field.strategy == Strategy::Replace => Some(Value::Object(p)),
                    Value::Object(p) => Some(Value::Object(merge_map(current, p, field.ty)?)),
                    other => Some(other),
                }
            }
            Some(Value::Array(current)) => match patch_value {
                Value::Array(p) => {
                    Some(Value::Array(merge_list_field(current, p, schema::field(ty, &key), delete_list)?))
                }
                other => Some(other),
            },
            Some(_) => remove_directives(patch_value),
        };
        if let Some(value) = merged {
            original.insert(key, value);
        }
    }
    Ok(original)
}

/// `$deleteFromPrimitiveList/<field>` names `<field>` and marks its value as a deletion list.
fn split_delete_list(key: String) -> Result<(String, bool)> {
    if !key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
        return Ok((key, false));
    }
    match key.split_once('/') {
        Some((prefix, _)) if prefix != DELETE_FROM_PRIMITIVE_LIST => Err(StrategicPatchError::BadPrimitiveListFormat),
        None => Err(StrategicPatchError::BadPrimitiveListFormat),
        Some((_, "")) => Ok((key, true)),
        Some((_, field)) => Ok((field.to_owned(), true)),
    }
}

/// A patch value stored where the object had nothing (or a value of another type): nulls dropped, maps
/// carrying `$patch` removed.
fn inserted(mut value: Value) -> Option<Value> {
    discard_nulls(&mut value);
    remove_directives(value)
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every map holding `$patch` (`None` when `value` itself is one).
pub(super) fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => {
            Some(Value::Object(map.into_iter().filter_map(|(k, v)| remove_directives(v).map(|v| (k, v))).collect()))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

/// `$retainKeys`: clears the keys of `original` it does not list; the patch may only set listed keys.
fn apply_retain_keys(original: &mut Obj, patch: &mut Obj) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else { return Err(StrategicPatchError::BadRetainKeysFormat) };
    let listed = |key: &str| retain.iter().any(|v| v.as_str() == Some(key));
    let unlisted = patch.iter().any(|(k, v)| {
        !(v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) || listed(k))
    });
    if unlisted {
        return Err(StrategicPatchError::BadRetainKeysFormat);
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Merges a list field: element-wise under `patchStrategy: merge` (or for a deletion list), else the patch
/// list replaces the original.
pub(super) fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &Field,
    delete_list: bool,
) -> Result<Vec<Value>> {
    if field.strategy.merges_lists() || delete_list {
        merge_list(original, patch, field, delete_list)
    } else {
        Ok(patch)
    }
}

fn merge_list(original: Vec<Value>, patch: Vec<Value>, field: &Field, delete_list: bool) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let element = element_kind(&[&original, &patch])?;
    let key = field.merge_key;
    let (original, patch, merged) = if element != Kind::Map {
        if delete_list {
            return Ok(original.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        if key.is_empty() {
            return Err(StrategicPatchError::NoDeclaredMergeKey("struct"));
        }
        let (original, patch) = apply_special_elements(original, patch, key)?;
        let merged = merge_elements(original.clone(), &patch, key, field.ty)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = order::partition(merged, &patch, key)?;
    order::normalize_element_order(patch_items, server_only, &patch, &original, key, element)
}

/// Applies the `$patch` elements of a merged list of maps: `delete` removes the original elements with the
/// same merge key, `replace` makes the other patch elements the whole list. Returns the original and the
/// patch without those elements.
fn apply_special_elements(mut original: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some((directive, map)) = element.as_object().and_then(|m| m.get(DIRECTIVE).map(|d| (d, m))) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = map.get(key) else { return Err(StrategicPatchError::no_merge_key(map, key)) };
                if let Some(i) = original.iter().position(|v| !v.is_object()) {
                    return Err(StrategicPatchError::NotAMap(i));
                }
                original.retain(|v| v.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(StrategicPatchError::MergeListDirective),
            _ => return Err(unknown_patch_type(directive, map)),
        }
    }
    Ok(if replace { (plain, Vec::new()) } else { (original, plain) })
}

/// Merges each patch element into the original element with the same merge key, or appends it.
fn merge_elements(mut merged: Vec<Value>, patch: &[Value], key: &str, ty: Ty) -> Result<Vec<Value>> {
    for element in patch {
        let Value::Object(map) = element else { continue };
        let Some(value) = map.get(key) else { return Err(StrategicPatchError::no_merge_key(map, key)) };
        match order::find_by_key(&merged, key, value)?.and_then(|i| merged.get_mut(i)) {
            Some(slot) => {
                if let Value::Object(current) = std::mem::take(slot) {
                    *slot = Value::Object(merge_map(current, map.clone(), ty)?);
                }
            }
            None => merged.push(element.clone()),
        }
    }
    Ok(merged)
}

/// The common element type of the lists (upstream's `sliceElementType`).
pub(super) fn element_kind(lists: &[&[Value]]) -> Result<Kind> {
    let mut found: Option<Kind> = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let k = kind(v);
        match found {
            None if k == Kind::List => return Err(StrategicPatchError::ListOfLists),
            None => found = Some(k),
            Some(prev) if prev != k => return Err(StrategicPatchError::MixedElementTypes(go_lists(lists))),
            Some(_) => {}
        }
    }
    found.ok_or(StrategicPatchError::NoElements)
}

pub(super) fn unknown_patch_type(directive: &Value, map: &Obj) -> StrategicPatchError {
    StrategicPatchError::UnknownPatchType { directive: go_s(directive), map: go_map(map) }
}

pub(super) fn expect_map(value: &Value) -> Result<&Obj> {
    value.as_object().ok_or(StrategicPatchError::BadArgType { expected: GO_MAP, actual: go_type(value) })
}

/// Whether a key is a patch directive (removed from what is stored).
fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Removes the directive keys left in the merged object (kept verbatim by upstream's engine where it copies
/// patch values, and dropped as unknown fields when kube-apiserver decodes the result into its Go type).
/// Opaque fields (`RawExtension`) keep them.
pub(super) fn strip_directives(value: &mut Value, ty: Ty) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_directive_key(k));
            for (k, v) in map.iter_mut() {
                let field = schema::field(ty, k);
                if !field.opaque {
                    strip_directives(v, field.ty);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip_directives(v, ty)),
        _ => {}
    }
}
