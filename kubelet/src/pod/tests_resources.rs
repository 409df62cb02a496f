use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::json;

use super::*;

const GIB: i64 = 1 << 30;

fn node() -> NodeResources {
    NodeResources { memory_capacity: 8 * GIB, oom_group: false }
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})).unwrap()
}

fn with_resources(requests: serde_json::Value, limits: serde_json::Value) -> serde_json::Value {
    json!({"name": "c", "image": "busybox", "resources": {"requests": requests, "limits": limits}})
}

#[test]
fn qos_class_follows_requests_and_limits() {
    let cases = [
        ("no resources", json!([{"name": "c"}]), QosClass::BestEffort),
        (
            "equal cpu and memory",
            json!([with_resources(json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1", "memory": "1Gi"}))]),
            QosClass::Guaranteed,
        ),
        (
            "limits only",
            json!([with_resources(json!({}), json!({"cpu": "500m", "memory": "256Mi"}))]),
            QosClass::Burstable,
        ),
        (
            "request below limit",
            json!([with_resources(json!({"cpu": "100m", "memory": "1Gi"}), json!({"cpu": "1", "memory": "1Gi"}))]),
            QosClass::Burstable,
        ),
        (
            "memory only",
            json!([with_resources(json!({"memory": "1Gi"}), json!({"memory": "1Gi"}))]),
            QosClass::Burstable,
        ),
        (
            "one of two best effort",
            json!([with_resources(json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1", "memory": "1Gi"})), {"name": "d"}]),
            QosClass::Burstable,
        ),
        ("zero requests", json!([with_resources(json!({"cpu": "0"}), json!({}))]), QosClass::BestEffort),
    ];
    for (name, containers, want) in cases {
        assert_eq!(qos_class(&pod(json!({"containers": containers}))), want, "{name}");
    }
}

#[test]
fn the_api_servers_qos_class_wins() {
    let mut p = pod(json!({"containers": [{"name": "c"}]}));
    p.status = Some(serde_json::from_value(json!({"qosClass": "Guaranteed"})).unwrap());
    assert_eq!(qos_class(&p), QosClass::Guaranteed);
}

#[test]
fn container_resources_map_cpu_and_memory_as_upstream() {
    // (requests, limits) → (shares, quota, memory limit)
    let cases = [
        (json!({}), json!({}), (2, 0, 0)),
        (json!({"cpu": "100m"}), json!({}), (102, 0, 0)),
        (json!({"cpu": "1m"}), json!({}), (2, 0, 0)),
        (json!({}), json!({"cpu": "500m"}), (512, 50_000, 0)),
        (json!({"cpu": "250m"}), json!({"cpu": "2"}), (256, 200_000, 0)),
        (json!({}), json!({"cpu": "5m"}), (5, 1000, 0)),
        (json!({}), json!({"memory": "128Mi"}), (2, 0, 128 << 20)),
        (json!({"cpu": "300"}), json!({}), (262_144, 0, 0)),
    ];
    for (requests, limits, (shares, quota, memory)) in cases {
        let spec = with_resources(requests.clone(), limits.clone());
        let p = pod(json!({"containers": [spec.clone()]}));
        let container: Container = serde_json::from_value(spec).unwrap();
        let got = container_resources(&p, &container, &node());
        assert_eq!(
            (got.cpu_shares, got.cpu_quota, got.cpu_period, got.memory_limit_in_bytes),
            (shares, quota, QUOTA_PERIOD, memory),
            "{requests} {limits}"
        );
        assert!(got.unified.is_empty());
    }
}

#[test]
fn oom_score_adj_depends_on_the_qos_class_and_the_memory_request() {
    // (requests, limits) → oom_score_adj on an 8 GiB node
    let cases = [
        (json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1", "memory": "1Gi"}), -997),
        (json!({}), json!({}), 1000),
        (json!({"memory": "1Gi"}), json!({}), 875),
        (json!({"memory": "8Gi"}), json!({}), 3),
        (json!({"memory": "16Gi"}), json!({}), 3),
        (json!({"cpu": "100m"}), json!({}), 999),
        (json!({"memory": "4Gi"}), json!({"memory": "6Gi"}), 500),
    ];
    for (requests, limits, want) in cases {
        let spec = with_resources(requests.clone(), limits.clone());
        let p = pod(json!({"containers": [spec.clone()]}));
        let container: Container = serde_json::from_value(spec).unwrap();
        assert_eq!(container_resources(&p, &container, &node()).oom_score_adj, want, "{requests} {limits}");
    }
}

#[test]
fn a_sidecar_scores_no_higher_than_the_smallest_regular_container() {
    let sidecar = json!({"name": "side", "restartPolicy": "Always", "resources": {"requests": {"memory": "100Mi"}}});
    let p = pod(json!({
        "initContainers": [sidecar.clone()],
        "containers": [with_resources(json!({"memory": "2Gi"}), json!({})), {"name": "d", "resources": {"requests": {"memory": "4Gi"}}}],
    }));
    let container: Container = serde_json::from_value(sidecar).unwrap();
    assert_eq!(oom_score_adj(&p, &container, 8 * GIB), 750);
}

#[test]
fn node_critical_pods_score_like_guaranteed_ones() {
    let spec = with_resources(json!({"memory": "1Gi"}), json!({}));
    let p = pod(json!({"priorityClassName": "system-node-critical", "containers": [spec.clone()]}));
    let container: Container = serde_json::from_value(spec).unwrap();
    assert_eq!(oom_score_adj(&p, &container, 8 * GIB), GUARANTEED_OOM_SCORE_ADJ);
}

#[test]
fn sandbox_resources_sum_containers_and_take_the_largest_init_container() {
    let p = pod(json!({
        "initContainers": [with_resources(json!({"cpu": "3"}), json!({"cpu": "3", "memory": "1Gi"}))],
        "containers": [
            with_resources(json!({"cpu": "500m"}), json!({"cpu": "1", "memory": "256Mi"})),
            with_resources(json!({"cpu": "500m"}), json!({"cpu": "1", "memory": "256Mi"})),
        ],
        "overhead": {"cpu": "250m", "memory": "120Mi"},
    }));
    let (resources, overhead) = sandbox_resources(&p, &node());
    assert_eq!((resources.cpu_shares, resources.cpu_quota, resources.memory_limit_in_bytes), (3072, 300_000, GIB));
    let overhead = overhead.unwrap();
    assert_eq!((overhead.cpu_shares, overhead.cpu_quota, overhead.memory_limit_in_bytes), (256, 25_000, 120 << 20));
    assert_eq!(sandbox_resources(&pod(json!({"containers": [{"name": "c"}]})), &node()).1, None);
}

#[test]
fn cgroup_v2_nodes_ask_for_group_oom_kills() {
    let spec = json!({"name": "c"});
    let p = pod(json!({"containers": [spec.clone()]}));
    let container: Container = serde_json::from_value(spec).unwrap();
    let got = container_resources(&p, &container, &NodeResources { memory_capacity: GIB, oom_group: true });
    assert_eq!(got.unified.get("memory.oom.group").map(String::as_str), Some("1"));
}

#[test]
fn quantities_parse_to_millis_rounding_up() {
    let cases = [
        ("1", Some(1000)),
        ("250m", Some(250)),
        ("0.1", Some(100)),
        ("1.5", Some(1500)),
        ("1Ki", Some(1_024_000)),
        ("1Gi", Some(1_073_741_824_000)),
        ("1k", Some(1_000_000)),
        ("1e3", Some(1_000_000)),
        ("100n", Some(1)),
        ("1u", Some(1)),
        ("-1", Some(-1000)),
        ("", None),
        ("1x", None),
        ("abc", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_milli(text), want, "{text}");
    }
}
