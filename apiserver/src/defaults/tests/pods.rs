use serde_json::{Value, json};

use super::{Case, check_defaults, defaulted_container, defaulted_template_spec};
use crate::defaults::apply_defaults;

const POD: (&str, &str, &str) = ("", "v1", "Pod");
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pod_with(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

fn defaulted_pod(containers: Value) -> Value {
    let mut spec = defaulted_template_spec(json!({"containers": containers}));
    spec["enableServiceLinks"] = json!(true);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

#[test]
fn a_minimal_pod_gets_every_pod_default() {
    let mut pod = pod_with(json!([{"name": "app", "image": "nginx"}]));
    apply_defaults("", "v1", "Pod", &mut pod);
    let want = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "nginx",
                "imagePullPolicy": "Always",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30
        }
    });
    assert_eq!(pod, want, "{}", super::pretty(&pod));
}

#[test]
fn image_pull_policy_follows_the_image_tag() {
    let rows = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("library/nginx:1.27-alpine", "IfNotPresent"),
        ("registry.example.com/team/app", "Always"),
        ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost/app:latest", "Always"),
        ("[::1]:5000/app", "Always"),
        ("Registry.Example.com/app", "Always"),
        ("Nginx", "IfNotPresent"),
        ("nginx:", "IfNotPresent"),
        ("", "IfNotPresent"),
        ("a__b--c/e.f", "Always"),
        ("a__b.example/e", "IfNotPresent"),
        ("a___b", "IfNotPresent"),
    ];
    for (image, policy) in rows {
        let mut pod = pod_with(json!([{"name": "app", "image": image}]));
        apply_defaults("", "v1", "Pod", &mut pod);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], policy, "image {image:?}");
    }
    let digested = [
        (format!("nginx@{DIGEST}"), "IfNotPresent"),
        (format!("nginx:latest@{DIGEST}"), "Always"),
        (format!("nginx:1.27@{DIGEST}"), "IfNotPresent"),
        ("nginx:latest@sha256:abc".to_owned(), "IfNotPresent"),
        (DIGEST.trim_start_matches("sha256:").to_owned(), "IfNotPresent"),
    ];
    for (image, policy) in digested {
        let mut pod = pod_with(json!([{"name": "app", "image": image}]));
        apply_defaults("", "v1", "Pod", &mut pod);
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], policy, "image {image:?}");
    }
}

#[test]
fn container_parts_get_their_defaults() {
    check_defaults(vec![
        Case {
            name: "ports default to TCP",
            gvk: POD,
            input: pod_with(
                json!([{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}]),
            ),
            want: defaulted_pod(json!([defaulted_container(
                json!({"name": "a", "image": "x:1", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]}),
                "IfNotPresent"
            )])),
        },
        Case {
            name: "probes get thresholds and handler defaults",
            gvk: POD,
            input: pod_with(json!([{
                "name": "a", "image": "x:1",
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
                "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}, "postStart": {"exec": {"command": ["x"]}}}
            }])),
            want: defaulted_pod(json!([defaulted_container(
                json!({
                    "name": "a", "image": "x:1",
                    "livenessProbe": {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "readinessProbe": {"grpc": {"port": 9000, "service": ""},
                        "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
                    "startupProbe": {"exec": {"command": ["true"]},
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 30},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop", "scheme": "HTTP"}}, "postStart": {"exec": {"command": ["x"]}}}
                }),
                "IfNotPresent"
            )])),
        },
        Case {
            name: "env field references default to apiVersion v1",
            gvk: POD,
            input: pod_with(json!([{"name": "a", "image": "x:1", "env": [
                {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "V", "value": "1"}
            ]}])),
            want: defaulted_pod(json!([defaulted_container(
                json!({"name": "a", "image": "x:1", "env": [
                    {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}},
                    {"name": "V", "value": "1"}
                ]}),
                "IfNotPresent"
            )])),
        },
        Case {
            name: "requests default to limits where missing",
            gvk: POD,
            input: pod_with(
                json!([{"name": "a", "image": "x:1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]),
            ),
            want: defaulted_pod(json!([defaulted_container(
                json!({"name": "a", "image": "x:1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}}),
                "IfNotPresent"
            )])),
        },
        Case {
            name: "init and ephemeral containers get container defaults too",
            gvk: POD,
            input: json!({"spec": {
                "initContainers": [{"name": "i", "image": "busybox", "resources": {"limits": {"cpu": "1"}}}],
                "containers": [{"name": "a", "image": "x:1"}],
                "ephemeralContainers": [{"name": "e", "image": "debug:1"}]
            }}),
            want: json!({"spec": {
                "initContainers": [defaulted_container(json!({"name": "i", "image": "busybox", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}), "Always")],
                "containers": [defaulted_container(json!({"name": "a", "image": "x:1"}), "IfNotPresent")],
                "ephemeralContainers": [defaulted_container(json!({"name": "e", "image": "debug:1"}), "IfNotPresent")],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
                "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler", "enableServiceLinks": true
            }}),
        },
    ]);
}

#[test]
fn volumes_get_their_source_defaults() {
    let volumes = json!([
        {"name": "scratch"},
        {"name": "s", "secret": {"secretName": "s"}},
        {"name": "c", "configMap": {"name": "c", "defaultMode": 256}},
        {"name": "h", "hostPath": {"path": "/data"}},
        {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "t", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
        ]}},
        {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
        {"name": "r", "rbd": {"monitors": ["m"], "image": "i"}},
        {"name": "p", "persistentVolumeClaim": {"claimName": "x"}}
    ]);
    let want_volumes = json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}},
        {"name": "c", "configMap": {"name": "c", "defaultMode": 256}},
        {"name": "h", "hostPath": {"path": "/data", "type": ""}},
        {"name": "d", "downwardAPI": {"defaultMode": 420, "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}},
        {"name": "t", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace", "apiVersion": "v1"}}]}}
        ]}},
        {"name": "e", "ephemeral": {"volumeClaimTemplate": {"metadata": {"creationTimestamp": null},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}}}},
        {"name": "r", "rbd": {"monitors": ["m"], "image": "i", "pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"}},
        {"name": "p", "persistentVolumeClaim": {"claimName": "x"}}
    ]);
    let mut input = pod_with(json!([{"name": "a", "image": "x:1"}]));
    input["spec"]["volumes"] = volumes;
    let mut want = defaulted_pod(json!([defaulted_container(json!({"name": "a", "image": "x:1"}), "IfNotPresent")]));
    want["spec"]["volumes"] = want_volumes;
    check_defaults(vec![Case { name: "volumes", gvk: POD, input, want }]);
}

#[test]
fn pod_only_defaults_cover_host_ports_and_service_account_alias() {
    let mut pod = json!({"spec": {
        "hostNetwork": true,
        "serviceAccount": "legacy",
        "containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 81}]}]
    }});
    apply_defaults("", "v1", "Pod", &mut pod);
    assert_eq!(
        pod["spec"]["containers"][0]["ports"],
        json!([
            {"containerPort": 80, "hostPort": 80, "protocol": "TCP"},
            {"containerPort": 81, "hostPort": 81, "protocol": "TCP"}
        ])
    );
    assert_eq!(pod["spec"]["serviceAccountName"], "legacy");
    assert_eq!(pod["spec"]["serviceAccount"], "legacy");

    let mut named = json!({"spec": {"serviceAccountName": "builder", "containers": []}});
    apply_defaults("", "v1", "Pod", &mut named);
    assert_eq!(named["spec"]["serviceAccount"], "builder");
}

#[test]
fn explicit_pod_values_are_never_overwritten() {
    let explicit = json!({"spec": {
        "dnsPolicy": "Default",
        "restartPolicy": "Never",
        "securityContext": {"runAsUser": 1000},
        "terminationGracePeriodSeconds": 0,
        "schedulerName": "mine",
        "enableServiceLinks": false,
        "containers": [{
            "name": "a", "image": "nginx", "imagePullPolicy": "Never",
            "terminationMessagePath": "/tmp/t", "terminationMessagePolicy": "FallbackToLogsOnError",
            "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}},
            "ports": [{"containerPort": 1, "protocol": "SCTP"}],
            "livenessProbe": {"httpGet": {"path": "/h", "scheme": "HTTPS", "port": 1},
                "timeoutSeconds": 5, "periodSeconds": 6, "successThreshold": 1, "failureThreshold": 7}
        }],
        "volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 384}}]
    }});
    let mut object = explicit.clone();
    apply_defaults("", "v1", "Pod", &mut object);
    assert_eq!(object, explicit, "{}", super::pretty(&object));
}

#[test]
fn pod_templates_get_pod_spec_defaults_but_not_pod_only_ones() {
    check_defaults(vec![Case {
        name: "PodTemplate",
        gvk: ("", "v1", "PodTemplate"),
        input: json!({"template": {"spec": {"hostNetwork": true, "containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}}}
        ]}}}),
        want: json!({"template": {
            "metadata": {"creationTimestamp": null},
            "spec": defaulted_template_spec(json!({"hostNetwork": true, "containers": [defaulted_container(
                json!({"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {"limits": {"cpu": "1"}}}),
                "Always"
            )]}))
        }}),
    }]);
}
