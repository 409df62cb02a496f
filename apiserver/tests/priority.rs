//! Priority admission: pods get their PriorityClass's value (or the global
//! default's); unknown classes and contradicting values are refused.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{ "name": "c", "image": "busybox" }]);
    serde_json::from_value(json!({ "metadata": { "name": name }, "spec": spec })).expect("pod")
}

fn class(name: &str, value: i64, global_default: bool) -> PriorityClass {
    serde_json::from_value(json!({ "metadata": { "name": name }, "value": value, "globalDefault": global_default }))
        .expect("class")
}

fn forbidden(result: Result<Pod, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => status.message,
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
async fn pods_take_their_priority_from_their_class() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let classes: Api<PriorityClass> = Api::all(client);
    let pp = PostParams::default();

    let system = classes.get("system-cluster-critical").await.expect("a system class");
    assert_eq!(system.value, 2_000_000_000);
    let critical = pods.create(&pp, &pod("critical", json!({ "priorityClassName": "system-node-critical" }))).await;
    assert_eq!(critical.expect("create").spec.and_then(|s| s.priority), Some(2_000_001_000));

    classes.create(&pp, &class("high", 1000, false)).await.expect("class");
    let high = pods.create(&pp, &pod("high", json!({ "priorityClassName": "high" }))).await.expect("create");
    let spec = high.spec.expect("spec");
    assert_eq!((spec.priority, spec.preemption_policy.as_deref()), (Some(1000), Some("PreemptLowerPriority")));

    assert_eq!(
        forbidden(pods.create(&pp, &pod("lost", json!({ "priorityClassName": "nope" }))).await),
        "pods \"lost\" is forbidden: no PriorityClass with name nope was found"
    );
    assert_eq!(
        forbidden(pods.create(&pp, &pod("liar", json!({ "priorityClassName": "high", "priority": 5 }))).await),
        "pods \"liar\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"
    );

    let plain = pods.create(&pp, &pod("plain", json!({}))).await.expect("create");
    assert_eq!(plain.spec.and_then(|s| s.priority), Some(0));
    classes.create(&pp, &class("everyone", 7, true)).await.expect("default class");
    // The global default is read from the watch cache: wait until it is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let defaulted = pods.create(&pp, &pod("defaulted", json!({}))).await.expect("create");
        let spec = defaulted.spec.expect("spec");
        if spec.priority == Some(7) {
            assert_eq!(spec.priority_class_name.as_deref(), Some("everyone"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the global default class never applied");
        pods.delete("defaulted", &Default::default()).await.expect("delete");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
