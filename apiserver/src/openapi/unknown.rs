//! Unknown-field detection: which fields of an object the typed decoder would drop, named the way
//! upstream's strict JSON decoder names them (`spec.template.spec.containers[0].imagePullPolicyy`).

use serde_json::Value;

use super::schemas::{Components, REF_PREFIX};

/// Upstream stops collecting strict errors after this many.
const MAX_ERRORS: usize = 100;

/// Walks `value` against `schema`, appending the paths of unknown fields to `out` in the object's order.
pub fn walk(components: &Components, schema: &Value, value: &Value, path: &mut String, out: &mut Vec<String>) {
    let Some(schema) = resolve(components, schema) else { return };
    if schema.get("x-kubernetes-int-or-string").is_some() {
        return;
    }
    match value {
        Value::Object(fields) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (key, field) in fields {
                    match properties.get(key) {
                        Some(sub) => descend(components, sub, field, path, Step::Key(key), out),
                        None => report(path, key, out),
                    }
                }
            } else if let Some(additional @ Value::Object(_)) = schema.get("additionalProperties") {
                for (key, field) in fields {
                    descend(components, additional, field, path, Step::Key(key), out);
                }
            }
            // An object schema without properties (RawExtension, FieldsV1, Patch) accepts anything.
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    descend(components, item_schema, item, path, Step::Index(i), out);
                }
            }
        }
        _ => {}
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn descend(
    components: &Components,
    schema: &Value,
    value: &Value,
    path: &mut String,
    step: Step,
    out: &mut Vec<String>,
) {
    if !matches!(value, Value::Object(_) | Value::Array(_)) {
        return;
    }
    let len = path.len();
    match step {
        Step::Key(key) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        }
        Step::Index(i) => {
            path.push('[');
            path.push_str(&i.to_string());
            path.push(']');
        }
    }
    walk(components, schema, value, path, out);
    path.truncate(len);
}

fn report(path: &str, key: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_ERRORS {
        return;
    }
    let full = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    if !out.contains(&full) {
        out.push(full);
    }
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema that describes the value.
fn resolve<'a>(components: &'a Components, mut schema: &'a Value) -> Option<&'a Value> {
    // Refs chain through at most a handful of hops; the bound guards against cycles.
    for _ in 0..16 {
        if let Some(Value::String(r)) = schema.get("$ref") {
            schema = components.get(r.strip_prefix(REF_PREFIX)?)?;
        } else if let Some(Value::Array(all_of)) = schema.get("allOf")
            && let [only] = all_of.as_slice()
            && schema.get("properties").is_none()
        {
            schema = only;
        } else {
            return Some(schema);
        }
    }
    None
}
