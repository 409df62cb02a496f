//! The ServiceAccount controller on a live cluster: every active namespace
//! gets a `default` ServiceAccount, again after it is deleted; a
//! terminating namespace gets none.

mod common;

use common::{Cluster, wait_for};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

async fn namespace(cluster: &Cluster, name: &str) -> Api<Namespace> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let object = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("a namespace");
    api.create(&PostParams::default(), &object).await.expect("create the namespace");
    api
}

async fn default_account(cluster: &Cluster, ns: &str) -> ServiceAccount {
    let accounts: Api<ServiceAccount> = cluster.api(ns);
    wait_for(&format!("the default service account in {ns}"), async || accounts.get_opt("default").await.expect("get"))
        .await
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account() {
    let cluster = Cluster::start(&["serviceaccount"], 0).await;
    for existing in ["default", "kube-system"] {
        default_account(&cluster, existing).await;
    }
    namespace(&cluster, "team").await;
    let account = default_account(&cluster, "team").await;
    assert_eq!(account.namespace().as_deref(), Some("team"));
}

#[tokio::test]
async fn a_deleted_default_service_account_is_created_again() {
    let cluster = Cluster::start(&["serviceaccount"], 0).await;
    namespace(&cluster, "team").await;
    let first = default_account(&cluster, "team").await;
    let accounts: Api<ServiceAccount> = cluster.api("team");
    accounts.delete("default", &DeleteParams::default()).await.expect("delete the account");
    let again = wait_for("a new default service account", async || {
        let account = accounts.get_opt("default").await.expect("get")?;
        (account.uid() != first.uid()).then_some(account)
    })
    .await;
    assert_eq!(again.name_any(), "default");
}

#[tokio::test]
async fn a_terminating_namespace_gets_no_new_service_account() {
    let cluster = Cluster::start(&["serviceaccount"], 0).await;
    let namespaces = namespace(&cluster, "leaving").await;
    default_account(&cluster, "leaving").await;
    // Without the namespace controller the namespace stays Terminating.
    namespaces.delete("leaving", &DeleteParams::default()).await.expect("delete the namespace");
    let accounts: Api<ServiceAccount> = cluster.api("leaving");
    accounts.delete("default", &DeleteParams::default()).await.expect("delete the account");
    // A namespace created afterwards is served, so the deletion above has been seen too.
    namespace(&cluster, "arriving").await;
    default_account(&cluster, "arriving").await;
    assert!(accounts.get_opt("default").await.expect("get").is_none());
}
