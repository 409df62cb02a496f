use serde_json::{Value, json};

use super::super::{validate_create, validate_update};
use super::{texts, with};

const RBAC: &str = "rbac.authorization.k8s.io";

#[test]
fn roles_need_verbs_groups_and_resources() {
    let role = |rules: Value| json!({"metadata": {"name": "reader", "namespace": "default"}, "rules": rules});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("Role", role(json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])), vec![]),
        (
            "Role",
            role(json!([{"verbs": [], "resources": ["pods"]}])),
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
            ],
        ),
        (
            "Role",
            role(json!([{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}])),
            vec![
                "rules[0].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            ],
        ),
        (
            "ClusterRole",
            json!({"metadata": {"name": "system:health"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}),
            vec![],
        ),
    ];
    for (kind, object, expected) in cases {
        assert_eq!(texts(&validate_create(RBAC, kind, &object)), expected, "{object}");
    }
}

fn binding() -> Value {
    json!({
        "metadata": {"name": "read-pods", "namespace": "default"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "jane", "apiGroup": RBAC}, {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
    })
}

#[test]
fn bindings_check_role_ref_and_subjects() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("RoleBinding", binding(), vec![]),
        (
            "RoleBinding",
            with(&binding(), &[("/roleRef/kind", json!("Group")), ("/subjects/0/kind", json!("Robot"))]),
            vec![
                "roleRef.kind: Unsupported value: \"Group\": supported values: \"Role\", \"ClusterRole\"",
                "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ],
        ),
        (
            "ClusterRoleBinding",
            with(&binding(), &[("/metadata/namespace", Value::Null), ("/subjects/1/namespace", Value::Null)]),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[1].namespace: Required value",
            ],
        ),
    ];
    for (kind, object, expected) in cases {
        assert_eq!(texts(&validate_create(RBAC, kind, &object)), expected, "{object}");
    }
    let old = binding();
    assert_eq!(
        texts(&validate_update(
            RBAC,
            "RoleBinding",
            &with(&old, &[("/roleRef/kind", json!("ClusterRole")), ("/roleRef/name", json!("view"))]),
            &old
        )),
        vec![
            "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"view\"}: cannot change roleRef"
        ]
    );
}
