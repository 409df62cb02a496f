use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use serde_json::json;

use super::*;
use crate::plugins::testing::pod;

fn snapshot(nodes: &[serde_json::Value]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for node in nodes {
        snapshot.upsert_node(Arc::new(serde_json::from_value::<Node>(node.clone()).expect("node")));
    }
    snapshot
}

fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, cpu: &str) -> serde_json::Value {
    json!({
        "metadata": { "name": name, "labels": labels },
        "spec": { "taints": taints },
        "status": { "allocatable": { "cpu": cpu, "memory": "8Gi", "pods": "110" } },
    })
}

#[test]
fn no_fit_explains_itself_as_upstream() {
    let snapshot = snapshot(&[
        node("n1", json!({ "hs-component": "platform" }), json!([]), "4"),
        node(
            "n2",
            json!({ "hs-component": "trainer" }),
            json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]),
            "4",
        ),
        node(
            "n3",
            json!({ "hs-component": "trainer" }),
            json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]),
            "4",
        ),
    ]);
    let trainer = pod("t", json!({ "nodeSelector": { "hs-component": "trainer" } }));
    let error = schedule(&Profile::default_profile(), &snapshot, &trainer, &mut 0).expect_err("nothing fits");
    assert_eq!(
        error.to_string(),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {dedicated: gpu}."
    );
}

#[test]
fn the_emptier_node_wins() {
    let mut snapshot = snapshot(&[node("small", json!({}), json!([]), "2"), node("big", json!({}), json!([]), "16")]);
    let busy = pod("busy", json!({ "containers": [{ "name": "c", "resources": { "requests": { "cpu": "1" } } }] }));
    if let Some(small) = snapshot.node_mut("small") {
        small.add_pod(Arc::new(busy));
    }
    let incoming = pod("p", json!({ "containers": [{ "name": "c", "resources": { "requests": { "cpu": "500m" } } }] }));
    let (placement, _) = schedule(&Profile::default_profile(), &snapshot, &incoming, &mut 0).expect("fits");
    assert_eq!(placement.node, "big");
}

#[test]
fn large_clusters_filter_a_share_of_their_nodes() {
    assert_eq!(feasible_nodes_to_find(50, 0), 50);
    assert_eq!(feasible_nodes_to_find(5000, 0), 500);
    assert_eq!(feasible_nodes_to_find(100_000, 0), 5000, "never under 5%");
    assert_eq!(feasible_nodes_to_find(1000, 100), 1000);
    assert_eq!(feasible_nodes_to_find(1000, 1), 100, "never under 100 nodes");
}

#[test]
fn a_nominated_pod_keeps_the_room_its_preemption_made() {
    let snapshot_with = |nominated: bool| {
        let mut snapshot = snapshot(&[node("only", json!({}), json!([]), "2")]);
        if nominated {
            let preemptor = pod(
                "preemptor",
                json!({ "priority": 100,
                "containers": [{ "name": "c", "resources": { "requests": { "cpu": "1500m" } } }] }),
            );
            snapshot.nominated.insert("only".into(), vec![Arc::new(preemptor)]);
        }
        snapshot
    };
    let low = pod(
        "low",
        json!({ "priority": 0, "containers": [{ "name": "c", "resources": { "requests": { "cpu": "1" } } }] }),
    );
    assert!(schedule(&Profile::default_profile(), &snapshot_with(false), &low, &mut 0).is_ok());
    let error = schedule(&Profile::default_profile(), &snapshot_with(true), &low, &mut 0).expect_err("reserved");
    assert_eq!(error.to_string(), "0/1 nodes are available: 1 Insufficient cpu.");
    let high = pod(
        "high",
        json!({ "priority": 1000, "containers": [{ "name": "c", "resources": { "requests": { "cpu": "1" } } }] }),
    );
    assert!(
        schedule(&Profile::default_profile(), &snapshot_with(true), &high, &mut 0).is_ok(),
        "more important pods may take it"
    );
}
