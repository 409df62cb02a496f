//! The root CA publisher: every namespace gets the `kube-root-ca.crt`
//! ConfigMap with the cluster CA, put back after it is changed or deleted.

mod common;

use std::sync::Arc;

use common::wait_for;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_controllers::ControllerManager;
use skiff_controllers::root_ca_publisher::{CONFIG_MAP, DESCRIPTION};
use skiff_store::MemoryBackend;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async fn published(client: &kube::Client, namespace: &str, wanted: &str) -> ConfigMap {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    wait_for(&format!("{CONFIG_MAP} in {namespace}"), async || {
        let map = maps.get_opt(CONFIG_MAP).await.expect("get")?;
        let data = map.data.as_ref()?.get("ca.crt")?;
        (data == wanted).then_some(map)
    })
    .await
}

#[tokio::test]
async fn every_namespace_gets_the_cluster_ca_and_keeps_it() {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = api.client();
    let manager = ControllerManager::new(client.clone()).only(&["root-ca-cert-publisher"]).with_root_ca(CA);
    let task = tokio::spawn(manager.run(std::future::pending()));

    for existing in ["default", "kube-system", "kube-public"] {
        let map = published(&client, existing, CA).await;
        assert_eq!(map.annotations().get("kubernetes.io/description").map(String::as_str), Some(DESCRIPTION));
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team = serde_json::from_value(json!({ "metadata": { "name": "team" } })).expect("namespace");
    namespaces.create(&PostParams::default(), &team).await.expect("create the namespace");
    let first = published(&client, "team", CA).await;

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let tampered = json!({ "data": { "ca.crt": "not the CA" } });
    maps.patch(CONFIG_MAP, &PatchParams::default(), &Patch::Merge(&tampered)).await.expect("change it");
    published(&client, "team", CA).await;

    maps.delete(CONFIG_MAP, &DeleteParams::default()).await.expect("delete it");
    let again = wait_for("a new kube-root-ca.crt", async || {
        let map = maps.get_opt(CONFIG_MAP).await.expect("get")?;
        (map.uid() != first.uid()).then_some(map)
    })
    .await;
    assert_eq!(again.data.and_then(|d| d.get("ca.crt").cloned()).as_deref(), Some(CA));
    task.abort();
}
