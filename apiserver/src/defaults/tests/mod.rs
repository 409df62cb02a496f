//! Table-driven tests: a minimal object in, the exact defaulted JSON out.

mod create;
mod others;
mod pods;
mod workloads;

use serde_json::Value;

use super::apply_defaults;

/// One table row: what goes in and what must come out.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) gvk: (&'static str, &'static str, &'static str),
    pub(super) input: Value,
    pub(super) want: Value,
}

/// Checks every row, and that defaulting the result again changes nothing.
pub(super) fn check_defaults(cases: Vec<Case>) {
    for case in cases {
        let (group, version, kind) = case.gvk;
        let mut object = case.input;
        apply_defaults(group, version, kind, &mut object);
        assert_eq!(object, case.want, "case {}: got {}", case.name, pretty(&object));
        let mut again = object.clone();
        apply_defaults(group, version, kind, &mut again);
        assert_eq!(again, object, "case {}: defaulting twice changed the object", case.name);
    }
}

pub(super) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

/// The container fields every container gets, merged over `container`.
pub(super) fn defaulted_container(container: Value, pull_policy: &str) -> Value {
    let mut out = container;
    let map = out.as_object_mut().unwrap();
    map.insert("imagePullPolicy".into(), pull_policy.into());
    map.insert("terminationMessagePath".into(), "/dev/termination-log".into());
    map.insert("terminationMessagePolicy".into(), "File".into());
    map.entry("resources").or_insert(serde_json::json!({}));
    out
}

/// The PodSpec fields every pod spec (pod or template) gets, merged over `spec`.
pub(super) fn defaulted_template_spec(spec: Value) -> Value {
    let mut out = spec;
    let map = out.as_object_mut().unwrap();
    map.insert("dnsPolicy".into(), "ClusterFirst".into());
    map.insert("restartPolicy".into(), map.get("restartPolicy").cloned().unwrap_or("Always".into()));
    map.insert("securityContext".into(), serde_json::json!({}));
    map.insert("terminationGracePeriodSeconds".into(), 30.into());
    map.insert("schedulerName".into(), "default-scheduler".into());
    out
}

#[test]
fn odd_input_never_panics_and_wrong_types_are_left_alone() {
    let odd = [
        serde_json::json!(null),
        serde_json::json!("pod"),
        serde_json::json!([1, 2]),
        serde_json::json!({"spec": "nope"}),
        serde_json::json!({"spec": {"containers": "x", "volumes": [1, null, {"name": 5}], "restartPolicy": 7}}),
        serde_json::json!({"spec": {"containers": [{"image": 5, "ports": [{"protocol": 6}], "resources": {"limits": 3}}]}}),
        serde_json::json!({"spec": {"template": {"spec": {"containers": [null]}}, "strategy": []}}),
        serde_json::json!({"metadata": 1, "spec": {"ports": [{"port": "http", "targetPort": {}}], "type": 1}}),
    ];
    let kinds = [
        ("", "v1", "Pod"),
        ("", "v1", "Service"),
        ("", "v1", "Namespace"),
        ("", "v1", "ReplicationController"),
        ("", "v1", "PodTemplate"),
        ("", "v1", "LimitRange"),
        ("", "v1", "PersistentVolume"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "StatefulSet"),
        ("apps", "v1", "DaemonSet"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("networking.k8s.io", "v1", "NetworkPolicy"),
        ("autoscaling", "v2", "HorizontalPodAutoscaler"),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
        ("discovery.k8s.io", "v1", "EndpointSlice"),
    ];
    for (group, version, kind) in kinds {
        for input in &odd {
            let mut object = input.clone();
            apply_defaults(group, version, kind, &mut object);
            super::apply_admission_defaults(group, version, kind, &mut object);
            super::prepare_for_create(group, version, kind, &mut object);
        }
    }
    let mut pod =
        serde_json::json!({"spec": {"restartPolicy": 7, "containers": [{"image": 5, "ports": [{"protocol": 6}]}]}});
    apply_defaults("", "v1", "Pod", &mut pod);
    assert_eq!(pod["spec"]["restartPolicy"], 7);
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], 6);
    assert!(pod["spec"]["containers"][0].get("imagePullPolicy").is_none());
}

#[test]
fn unknown_kinds_and_versions_are_left_unchanged() {
    for (group, version, kind) in
        [("", "v1", "ConfigMap"), ("apps", "v1beta1", "Deployment"), ("example.com", "v1", "Pod")]
    {
        let input = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}});
        let mut object = input.clone();
        apply_defaults(group, version, kind, &mut object);
        assert_eq!(object, input, "{group}/{version} {kind}");
    }
}
