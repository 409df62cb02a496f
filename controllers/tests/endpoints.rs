//! The Endpoints controller on a live cluster: addresses of ready and
//! not-ready pods with their named ports, kept current as pods come and go,
//! and removed with the service.

mod common;

use common::{Cluster, wait_for};
use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn pod(name: &str) -> serde_json::Value {
    json!({
        "metadata": { "name": name, "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "c", "image": "nginx",
                                   "ports": [{ "name": "http", "containerPort": 8080 }] }] },
    })
}

/// (ready pod names, not-ready pod names, port names and numbers) of an Endpoints object.
fn summary(endpoints: &Endpoints) -> (Vec<String>, Vec<String>, Vec<(String, i32)>) {
    let subsets: &[EndpointSubset] = endpoints.subsets.as_deref().unwrap_or_default();
    let names = |ready: bool| {
        let mut names: Vec<String> = subsets
            .iter()
            .flat_map(|s| if ready { s.addresses.iter() } else { s.not_ready_addresses.iter() })
            .flatten()
            .filter_map(|a| a.target_ref.as_ref().and_then(|t| t.name.clone()))
            .collect();
        names.sort();
        names
    };
    let ports =
        subsets.iter().flat_map(|s| s.ports.iter().flatten()).map(|p| (p.name.clone().unwrap_or_default(), p.port));
    (names(true), names(false), ports.collect())
}

async fn set_ready(pods: &Api<Pod>, name: &str, ready: bool) {
    let mut pod = pods.get_status(name).await.expect("get the pod");
    let status = pod.status.as_mut().expect("a status");
    for condition in status.conditions.iter_mut().flatten().filter(|c| c.type_ == "Ready") {
        condition.status = if ready { "True" } else { "False" }.to_owned();
    }
    pods.replace_status(name, &PostParams::default(), &pod).await.expect("update the pod's status");
}

#[tokio::test]
async fn endpoints_follow_ready_and_not_ready_pods_with_named_ports() {
    let cluster = Cluster::start(&["endpoint"], 1).await;
    let pods: Api<Pod> = cluster.api("default");
    let endpoints: Api<Endpoints> = cluster.api("default");
    let _: Service = cluster
        .create(Some("default"), json!({
            "metadata": { "name": "web", "labels": { "tier": "front" } },
            "spec": { "selector": { "app": "web" }, "ports": [{ "name": "web", "port": 80, "targetPort": "http" }] },
        }))
        .await;
    for name in ["a", "b"] {
        let _: Pod = cluster.create(Some("default"), pod(name)).await;
    }
    let both = wait_for("both pods as ready addresses", async || {
        let current = endpoints.get_opt("web").await.ok()??;
        (summary(&current).0 == ["a", "b"]).then_some(current)
    })
    .await;
    assert_eq!(summary(&both).2, vec![("web".to_owned(), 8080)]);
    let address = &both.subsets.as_ref().expect("subsets")[0].addresses.as_ref().expect("addresses")[0];
    assert_eq!(address.node_name.as_deref(), Some("node-0"));
    assert_eq!(address.target_ref.as_ref().and_then(|t| t.kind.as_deref()), Some("Pod"));
    assert_eq!(both.labels().get("tier").map(String::as_str), Some("front"));
    assert!(!both.labels().contains_key("service.kubernetes.io/headless"));
    assert!(both.annotations().contains_key("endpoints.kubernetes.io/last-change-trigger-time"));

    // Pod b stops being ready, pod a goes away, pod c comes.
    set_ready(&pods, "b", false).await;
    wait_for("b as a not-ready address", async || {
        let current = endpoints.get("web").await.ok()?;
        (summary(&current).1 == ["b"]).then_some(())
    })
    .await;
    pods.delete("a", &DeleteParams::default()).await.expect("delete pod a");
    let _: Pod = cluster.create(Some("default"), pod("c")).await;
    wait_for("c ready, b not ready, a gone", async || {
        let current = endpoints.get("web").await.ok()?;
        (summary(&current).0 == ["c"] && summary(&current).1 == ["b"]).then_some(())
    })
    .await;

    // A pod relabelled out of the selector leaves.
    let relabel = json!({ "metadata": { "labels": { "app": "other" } } });
    pods.patch("c", &PatchParams::default(), &Patch::Merge(&relabel)).await.expect("relabel c");
    wait_for("c gone with its label", async || {
        let current = endpoints.get("web").await.ok()?;
        (summary(&current).0.is_empty() && summary(&current).1 == ["b"]).then_some(())
    })
    .await;

    // The Endpoints go with the service.
    let services: Api<Service> = cluster.api("default");
    services.delete("web", &DeleteParams::default()).await.expect("delete the service");
    wait_for("the endpoints deleted with their service", async || {
        endpoints.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn headless_services_are_labelled_and_the_api_servers_own_endpoints_are_left_alone() {
    let cluster = Cluster::start(&["endpoint"], 1).await;
    let endpoints: Api<Endpoints> = cluster.api("default");
    let _: Service = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "db" },
                "spec": { "clusterIP": "None", "selector": { "app": "web" } },
            }),
        )
        .await;
    let mut named = pod("db-0");
    named["spec"]["hostname"] = json!("db-0");
    named["spec"]["subdomain"] = json!("db");
    let _: Pod = cluster.create(Some("default"), named).await;
    let headless = wait_for("the headless service's endpoints", async || {
        let current = endpoints.get_opt("db").await.ok()??;
        (summary(&current).0 == ["db-0"]).then_some(current)
    })
    .await;
    assert_eq!(headless.labels().get("service.kubernetes.io/headless").map(String::as_str), Some(""));
    let subset = &headless.subsets.as_ref().expect("subsets")[0];
    assert!(subset.ports.is_none(), "a headless service without ports has none: {subset:?}");
    assert_eq!(subset.addresses.as_ref().expect("addresses")[0].hostname.as_deref(), Some("db-0"));
    // The API server keeps the `kubernetes` service's endpoints (once it serves on an address).
    assert!(endpoints.get_opt("kubernetes").await.expect("get").is_none());
}
