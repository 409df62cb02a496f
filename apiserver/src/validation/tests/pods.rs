use serde_json::{Value, json};

use super::super::{validate_create, validate_update};
use super::{pod, texts, with};

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn container(name: &str) -> Value {
    json!({"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"})
}

#[test]
fn pod_creates_check_containers_and_spec_values() {
    let cases: Vec<(Value, Vec<String>)> = vec![
        (pod(), vec![]),
        (with(&pod(), &[("/spec/containers", json!([]))]), vec!["spec.containers: Required value".into()]),
        (
            with(&pod(), &[("/spec/containers/0/image", Value::Null), ("/spec/containers/0/name", json!("App_1"))]),
            vec![format!("spec.containers[0].name: Invalid value: \"App_1\": {LABEL_MSG}"), "spec.containers[0].image: Required value".into()],
        ),
        (
            with(&pod(), &[("/spec/containers/0/image", json!(" nginx"))]),
            vec!["spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace".into()],
        ),
        (
            with(&pod(), &[("/spec/containers", json!([container("a"), container("a")])), ("/spec/initContainers", json!([container("a")]))]),
            vec!["spec.containers[1].name: Duplicate value: \"a\"".into(), "spec.initContainers[0].name: Duplicate value: \"a\"".into()],
        ),
        (
            with(
                &pod(),
                &[(
                    "/spec/containers/0/ports",
                    json!([
                        {"name": "http", "containerPort": 80, "protocol": "TCP"},
                        {"name": "http", "containerPort": 70000, "protocol": "ICMP"},
                        {"containerPort": 0, "protocol": "TCP"}
                    ]),
                )],
            ),
            vec![
                "spec.containers[0].ports[1].name: Duplicate value: \"http\"".into(),
                "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
                "spec.containers[0].ports[2].containerPort: Required value".into(),
            ],
        ),
        (
            with(&pod(), &[("/spec/restartPolicy", json!("Sometimes")), ("/spec/dnsPolicy", json!("Google"))]),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into(),
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".into(),
            ],
        ),
        (
            with(&pod(), &[("/spec/containers/0/imagePullPolicy", json!("Sometimes"))]),
            vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into()],
        ),
        (
            with(
                &pod(),
                &[
                    ("/spec/volumes", json!([{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "cfg"}])),
                    ("/spec/containers/0/volumeMounts", json!([{"name": "cfg", "mountPath": "/a"}, {"name": "data", "mountPath": "/a"}])),
                ],
            ),
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"".into(),
                "spec.volumes[2]: Required value: must specify a volume type".into(),
                "spec.containers[0].volumeMounts[0].name: Not found: \"cfg\"".into(),
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique".into(),
            ],
        ),
        (
            with(&pod(), &[("/spec/volumes", json!([{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]))]),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type".into()],
        ),
        (
            with(&pod(), &[("/spec/terminationGracePeriodSeconds", Value::Null), ("/spec/activeDeadlineSeconds", json!(0))]),
            vec![
                "spec.terminationGracePeriodSeconds: Required value".into(),
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into(),
            ],
        ),
        (
            with(&pod(), &[("/spec/tolerations", json!([{"operator": "Equal", "value": "x"}]))]),
            vec!["spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"".into()],
        ),
        (
            with(&pod(), &[("/spec/containers/0/resources", json!({"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}))]),
            vec!["spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1".into()],
        ),
        (
            with(&pod(), &[("/spec/containers/0/livenessProbe", json!({"periodSeconds": 10, "successThreshold": 2}))]),
            vec![
                "spec.containers[0].livenessProbe: Required value: must specify a handler type".into(),
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into(),
            ],
        ),
        (
            with(&pod(), &[("/spec/ephemeralContainers", json!([container("debug")]))]),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create".into()],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("", "Pod", &object)), expected, "{object}");
    }
}

const FORBIDDEN: &str = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n";

#[test]
fn pod_updates_only_change_images_and_a_few_fields() {
    let old = with(&pod(), &[("/spec/tolerations", json!([{"key": "a", "operator": "Exists"}]))]);
    let allowed = [
        with(&old, &[("/spec/containers/0/image", json!("nginx:2"))]),
        with(&old, &[("/spec/activeDeadlineSeconds", json!(30))]),
        with(
            &old,
            &[("/spec/tolerations", json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]))],
        ),
        with(&old, &[("/metadata/labels", json!({"x": "y"}))]),
    ];
    for new in &allowed {
        assert_eq!(texts(&validate_update("", "Pod", new, &old)), Vec::<String>::new(), "{new}");
    }
    let changed = validate_update("", "Pod", &with(&old, &[("/spec/restartPolicy", json!("Never"))]), &old);
    assert_eq!(changed.len(), 1);
    let text = changed[0].to_string();
    assert!(text.starts_with(FORBIDDEN), "{text}");
    assert!(text.contains("- \tRestartPolicy: \"Always\",\n+ \tRestartPolicy: \"Never\","), "{text}");

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with(&old, &[("/spec/tolerations", json!([{"key": "b", "operator": "Exists"}]))]),
            vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"],
        ),
        (
            with(&old, &[("/spec/containers", json!([]))]),
            vec![
                "spec.containers: Required value",
                "spec.containers: Forbidden: pod updates may not add or remove containers",
            ],
        ),
        (with(&old, &[("/spec/containers/0/image", json!(""))]), vec!["spec.containers[0].image: Required value"]),
    ];
    for (new, expected) in cases {
        assert_eq!(texts(&validate_update("", "Pod", &new, &old)), expected, "{new}");
    }
}

#[test]
fn active_deadline_may_only_shrink() {
    let old = with(&pod(), &[("/spec/activeDeadlineSeconds", json!(30))]);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (with(&old, &[("/spec/activeDeadlineSeconds", json!(10))]), vec![]),
        (
            with(&old, &[("/spec/activeDeadlineSeconds", json!(60))]),
            vec!["spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"],
        ),
        (
            with(&old, &[("/spec/activeDeadlineSeconds", Value::Null)]),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
            ],
        ),
    ];
    for (new, expected) in cases {
        assert_eq!(texts(&validate_update("", "Pod", &new, &old)), expected);
    }
}
