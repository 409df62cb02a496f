//! Table-driven tests: each asserts upstream's exact message texts.

use serde_json::{Value, json};

use super::FieldError;

mod core_kinds;
mod fields;
mod meta;
mod names;
mod pods;
mod rbac;
mod workloads;

/// The Display texts of `errors`.
fn texts(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// Sets (or adds) the member at a JSON pointer whose parent exists.
fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match value.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/"), new);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
}

/// Removes the member at a JSON pointer.
fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    value.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key);
}

/// `object` with the changes applied (`Value::Null` removes).
fn with(object: &Value, changes: &[(&str, Value)]) -> Value {
    let mut changed = object.clone();
    for (pointer, value) in changes {
        if value.is_null() {
            remove(&mut changed, pointer);
        } else {
            set(&mut changed, pointer, value.clone());
        }
    }
    changed
}

/// A defaulted pod spec with one container.
fn pod_spec() -> Value {
    json!({
        "containers": [{
            "name": "app", "image": "nginx", "imagePullPolicy": "Always",
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {}
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "securityContext": {}, "schedulerName": "default-scheduler"
    })
}

/// A defaulted pod.
fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "1"},
        "spec": pod_spec()
    })
}

/// A defaulted pod template with `labels`.
fn template(labels: Value) -> Value {
    json!({"metadata": {"labels": labels}, "spec": pod_spec()})
}
