//! The garbage collector on a live cluster: cascading deletion in the
//! background, in the foreground (waiting on blockOwnerDeletion) and with
//! orphaning; dangling and wrong-UID owners; cluster-scoped owners; owners
//! in another namespace.

mod common;

use common::{Cluster, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

const GC: &str = "garbage-collector";

/// An owner reference to `owner`, blocking its deletion or not.
fn owned_by<K: Resource<DynamicType = ()>>(owner: &K, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        block_owner_deletion: Some(block),
        controller: None,
    }
}

async fn config_map(cluster: &Cluster, ns: &str, name: &str, owners: &[OwnerReference]) -> ConfigMap {
    cluster.create(Some(ns), json!({ "metadata": { "name": name, "ownerReferences": owners } })).await
}

async fn secret(cluster: &Cluster, ns: &str, name: &str, owners: &[OwnerReference]) -> Secret {
    cluster.create(Some(ns), json!({ "metadata": { "name": name, "ownerReferences": owners } })).await
}

async fn namespace(cluster: &Cluster, name: &str) {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let object = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("a namespace");
    api.create(&PostParams::default(), &object).await.expect("create the namespace");
}

/// Waits until `name` is gone from `api`.
async fn gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_for(&format!("{name} to be deleted"), async || api.get_opt(name).await.expect("get").is_none().then_some(()))
        .await;
}

#[tokio::test]
async fn background_deletion_deletes_the_dependents_after_the_owner() {
    let cluster = Cluster::start(&[GC], 0).await;
    let owner = config_map(&cluster, "default", "owner", &[]).await;
    config_map(&cluster, "default", "child-cm", &[owned_by(&owner, false)]).await;
    secret(&cluster, "default", "child-secret", &[owned_by(&owner, true)]).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let secrets: Api<Secret> = cluster.api("default");
    maps.delete("owner", &DeleteParams::background()).await.expect("delete the owner");
    gone(&maps, "child-cm").await;
    gone(&secrets, "child-secret").await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents_that_block_it() {
    let cluster = Cluster::start(&[GC], 0).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let secrets: Api<Secret> = cluster.api("default");
    let owner = config_map(&cluster, "default", "owner", &[]).await;
    let held = json!({ "metadata": { "name": "held", "finalizers": ["example.com/hold"],
        "ownerReferences": [owned_by(&owner, true)] } });
    let _: ConfigMap = cluster.create(Some("default"), held).await;
    secret(&cluster, "default", "free", &[owned_by(&owner, false)]).await;

    maps.delete("owner", &DeleteParams::foreground()).await.expect("delete the owner");
    gone(&secrets, "free").await;
    wait_for("the blocking dependent to be deleted", async || {
        maps.get("held").await.expect("held").metadata.deletion_timestamp.map(drop)
    })
    .await;
    let waiting = maps.get("owner").await.expect("the owner waits for its blocking dependent");
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(waiting.finalizers().iter().any(|f| f == "foregroundDeletion"));

    let release = json!({ "metadata": { "finalizers": null } });
    maps.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.expect("release");
    gone(&maps, "held").await;
    gone(&maps, "owner").await;
}

#[tokio::test]
async fn foreground_deletion_goes_down_a_chain_of_owners() {
    let cluster = Cluster::start(&[GC], 0).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let top = config_map(&cluster, "default", "deployment-like", &[]).await;
    let middle = config_map(&cluster, "default", "replicaset-like", &[owned_by(&top, true)]).await;
    config_map(&cluster, "default", "pod-like", &[owned_by(&middle, true)]).await;
    maps.delete("deployment-like", &DeleteParams::foreground()).await.expect("delete the top");
    gone(&maps, "pod-like").await;
    gone(&maps, "replicaset-like").await;
    gone(&maps, "deployment-like").await;
}

#[tokio::test]
async fn orphan_deletion_leaves_the_dependents_without_the_reference() {
    let cluster = Cluster::start(&[GC], 0).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let secrets: Api<Secret> = cluster.api("default");
    let owner = config_map(&cluster, "default", "owner", &[]).await;
    let other = config_map(&cluster, "default", "other-owner", &[]).await;
    config_map(&cluster, "default", "child", &[owned_by(&owner, true)]).await;
    secret(&cluster, "default", "shared", &[owned_by(&owner, false), owned_by(&other, false)]).await;

    maps.delete("owner", &DeleteParams::orphan()).await.expect("delete the owner");
    gone(&maps, "owner").await;
    let child = maps.get("child").await.expect("the dependent stays");
    assert_eq!(child.owner_references(), []);
    let shared = secrets.get("shared").await.expect("the dependent stays");
    assert_eq!(shared.owner_references(), [owned_by(&other, false)], "only the orphaning owner is dropped");
}

#[tokio::test]
async fn a_dependent_of_an_owner_that_does_not_exist_is_deleted() {
    let cluster = Cluster::start(&[GC], 0).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let real = config_map(&cluster, "default", "real", &[]).await;
    let missing = OwnerReference { name: "missing".into(), uid: "0000-missing".into(), ..owned_by(&real, false) };
    config_map(&cluster, "default", "dangling", &[missing]).await;
    let wrong_uid = OwnerReference { uid: "0000-not-the-real-one".into(), ..owned_by(&real, false) };
    config_map(&cluster, "default", "wrong-uid", &[wrong_uid]).await;
    gone(&maps, "dangling").await;
    gone(&maps, "wrong-uid").await;
    assert!(maps.get_opt("real").await.expect("get").is_some(), "the owner by that name is left alone");
}

#[tokio::test]
async fn a_dependent_with_a_remaining_owner_only_loses_the_reference_to_the_missing_one() {
    let cluster = Cluster::start(&[GC], 0).await;
    let maps: Api<ConfigMap> = cluster.api("default");
    let owner = config_map(&cluster, "default", "owner", &[]).await;
    let missing = OwnerReference { name: "missing".into(), uid: "0000-missing".into(), ..owned_by(&owner, false) };
    config_map(&cluster, "default", "child", &[owned_by(&owner, false), missing]).await;
    wait_for("the dangling reference to be removed", async || {
        let child = maps.get("child").await.expect("the child stays");
        (child.owner_references() == [owned_by(&owner, false)]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn namespaced_dependents_of_a_cluster_scoped_owner_are_deleted_with_it() {
    let cluster = Cluster::start(&[GC], 0).await;
    namespace(&cluster, "team").await;
    let roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    let role = serde_json::from_value(json!({ "metadata": { "name": "owner-role" } })).expect("a role");
    let role = roles.create(&PostParams::default(), &role).await.expect("create the role");
    config_map(&cluster, "default", "in-default", &[owned_by(&role, false)]).await;
    secret(&cluster, "team", "in-team", &[owned_by(&role, false)]).await;
    let unrelated = config_map(&cluster, "team", "unrelated", &[]).await;

    roles.delete("owner-role", &DeleteParams::default()).await.expect("delete the role");
    gone(&cluster.api::<ConfigMap>("default"), "in-default").await;
    gone(&cluster.api::<Secret>("team"), "in-team").await;
    assert!(cluster.api::<ConfigMap>("team").get_opt(&unrelated.name_any()).await.expect("get").is_some());
}

#[tokio::test]
async fn an_owner_in_another_namespace_is_invalid_and_reported() {
    let cluster = Cluster::start(&[GC], 0).await;
    namespace(&cluster, "a").await;
    namespace(&cluster, "b").await;
    let owner = config_map(&cluster, "a", "owner", &[]).await;
    config_map(&cluster, "b", "child", &[owned_by(&owner, false)]).await;
    gone(&cluster.api::<ConfigMap>("b"), "child").await;
    let events: Api<Event> = cluster.api("b");
    let event = wait_for("the OwnerRefInvalidNamespace event", async || {
        let list = events.list(&Default::default()).await.expect("events");
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("OwnerRefInvalidNamespace"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.regarding.as_ref().and_then(|r| r.name.as_deref()), Some("child"));
    assert_eq!(event.reporting_controller.as_deref(), Some("garbage-collector-controller"));
    let expected = format!(
        "ownerRef [v1/ConfigMap, namespace: b, name: owner, uid: {}] does not exist in namespace \"b\"",
        owner.uid().unwrap_or_default()
    );
    assert_eq!(event.note.as_deref(), Some(expected.as_str()));
    assert!(cluster.api::<ConfigMap>("a").get_opt("owner").await.expect("get").is_some());
}
