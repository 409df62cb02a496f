use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use serde_json::json;

use super::*;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                     "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "say \"hi\""}},
        "spec": spec,
    }))
    .unwrap()
}

fn container(value: serde_json::Value) -> Container {
    serde_json::from_value(value).unwrap()
}

fn ctx() -> EnvContext {
    EnvContext {
        host_ips: vec!["192.168.1.10".into()],
        pod_ips: vec!["10.42.0.5".into(), "fd00::5".into()],
        node_allocatable: [("cpu", "4"), ("memory", "8Gi")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect(),
    }
}

fn sources() -> EnvSources {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cfg", "namespace": "shop"},
        "data": {"MODE": "fast", "bad=key": "x", "LEVEL": "3"}
    }))
    .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds", "namespace": "shop"},
        "data": {"PASSWORD": "czNjcjN0"}
    }))
    .unwrap();
    let services: Vec<Service> = vec![
        serde_json::from_value(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"name": "redis-main", "namespace": "shop"},
            "spec": {"clusterIP": "10.43.0.20", "ports": [{"port": 6379}]}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"name": "headless", "namespace": "shop"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"name": "other", "namespace": "elsewhere"},
            "spec": {"clusterIP": "10.43.0.30", "ports": [{"port": 80}]}}))
        .unwrap(),
    ];
    EnvSources {
        config_maps: [("cfg".to_string(), cm)].into(),
        secrets: [("creds".to_string(), secret)].into(),
        services,
    }
}

fn env_of(pod_spec: serde_json::Value, container_json: serde_json::Value) -> Result<BTreeMap<String, String>> {
    let pod = pod(pod_spec);
    let container = container(container_json);
    make_environment(&pod, &container, &ctx(), &sources()).map(|env| env.vars.into_iter().collect())
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn expansion_follows_upstream_semantics() {
    let vars = lookup(&[("A", "alpha"), ("EMPTY", "")]);
    let cases = [
        ("plain", "plain"),
        ("$(A)", "alpha"),
        ("x$(A)y$(A)", "xalphayalpha"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$alpha"),
        ("$$", "$"),
        ("$", "$"),
        ("a$", "a$"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("$(EMPTY)x", "x"),
        ("$($(A))", "$($(A))"),
        ("ünï$(A)cödé", "ünïalphacödé"),
    ];
    for (input, want) in cases {
        assert_eq!(expand(input, &vars), want, "{input}");
    }
}

#[test]
fn field_refs_resolve_pod_and_node_facts() {
    let field = |path: &str| json!({"name": "V", "valueFrom": {"fieldRef": {"fieldPath": path}}});
    let cases = [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['app']", "web"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['note']", "say \"hi\""),
        ("metadata.labels", "app=\"web\"\ntier=\"front\""),
        ("metadata.annotations", "note=\"say \\\"hi\\\"\""),
        ("spec.nodeName", "node-a"),
        ("spec.serviceAccountName", "builder"),
        ("status.hostIP", "192.168.1.10"),
        ("status.hostIPs", "192.168.1.10"),
        ("status.podIP", "10.42.0.5"),
        ("status.podIPs", "10.42.0.5,fd00::5"),
    ];
    for (path, want) in cases {
        let env = env_of(
            json!({"nodeName": "node-a", "serviceAccountName": "builder", "enableServiceLinks": false, "containers": []}),
            json!({"name": "c", "env": [field(path)]}),
        )
        .unwrap();
        assert_eq!(env["V"], want, "{path}");
    }
}

#[test]
fn an_unsupported_field_path_is_an_error_with_upstreams_message() {
    let err = env_of(
        json!({"containers": []}),
        json!({"name": "c", "env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}]}),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "unsupported fieldPath: spec.restartPolicy");
}

#[test]
fn resource_field_refs_divide_and_round_up_and_default_limits_to_allocatable() {
    let cases = [
        ("limits.cpu", None, "2"),
        ("limits.cpu", Some("1m"), "1500"),
        ("requests.cpu", Some("1m"), "250"),
        ("requests.cpu", None, "1"),
        ("limits.memory", None, "536870912"),
        ("limits.memory", Some("1Mi"), "512"),
        ("requests.memory", Some("1Mi"), "128"),
        ("requests.ephemeral-storage", None, "0"),
        ("limits.ephemeral-storage", None, "0"),
    ];
    for (resource, divisor, want) in cases {
        let mut selector = json!({"resource": resource});
        if let Some(divisor) = divisor {
            selector["divisor"] = json!(divisor);
        }
        let env = env_of(
            json!({"enableServiceLinks": false, "containers": []}),
            json!({"name": "c", "resources": {"limits": {"cpu": "1500m", "memory": "512Mi"},
                                              "requests": {"cpu": "250m", "memory": "128Mi"}},
                   "env": [{"name": "V", "valueFrom": {"resourceFieldRef": selector}}]}),
        )
        .unwrap();
        assert_eq!(env["V"], want, "{resource} / {divisor:?}");
    }
    let env = env_of(
        json!({"enableServiceLinks": false, "containers": []}),
        json!({"name": "c", "env": [
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Gi"}}}]}),
    )
    .unwrap();
    assert_eq!((env["CPU"].as_str(), env["MEM"].as_str()), ("4", "8"));
}

#[test]
fn config_map_and_secret_refs_fail_or_skip_as_upstream() {
    let key_ref = |kind: &str, name: &str, key: &str, optional: bool| json!({"name": "V", "valueFrom": {kind: {"name": name, "key": key, "optional": optional}}});
    let cases: [(serde_json::Value, Result<Option<&str>, &str>); 8] = [
        (key_ref("configMapKeyRef", "cfg", "MODE", false), Ok(Some("fast"))),
        (key_ref("configMapKeyRef", "cfg", "NOPE", false), Err("couldn't find key NOPE in ConfigMap shop/cfg")),
        (key_ref("configMapKeyRef", "cfg", "NOPE", true), Ok(None)),
        (key_ref("configMapKeyRef", "gone", "MODE", false), Err("configmap \"gone\" not found")),
        (key_ref("configMapKeyRef", "gone", "MODE", true), Ok(None)),
        (key_ref("secretKeyRef", "creds", "PASSWORD", false), Ok(Some("s3cr3t"))),
        (key_ref("secretKeyRef", "creds", "USER", false), Err("couldn't find key USER in Secret shop/creds")),
        (key_ref("secretKeyRef", "nope", "USER", false), Err("secret \"nope\" not found")),
    ];
    for (var, want) in cases {
        let got = env_of(json!({"enableServiceLinks": false, "containers": []}), json!({"name": "c", "env": [var]}));
        match (got, want) {
            (Ok(env), Ok(value)) => assert_eq!(env.get("V").map(String::as_str), value),
            (Err(err), Err(message)) => assert_eq!(err.to_string(), message),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn env_from_adds_prefixed_keys_skips_invalid_ones_and_env_overrides_it() {
    let pod = pod(json!({"enableServiceLinks": false, "containers": []}));
    let container = container(json!({"name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}, {"secretRef": {"name": "creds"}},
                    {"configMapRef": {"name": "absent", "optional": true}}],
        "env": [{"name": "APP_MODE", "value": "slow-$(APP_LEVEL)"}]}));
    let env = make_environment(&pod, &container, &ctx(), &sources()).unwrap();
    let vars: BTreeMap<_, _> = env.vars.iter().cloned().collect();
    assert_eq!(vars["APP_MODE"], "slow-3");
    assert_eq!(vars["APP_LEVEL"], "3");
    assert_eq!(vars["PASSWORD"], "s3cr3t");
    assert!(!vars.contains_key("APP_bad=key"));
    assert_eq!(
        env.warnings,
        [
            "Keys [APP_bad=key] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid environment variable names."
        ]
    );
    let missing = container_with_env_from("absent");
    assert_eq!(
        make_environment(&pod, &missing, &ctx(), &sources()).unwrap_err().to_string(),
        "configmap \"absent\" not found"
    );
}

fn container_with_env_from(name: &str) -> Container {
    container(json!({"name": "c", "envFrom": [{"configMapRef": {"name": name}}]}))
}

#[test]
fn service_links_cover_the_namespace_and_always_the_kubernetes_service() {
    let linked = env_of(json!({"containers": []}), json!({"name": "c"})).unwrap();
    let want = [
        ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.43.0.1:443"),
        ("KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
        ("KUBERNETES_PORT_443_TCP_PORT", "443"),
        ("KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"),
        ("REDIS_MAIN_SERVICE_HOST", "10.43.0.20"),
        ("REDIS_MAIN_SERVICE_PORT", "6379"),
        ("REDIS_MAIN_PORT", "tcp://10.43.0.20:6379"),
        ("REDIS_MAIN_PORT_6379_TCP_ADDR", "10.43.0.20"),
    ];
    for (name, value) in want {
        assert_eq!(linked.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert!(!linked.keys().any(|k| k.starts_with("HEADLESS") || k.starts_with("OTHER")));
    assert_eq!(linked.len(), 8 + 7);

    let unlinked = env_of(json!({"enableServiceLinks": false, "containers": []}), json!({"name": "c"})).unwrap();
    assert!(unlinked.contains_key("KUBERNETES_SERVICE_HOST"));
    assert!(!unlinked.contains_key("REDIS_MAIN_SERVICE_HOST"));
}

#[test]
fn env_values_can_use_service_links_and_the_container_wins_over_them() {
    let env = env_of(
        json!({"containers": []}),
        json!({"name": "c", "env": [{"name": "URL", "value": "redis://$(REDIS_MAIN_SERVICE_HOST)"},
                                    {"name": "REDIS_MAIN_SERVICE_PORT", "value": "1"}]}),
    )
    .unwrap();
    assert_eq!(env["URL"], "redis://10.43.0.20");
    assert_eq!(env["REDIS_MAIN_SERVICE_PORT"], "1");
}

#[test]
fn env_values_only_see_variables_defined_before_them() {
    let env = env_of(
        json!({"enableServiceLinks": false, "containers": []}),
        json!({"name": "c", "env": [{"name": "A", "value": "$(B)"}, {"name": "B", "value": "b"},
                                    {"name": "C", "value": "$(B)$(A)"}]}),
    )
    .unwrap();
    assert_eq!((env["A"].as_str(), env["C"].as_str()), ("$(B)", "b$(B)"));
}

#[test]
fn command_and_args_expand_from_the_environment() {
    let environment = Environment { vars: vec![("NAME".into(), "world".into())], warnings: vec![] };
    let container = container(json!({"name": "c", "command": ["echo", "$(NAME)"], "args": ["$$(NAME)", "$(NOPE)"]}));
    let (command, args) = environment.expand_command_and_args(&container);
    assert_eq!(command, ["echo", "world"]);
    assert_eq!(args, ["$(NAME)", "$(NOPE)"]);
}
