//! `pods/binding` assigns a pod to a node once, as a scheduler uses it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;

fn binding(pod: &str, node: &str) -> serde_json::Value {
    json!({ "apiVersion": "v1", "kind": "Binding", "metadata": { "name": pod, "annotations": { "bound-by": "test" } },
            "target": { "apiVersion": "v1", "kind": "Node", "name": node } })
}

fn status_of(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pod_is_bound_once() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pp = PostParams::default();
    let pod = serde_json::from_value(json!({
        "metadata": { "name": "p" }, "spec": { "containers": [{ "name": "c", "image": "busybox" }] },
    }))
    .expect("pod");
    pods.create(&pp, &pod).await.expect("create");

    let status: kube::core::Status =
        pods.create_subresource("binding", "p", &pp, &binding("p", "node-1")).await.expect("bind");
    assert_eq!((status.code, status.status), (201, Some(kube::core::response::StatusSummary::Success)));
    let bound = pods.get("p").await.expect("get");
    assert_eq!(bound.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some("node-1"));
    assert_eq!(bound.metadata.annotations.as_ref().and_then(|a| a.get("bound-by")).map(String::as_str), Some("test"));
    let conditions = bound.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(conditions.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"), "{conditions:?}");

    let again = pods.create_subresource::<_, kube::core::Status>("binding", "p", &pp, &binding("p", "node-2")).await;
    let again = status_of(again.expect_err("a second binding"));
    assert_eq!(again.code, 409);
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"node-1\""
    );

    let nowhere = pods.create_subresource::<_, kube::core::Status>("binding", "p", &pp, &binding("p", "")).await;
    let nowhere = status_of(nowhere.expect_err("no target"));
    assert_eq!(
        (nowhere.code, nowhere.message.as_str()),
        (422, "Binding \"p\" is invalid: target.name: Required value")
    );
}
