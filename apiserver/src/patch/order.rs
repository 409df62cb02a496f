//! Element order of merged lists: `$setElementOrder/<field>` and the ordering upstream gives every merged
//! list (patch items in patch order, server-only items in their original order, interleaved).

use serde_json::Value;

use super::error::{GO_SLICE, StrategicPatchError, go_type, go_v};
use super::schema;
use super::strategic::{
    DIRECTIVE, Kind, Obj, Result, SET_ELEMENT_ORDER, Ty, element_kind, expect_map, merge_list_field, remove_directives,
};

/// Processes every `$setElementOrder/<field>` of `patch` together with `<field>`: merges the list, then
/// orders it as the directive says, server-only elements keeping their relative place.
pub(super) fn merge_ordered_lists(original: &mut Obj, patch: &mut Obj, ty: Ty) -> Result<()> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else { continue };
        let Value::Array(order) = order else {
            return Err(StrategicPatchError::BadArgType { expected: GO_SLICE, actual: go_type(&order) });
        };
        let field_key = match key.split_once('/') {
            Some((SET_ELEMENT_ORDER, field)) => field.to_owned(),
            _ => return Err(StrategicPatchError::BadSetElementOrderFormat),
        };
        let original_list = list_at(original, &field_key)?;
        let patch_list = list_at(patch, &field_key)?;
        let field = schema::field(ty, &field_key);
        let key = field.merge_key;
        validate_patch_order(patch_list.as_deref().unwrap_or_default(), &order, key)?;

        let original_items = original_list.clone().unwrap_or_default();
        let patch_items_raw = patch_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => match remove_directives(Value::Array(p)) {
                Some(Value::Array(p)) => p,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_list_field(o, p, field, false)?,
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, key)?;
        let element = element_kind(&[&original_items, &patch_items_raw])?;
        let both = normalize_element_order(in_order, server_only, &order, &original_items, key, element)?;
        original.insert(field_key.clone(), Value::Array(both));
        patch.remove(&field_key);
    }
    Ok(())
}

fn list_at(map: &Obj, key: &str) -> Result<Option<Vec<Value>>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(StrategicPatchError::BadArgType { expected: GO_SLICE, actual: go_type(other) }),
    }
}

/// The patch list (deletions aside) must follow the order of the `$setElementOrder` list.
fn validate_patch_order(patch: &[Value], order: &[Value], key: &str) -> Result<()> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut kept: Vec<&Value> = Vec::with_capacity(patch.len());
    for item in patch {
        if key.is_empty() || !is_delete(expect_map(item)?) {
            kept.push(item);
        }
    }
    let (mut p, mut o) = (0, 0);
    while let (Some(item), Some(wanted)) = (kept.get(p), order.get(o)) {
        if item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            p += 1;
            continue;
        }
        if merge_key_equal(item, wanted, key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(StrategicPatchError::OrderMismatch {
            patch: go_v(&Value::Array(patch.to_vec())),
            order: go_v(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn is_delete(map: &Obj) -> bool {
    map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

fn merge_key_equal(left: &Value, right: &Value, key: &str) -> Result<bool> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let (left, right) = (expect_map(left)?, expect_map(right)?);
    let l = left.get(key).ok_or_else(|| StrategicPatchError::no_merge_key(left, key))?;
    let r = right.get(key).ok_or_else(|| StrategicPatchError::no_merge_key(right, key))?;
    Ok(l == r)
}

/// The index of the first map of `list` whose merge key equals `value`.
pub(super) fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let Some(map) = item.as_object() else { return Err(StrategicPatchError::NotAMap(i)) };
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits `merged` into the items present in `by` and the others (by merge key, or by value without one).
pub(super) fn partition(merged: Vec<Value>, by: &[Value], key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut present = Vec::with_capacity(merged.len());
    let mut absent = Vec::new();
    for item in merged {
        let found = if key.is_empty() {
            by.contains(&item)
        } else {
            let map = expect_map(&item)?;
            let value = map.get(key).ok_or_else(|| StrategicPatchError::no_merge_key(map, key))?;
            find_by_key(by, key, value)?.is_some()
        };
        if found { present.push(item) } else { absent.push(item) }
    }
    Ok((present, absent))
}

/// Orders patch items as `patch_order` and server-only items as `server_order`, then interleaves them.
pub(super) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    element: Kind,
) -> Result<Vec<Value>> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, element)?;
    let server_only = normalize_slice_order(server_only, server_order, key, element)?;
    Ok(merge_sorted(server_only, patch_items, server_order, key, element))
}

fn normalize_slice_order(items: Vec<Value>, order: &[Value], key: &str, element: Kind) -> Result<Vec<Value>> {
    let (mut items, deleted) = if element == Kind::Map {
        validate_merge_key(key, &items)?;
        validate_merge_key(key, order)?;
        items.into_iter().partition::<Vec<_>, _>(|v| !v.as_object().is_some_and(is_delete))
    } else {
        (items, Vec::new())
    };
    items.sort_by_key(|v| index(order, v, key, element).unwrap_or(usize::MAX));
    items.extend(deleted);
    Ok(items)
}

fn validate_merge_key(key: &str, items: &[Value]) -> Result<()> {
    for item in items {
        let map = expect_map(item)?;
        if !map.contains_key(key) {
            return Err(StrategicPatchError::no_merge_key(map, key));
        }
    }
    Ok(())
}

/// Position of `item` in `list`: by merge key for maps, by value otherwise.
fn index(list: &[Value], item: &Value, key: &str, element: Kind) -> Option<usize> {
    if element == Kind::Map {
        let wanted = item.as_object().and_then(|m| m.get(key));
        list.iter().position(|v| v.as_object().and_then(|m| m.get(key)) == wanted)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// Inserts each server-only item (`left`) before the first patch item (`right`) that follows it in the
/// original order; both keep their relative order.
fn merge_sorted(left: Vec<Value>, right: Vec<Value>, server_order: &[Value], key: &str, element: Kind) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (index(server_order, l, key, element), index(server_order, r, key, element)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
