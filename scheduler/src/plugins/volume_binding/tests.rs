use serde_json::json;

use super::*;
use crate::plugins::testing::{node, pod};

fn snapshot(volumes: serde_json::Value, claims: serde_json::Value) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let class = json!({ "metadata": { "name": "local" }, "provisioner": NO_PROVISIONER, "volumeBindingMode": "WaitForFirstConsumer" });
    snapshot.volumes.classes.insert("local".into(), Arc::new(serde_json::from_value(class).expect("class")));
    let immediate = json!({ "metadata": { "name": "fast" }, "provisioner": NO_PROVISIONER });
    snapshot.volumes.classes.insert("fast".into(), Arc::new(serde_json::from_value(immediate).expect("class")));
    for v in volumes.as_array().into_iter().flatten() {
        let volume: PersistentVolume = serde_json::from_value(v.clone()).expect("volume");
        snapshot.volumes.volumes.insert(volume.metadata.name.clone().unwrap_or_default(), Arc::new(volume));
    }
    for c in claims.as_array().into_iter().flatten() {
        let claim: PersistentVolumeClaim = serde_json::from_value(c.clone()).expect("claim");
        let key = ("default".to_owned(), claim.metadata.name.clone().unwrap_or_default());
        snapshot.volumes.claims.insert(key, Arc::new(claim));
    }
    snapshot
}

fn local_volume(name: &str, node: &str, size: &str) -> serde_json::Value {
    json!({ "metadata": { "name": name }, "spec": {
        "capacity": { "storage": size }, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
        "local": { "path": "/mnt/disk" },
        "nodeAffinity": { "required": { "nodeSelectorTerms": [{ "matchExpressions": [
            { "key": "kubernetes.io/hostname", "operator": "In", "values": [node] }] }] } } } })
}

fn claim(name: &str, class: &str, volume: Option<&str>) -> serde_json::Value {
    json!({ "metadata": { "name": name, "namespace": "default" }, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": class, "volumeName": volume,
        "resources": { "requests": { "storage": "10Gi" } } } })
}

fn with_claim(name: &str) -> PodInfo {
    pod("p", json!({ "volumes": [{ "name": "data", "persistentVolumeClaim": { "claimName": name } }] }))
}

fn host(name: &str) -> NodeInfo {
    node(name, json!({ "labels": { "kubernetes.io/hostname": name } }))
}

#[test]
fn waiting_claims_go_where_a_matching_local_volume_is() {
    let snapshot = snapshot(
        json!([local_volume("pv-a", "a", "20Gi"), local_volume("pv-small", "b", "1Gi")]),
        json!([claim("data", "local", None)]),
    );
    let p = with_claim("data");
    let mut state = CycleState::default();
    assert!(VolumeBinding.pre_filter(&mut state, &p, &snapshot).is_success());
    assert!(VolumeBinding.filter(&state, &p, &host("a"), &snapshot).is_success());
    assert_eq!(VolumeBinding.filter(&state, &p, &host("b"), &snapshot).reasons, vec![ERR_BIND_CONFLICT], "too small");
    let chosen = choose(&snapshot.volumes, &waiting_claims(&snapshot, &p), &host("a")).expect("a volume");
    assert_eq!(chosen[0].1.metadata.name.as_deref(), Some("pv-a"));
}

#[test]
fn bound_claims_pin_the_pod_to_their_volume_node() {
    let snapshot = snapshot(json!([local_volume("pv-a", "a", "20Gi")]), json!([claim("data", "local", Some("pv-a"))]));
    let p = with_claim("data");
    let mut state = CycleState::default();
    assert!(VolumeBinding.pre_filter(&mut state, &p, &snapshot).is_success());
    assert!(VolumeBinding.filter(&state, &p, &host("a"), &snapshot).is_success());
    assert_eq!(VolumeBinding.filter(&state, &p, &host("b"), &snapshot).reasons, vec![ERR_NODE_CONFLICT]);
}

#[test]
fn missing_and_immediate_claims_are_refused_before_filtering() {
    let snapshot = snapshot(json!([]), json!([claim("fast", "fast", None)]));
    let mut state = CycleState::default();
    assert_eq!(
        VolumeBinding.pre_filter(&mut state, &with_claim("nope"), &snapshot).reasons,
        vec!["persistentvolumeclaim \"nope\" not found"]
    );
    assert_eq!(
        VolumeBinding.pre_filter(&mut state, &with_claim("fast"), &snapshot).reasons,
        vec![ERR_UNBOUND_IMMEDIATE]
    );
    assert!(VolumeBinding.pre_filter(&mut state, &pod("plain", json!({})), &snapshot).is_skip());
}
