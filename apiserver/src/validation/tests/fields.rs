use serde_json::json;

use super::super::{FieldError, FieldErrorKind, invalid_message};

#[test]
fn field_errors_render_like_upstream_error_strings() {
    let cases = [
        (FieldError::required("spec.selector", ""), "spec.selector: Required value"),
        (
            FieldError::required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"),
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
        ),
        (
            FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0"),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ),
        (
            FieldError::forbidden("metadata.namespace", "not allowed on this type"),
            "metadata.namespace: Forbidden: not allowed on this type",
        ),
        (FieldError::duplicate("spec.containers[1].name", "app"), "spec.containers[1].name: Duplicate value: \"app\""),
        (FieldError::too_long("data", 1048576), "data: Too long: may not be more than 1048576 bytes"),
        (FieldError::too_many("spec.rules", 25, 20), "spec.rules: Too many: 25: must have at most 20 items"),
        (
            FieldError::not_found("spec.containers[0].volumeMounts[0].name", "data"),
            "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
        ),
        (FieldError::internal("spec", "boom"), "spec: Internal error: boom"),
        (
            FieldError::invalid("spec.template.metadata.labels", json!({"b": "2", "a": "1"}), "x"),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: x",
        ),
        (
            FieldError::invalid("spec.dnsConfig.searches", json!(["a", "b"]), "x"),
            "spec.dnsConfig.searches: Invalid value: []string{\"a\", \"b\"}: x",
        ),
        (
            FieldError::invalid("metadata.name", "tab\there\"", "x"),
            "metadata.name: Invalid value: \"tab\\there\\\"\": x",
        ),
        (FieldError::invalid("spec.x", json!(null), "x"), "spec.x: Invalid value: null: x"),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn kinds_give_upstream_cause_reasons() {
    let cases = [
        (FieldErrorKind::Required, "FieldValueRequired"),
        (FieldErrorKind::Invalid, "FieldValueInvalid"),
        (FieldErrorKind::NotSupported, "FieldValueNotSupported"),
        (FieldErrorKind::Forbidden, "FieldValueForbidden"),
        (FieldErrorKind::Duplicate, "FieldValueDuplicate"),
        (FieldErrorKind::TooLong, "FieldValueTooLong"),
        (FieldErrorKind::TooMany, "FieldValueTooMany"),
        (FieldErrorKind::NotFound, "FieldValueNotFound"),
        (FieldErrorKind::Internal, "InternalError"),
    ];
    for (kind, reason) in cases {
        assert_eq!(kind.reason(), reason);
    }
}

#[test]
fn cause_messages_are_the_body_without_the_field() {
    let error = FieldError::invalid("metadata.name", "x", "detail");
    assert_eq!(error.body(), "Invalid value: \"x\": detail");
}

#[test]
fn invalid_messages_follow_new_invalid() {
    let required = FieldError::required("spec.selector", "");
    let labels = FieldError::invalid(
        "spec.template.metadata.labels",
        json!({"app": "web"}),
        "`selector` does not match template `labels`",
    );
    let cases: [(&str, &str, Vec<FieldError>, &str); 4] = [
        (
            "apps",
            "Deployment",
            vec![required.clone()],
            "Deployment.apps \"web\" is invalid: spec.selector: Required value",
        ),
        (
            "apps",
            "Deployment",
            vec![required.clone(), labels],
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`]",
        ),
        ("", "Pod", vec![required.clone(), required.clone()], "Pod \"web\" is invalid: spec.selector: Required value"),
        ("", "Pod", vec![], "Pod \"web\" is invalid"),
    ];
    for (group, kind, errors, expected) in cases {
        assert_eq!(invalid_message(group, kind, "web", &errors), expected);
    }
}

#[test]
fn wrong_json_types_are_decode_errors() {
    let mut deployment = super::pod();
    super::set(&mut deployment, "/spec/terminationGracePeriodSeconds", json!("30"));
    super::set(&mut deployment, "/metadata/labels", json!({"a": 1}));
    let errors = super::super::validate_create("", "Pod", &deployment);
    let decode: Vec<String> = errors.iter().filter(|e| e.is_decode_error()).map(ToString::to_string).collect();
    assert_eq!(
        decode,
        vec![
            "metadata.labels[a]: Invalid value: 1: json: cannot unmarshal number into Go value of type string",
            "spec.terminationGracePeriodSeconds: Invalid value: \"30\": json: cannot unmarshal string into Go value of type int64",
        ]
    );
    let error = FieldError::wrong_type("spec.replicas", &json!("3"), "int32");
    assert_eq!(
        super::super::decode_message("Deployment", "v1", &error),
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go value of type int32"
    );
}

#[test]
fn garbage_bodies_never_panic() {
    let bodies = [
        json!(null),
        json!(3),
        json!("x"),
        json!([1]),
        json!({"metadata": 5, "spec": []}),
        json!({"spec": {"containers": 7}}),
    ];
    for body in &bodies {
        for (group, kind) in [
            ("", "Pod"),
            ("apps", "Deployment"),
            ("batch", "CronJob"),
            ("", "Service"),
            ("", "Secret"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("x.io", "Foo"),
        ] {
            let _ = super::super::validate_create(group, kind, body);
            let _ = super::super::validate_update(group, kind, body, body);
        }
    }
}
