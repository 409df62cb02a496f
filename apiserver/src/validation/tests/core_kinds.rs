use serde_json::{Value, json};

use super::super::{validate_create, validate_update};
use super::{texts, with};

fn service() -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "ClusterIP", "sessionAffinity": "None", "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"],
            "internalTrafficPolicy": "Cluster", "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    })
}

#[test]
fn services_check_ports_type_and_names() {
    let two_ports = json!([{"port": 80, "targetPort": 80, "protocol": "TCP"}, {"name": "Metrics", "port": 0, "targetPort": "metrics", "protocol": "ICMP"}]);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (service(), vec![]),
        (with(&service(), &[("/spec/ports", json!([]))]), vec!["spec.ports: Required value"]),
        (
            with(
                &service(),
                &[
                    ("/spec/ports", json!([])),
                    ("/spec/clusterIP", json!("None")),
                    ("/spec/clusterIPs", json!(["None"])),
                ],
            ),
            vec![],
        ),
        (
            with(&service(), &[("/spec/ports", two_ports)]),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1].name: Invalid value: \"Metrics\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ],
        ),
        (
            with(&service(), &[("/spec/type", json!("Public"))]),
            vec![
                "spec.type: Unsupported value: \"Public\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ],
        ),
        (
            with(&service(), &[("/spec/ports/0/nodePort", json!(30080))]),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        ),
        (
            with(
                &service(),
                &[(
                    "/spec/ports",
                    json!([{"name": "a", "port": 80, "targetPort": 80, "protocol": "TCP"}, {"name": "b", "port": 80, "targetPort": 81, "protocol": "TCP"}]),
                )],
            ),
            vec![
                "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
            ],
        ),
        (
            with(&service(), &[("/metadata/name", json!("1web"))]),
            vec![
                "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            ],
        ),
        (
            json!({"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName", "sessionAffinity": "None", "externalName": "Example.com."}}),
            vec![
                "spec.externalName: Invalid value: \"Example.com\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("", "Service", &object)), expected, "{object}");
    }
}

#[test]
fn service_cluster_ips_may_not_change() {
    let old = service();
    let new = with(&old, &[("/spec/clusterIP", json!("10.0.0.11")), ("/spec/clusterIPs", json!(["10.0.0.11"]))]);
    assert_eq!(
        texts(&validate_update("", "Service", &new, &old)),
        vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.11\"}: may not change once set"]
    );
    assert_eq!(
        texts(&validate_update("", "Service", &with(&old, &[("/spec/selector", json!({"app": "v2"}))]), &old)),
        Vec::<String>::new()
    );
}

#[test]
fn config_maps_check_keys_and_size() {
    let base = json!({"metadata": {"name": "cfg", "namespace": "default"}});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (with(&base, &[("/data", json!({"app.properties": "x", "KEY_1": "y"}))]), vec![]),
        (
            with(&base, &[("/data", json!({"bad key": "x"}))]),
            vec![
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ],
        ),
        (
            with(&base, &[("/data", json!({"a": "x"})), ("/binaryData", json!({"a": "eA=="}))]),
            vec!["data[a]: Invalid value: \"a\": duplicate of key present in binaryData"],
        ),
        (
            with(&base, &[("/data", json!({"a": "x".repeat(1024 * 1024 + 1)}))]),
            vec!["[]: Too long: may not be more than 1048576 bytes"],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("", "ConfigMap", &object)), expected, "{object}");
    }
    let old = with(&base, &[("/data", json!({"a": "x"})), ("/immutable", json!(true))]);
    assert_eq!(
        texts(&validate_update("", "ConfigMap", &with(&old, &[("/data", json!({"a": "y"}))]), &old)),
        vec!["data: Forbidden: field is immutable when `immutable` is set"]
    );
}

#[test]
fn secrets_check_their_type_requirements() {
    let secret = |kind: &str, data: Value| json!({"metadata": {"name": "s", "namespace": "default"}, "type": kind, "data": data});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (secret("Opaque", json!({"password": "c2VjcmV0"})), vec![]),
        (secret("kubernetes.io/tls", json!({"tls.crt": "eA=="})), vec!["data[tls.key]: Required value"]),
        (
            secret("kubernetes.io/basic-auth", json!({})),
            vec!["data[username]: Required value", "data[password]: Required value"],
        ),
        (secret("kubernetes.io/ssh-auth", json!({})), vec!["data[ssh-privatekey]: Required value"]),
        (secret("kubernetes.io/dockerconfigjson", json!({})), vec!["data[.dockerconfigjson]: Required value"]),
        (secret("kubernetes.io/dockerconfigjson", json!({".dockerconfigjson": "e30="})), vec![]),
        (
            secret("kubernetes.io/service-account-token", json!({})),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("", "Secret", &object)), expected, "{object}");
    }
    let old = secret("Opaque", json!({}));
    assert_eq!(
        texts(&validate_update(
            "",
            "Secret",
            &with(&old, &[("/type", json!("kubernetes.io/basic-auth")), ("/data", json!({"username": "eA=="}))]),
            &old
        )),
        vec!["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"]
    );
}

#[test]
fn nodes_and_namespaces_check_their_few_rules() {
    let node = json!({"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "Sometimes"}]}});
    assert_eq!(
        texts(&validate_create("", "Node", &node)),
        vec![
            "metadata.taints[1].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        ]
    );
    let old = json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.0.0/24"]}});
    assert_eq!(
        texts(&validate_update("", "Node", &with(&old, &[("/spec/podCIDRs", json!(["10.244.1.0/24"]))]), &old)),
        vec!["spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"]
    );
    let namespace = json!({"metadata": {"name": "team"}, "spec": {"finalizers": ["kubernetes", "custom"]}});
    assert_eq!(
        texts(&validate_create("", "Namespace", &namespace)),
        vec![
            "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        ]
    );
}
