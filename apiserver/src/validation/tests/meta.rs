use serde_json::{Value, json};

use super::super::{validate_create, validate_update};
use super::{texts, with};

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default", "uid": "u-1"}, "data": {"a": "b"}})
}

#[test]
fn object_meta_rules_apply_to_every_kind() {
    let big = "x".repeat(256 * 1024);
    let cases: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        ("", "ConfigMap", config_map(), vec![]),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/name", Value::Null)]),
            vec!["metadata.name: Required value: name or generateName is required"],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/name", json!("cfg-x7k2p")), ("/metadata/generateName", json!("cfg-"))]),
            vec![],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/name", Value::Null), ("/metadata/generateName", json!("Cfg-"))]),
            vec![
                "metadata.generateName: Invalid value: \"Cfg-\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "metadata.name: Required value: name or generateName is required",
            ],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/namespace", Value::Null)]),
            vec!["metadata.namespace: Required value"],
        ),
        (
            "",
            "Namespace",
            json!({"metadata": {"name": "team", "namespace": "default"}}),
            vec!["metadata.namespace: Forbidden: not allowed on this type"],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/labels", json!({"app": "bad value", "-x": "ok"}))]),
            vec![
                "metadata.labels: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/annotations", json!({"big": big}))]),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/finalizers", json!(["kubernetes", "example.com/x", "foo"]))]),
            vec![
                "metadata.finalizers[2]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified",
            ],
        ),
        (
            "",
            "ConfigMap",
            with(
                &config_map(),
                &[("/metadata/ownerReferences", json!([{"apiVersion": "apps/", "kind": "ReplicaSet", "name": "rs"}]))],
            ),
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ],
        ),
        (
            "",
            "ConfigMap",
            with(&config_map(), &[("/metadata/generation", json!(-1))]),
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0"],
        ),
        ("example.com", "Widget", json!({"metadata": {"name": "w", "namespace": "default"}}), vec![]),
        ("example.com", "Widget", json!({"metadata": {"name": "w"}}), vec![]),
    ];
    for (group, kind, object, expected) in cases {
        assert_eq!(texts(&validate_create(group, kind, &object)), expected, "{object}");
    }
}

#[test]
fn identity_metadata_is_immutable_on_update() {
    let old = config_map();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (with(&old, &[("/data", json!({"a": "c"}))]), vec![]),
        (
            with(&old, &[("/metadata/name", json!("other"))]),
            vec!["metadata.name: Invalid value: \"other\": field is immutable"],
        ),
        (
            with(&old, &[("/metadata/uid", json!("u-2"))]),
            vec!["metadata.uid: Invalid value: \"u-2\": field is immutable"],
        ),
    ];
    for (new, expected) in cases {
        assert_eq!(texts(&validate_update("", "ConfigMap", &new, &old)), expected);
    }
}

#[test]
fn no_new_finalizers_while_deleting() {
    let old = with(&config_map(), &[("/metadata/deletionTimestamp", json!("2024-01-01T00:00:00Z"))]);
    let new = with(&old, &[("/metadata/finalizers", json!(["example.com/b", "example.com/a"]))]);
    assert_eq!(
        texts(&validate_update("", "ConfigMap", &new, &old)),
        vec![
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/a\", \"example.com/b\"}"
        ]
    );
}
