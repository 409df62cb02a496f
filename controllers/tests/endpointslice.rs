//! The EndpointSlice controller on a live cluster: a slice per service with
//! its pods' conditions, node, zone and named ports, updated as pods come
//! and go, and a placeholder while the service has none.

mod common;

use common::{Cluster, wait_for};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

fn pod(name: &str) -> serde_json::Value {
    json!({
        "metadata": { "name": name, "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "c", "image": "nginx",
                                   "ports": [{ "name": "http", "containerPort": 8080 }] }] },
    })
}

/// The service's slices.
async fn slices(api: &Api<EndpointSlice>, service: &str) -> Vec<EndpointSlice> {
    let selector = format!("kubernetes.io/service-name={service}");
    api.list(&ListParams::default().labels(&selector)).await.map(|l| l.items).unwrap_or_default()
}

/// Pod name → (ready, serving, terminating) over the slices.
fn conditions(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut all: Vec<_> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            let name = e.target_ref.as_ref().and_then(|t| t.name.clone()).unwrap_or_default();
            (name, c.ready == Some(true), c.serving == Some(true), c.terminating == Some(true))
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn slices_list_ready_and_not_ready_pods_with_zones_and_named_ports() {
    let mut cluster = Cluster::start(&["endpointslice"], 0).await;
    cluster
        .add_nodes("zoned", 1, json!({ "metadata": { "labels": { "topology.kubernetes.io/zone": "zone-a" } } }))
        .await;
    let api: Api<EndpointSlice> = cluster.api("default");
    let service: Service = cluster
        .create(Some("default"), json!({
            "metadata": { "name": "web" },
            "spec": { "selector": { "app": "web" }, "ports": [{ "name": "web", "port": 80, "targetPort": "http" }] },
        }))
        .await;
    let placeholder = wait_for("a placeholder slice", async || {
        let found = slices(&api, "web").await;
        (found.len() == 1).then(|| found[0].clone())
    })
    .await;
    assert!(placeholder.endpoints.is_empty() && placeholder.ports.as_deref().unwrap_or_default().is_empty());
    assert_eq!(placeholder.address_type, "IPv4");
    assert!(placeholder.metadata.name.as_deref().is_some_and(|n| n.starts_with("web-")));
    assert_eq!(
        placeholder.labels().get("endpointslice.kubernetes.io/managed-by").map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    let owner = &placeholder.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Service", service.metadata.uid.as_deref().unwrap_or("")));

    for name in ["a", "b"] {
        let _: Pod = cluster.create(Some("default"), pod(name)).await;
    }
    let ready = wait_for("both pods ready in one slice", async || {
        let found = slices(&api, "web").await;
        let both = conditions(&found) == [("a".into(), true, true, false), ("b".into(), true, true, false)];
        (both && found.len() == 1).then(|| found[0].clone())
    })
    .await;
    assert_eq!(ready.metadata.name, placeholder.metadata.name, "the placeholder is reused");
    let port = &ready.ports.as_ref().expect("ports")[0];
    assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("web"), Some(8080), Some("TCP")));
    let endpoint = &ready.endpoints[0];
    assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
    assert_eq!(endpoint.node_name.as_deref(), Some("zoned-0"));
    assert_eq!(endpoint.addresses.len(), 1);
    assert!(ready.annotations().contains_key("endpoints.kubernetes.io/last-change-trigger-time"));

    // b stops being ready, a goes away.
    let pods: Api<Pod> = cluster.api("default");
    let mut b = pods.get_status("b").await.expect("get b");
    for condition in b.status.as_mut().and_then(|s| s.conditions.as_mut()).into_iter().flatten() {
        if condition.type_ == "Ready" {
            condition.status = "False".to_owned();
        }
    }
    pods.replace_status("b", &PostParams::default(), &b).await.expect("b not ready");
    pods.delete("a", &DeleteParams::default()).await.expect("delete a");
    wait_for("b not ready and a gone", async || {
        (conditions(&slices(&api, "web").await) == [("b".into(), false, false, false)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_slice_holds_at_most_a_hundred_endpoints() {
    let cluster = Cluster::start(&["endpointslice"], 1).await;
    let api: Api<EndpointSlice> = cluster.api("default");
    let _: Service = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "web" },
                "spec": { "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": 8080 }] },
            }),
        )
        .await;
    let creates = (0..105).map(|i| cluster.create::<Pod>(Some("default"), pod(&format!("p{i}"))));
    futures::future::join_all(creates).await;
    let sizes = wait_for("105 endpoints over the slices", async || {
        let mut sizes: Vec<usize> = slices(&api, "web").await.iter().map(|s| s.endpoints.len()).collect();
        sizes.sort_unstable();
        (sizes.iter().sum::<usize>() == 105).then_some(sizes)
    })
    .await;
    // How they spread depends on how the pods' readiness arrived (upstream fills the
    // slice that ends closest to full, else starts a new one); never more than 100 in one.
    assert!(sizes.len() >= 2 && sizes.iter().all(|n| *n <= 100), "{sizes:?}");
}
