//! JSON merge patch (RFC 7386), with the null pruning of the evanphx/json-patch library kube-apiserver uses.

use serde_json::{Map, Value};

/// Applies a JSON merge patch (`application/merge-patch+json`) to `original`.
///
/// A patch that is not an object replaces the document; `null` members delete; objects merge recursively;
/// everything else (arrays included) replaces. Nulls inside values that are stored rather than merged are
/// pruned from their objects, as upstream does.
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(patch) => {
            let mut target = match original {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            merge_into(&mut target, patch);
            Value::Object(target)
        }
        other => other.clone(),
    }
}

fn merge_into(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
            continue;
        }
        let merged = match (target.remove(key), value) {
            (Some(Value::Object(mut current)), Value::Object(p)) => {
                merge_into(&mut current, p);
                Value::Object(current)
            }
            // An array patching an object is stored as sent (upstream prunes only over non-objects).
            (Some(Value::Object(_)), other) => other.clone(),
            (_, other) => pruned(other.clone()),
        };
        target.insert(key.clone(), merged);
    }
}

/// Removes null members of objects, at any depth (nulls that are array elements stay).
fn pruned(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, pruned(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(pruned).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (original, patch, want) in cases {
            assert_eq!(merge_patch(&original, &patch), want, "{original} + {patch}");
        }
    }

    #[test]
    fn merge_patch_prunes_nulls_inside_added_arrays_of_objects() {
        let got = merge_patch(&json!({}), &json!({"a": [{"b": null, "c": 1}, null]}));
        assert_eq!(got, json!({"a": [{"c": 1}, null]}));
    }

    #[test]
    fn merge_patch_deletes_a_label_and_keeps_the_others() {
        let original = json!({"metadata": {"name": "x", "labels": {"app": "web", "tier": "fe"}}});
        let got = merge_patch(&original, &json!({"metadata": {"labels": {"tier": null}}}));
        assert_eq!(got, json!({"metadata": {"name": "x", "labels": {"app": "web"}}}));
    }
}
