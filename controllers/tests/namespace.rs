//! The namespace controller on a live cluster: deleting a namespace deletes
//! its configmaps, secrets, service accounts and pods (on simulated nodes),
//! then the namespace itself; content held by finalizers shows in the
//! conditions and keeps the namespace Terminating; finalizers of others stay.

mod common;

use std::sync::Arc;

use common::{Cluster, wait_for};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceCondition, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::clock::{Clock, FakeClock};

async fn namespace(cluster: &Cluster, object: serde_json::Value) -> Api<Namespace> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let object = serde_json::from_value(object).expect("a namespace");
    api.create(&PostParams::default(), &object).await.expect("create the namespace");
    api
}

async fn content(cluster: &Cluster, ns: &str) {
    let _: ConfigMap =
        cluster.create(Some(ns), json!({ "metadata": { "name": "settings" }, "data": { "a": "b" } })).await;
    let _: Secret =
        cluster.create(Some(ns), json!({ "metadata": { "name": "token" }, "stringData": { "t": "x" } })).await;
}

fn condition<'a>(namespace: &'a Namespace, type_: &str) -> Option<&'a NamespaceCondition> {
    namespace.status.as_ref()?.conditions.iter().flatten().find(|c| c.type_ == type_)
}

/// A clock far enough ahead that the deletion grace period and pod grace periods are over.
fn later_clock() -> Arc<dyn Clock> {
    Arc::new(FakeClock::new(Timestamp::now().checked_add(SignedDuration::from_hours(1)).expect("a time")))
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content_then_the_namespace() {
    let cluster = Cluster::start(&["namespace", "serviceaccount", "garbage-collector"], 2).await;
    let namespaces = namespace(&cluster, json!({ "metadata": { "name": "doomed" } })).await;
    content(&cluster, "doomed").await;
    for name in ["web-0", "web-1"] {
        let pod =
            json!({ "metadata": { "name": name }, "spec": { "containers": [{ "name": "c", "image": "nginx" }] } });
        let _: Pod = cluster.create(Some("doomed"), pod).await;
    }
    let pods: Api<Pod> = cluster.api("doomed");
    wait_for("the pods to run on the nodes", async || {
        let list = pods.list(&ListParams::default()).await.expect("pods");
        let running =
            list.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        (running.count() == 2).then_some(())
    })
    .await;

    namespaces.delete("doomed", &DeleteParams::default()).await.expect("delete the namespace");
    let terminating = namespaces.get("doomed").await.expect("the namespace terminates first");
    assert_eq!(terminating.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    wait_for("the namespace to be removed", async || {
        namespaces.get_opt("doomed").await.expect("get").is_none().then_some(())
    })
    .await;
    assert!(pods.list(&ListParams::default()).await.expect("pods").items.is_empty());
    assert!(cluster.api::<ConfigMap>("doomed").list(&ListParams::default()).await.expect("maps").items.is_empty());
    assert!(cluster.api::<Secret>("doomed").list(&ListParams::default()).await.expect("secrets").items.is_empty());
}

#[tokio::test]
async fn content_held_by_a_finalizer_keeps_the_namespace_terminating_and_shows_in_its_conditions() {
    let cluster = Cluster::start_with_clock(&["namespace"], 0, Some(later_clock())).await;
    let namespaces = namespace(&cluster, json!({ "metadata": { "name": "held" } })).await;
    content(&cluster, "held").await;
    let held = json!({ "metadata": { "name": "held", "finalizers": ["example.com/hold"] } });
    let _: ConfigMap = cluster.create(Some("held"), held).await;

    namespaces.delete("held", &DeleteParams::default()).await.expect("delete the namespace");
    let namespace = wait_for("the conditions to show the remaining content", async || {
        let namespace = namespaces.get("held").await.expect("the namespace stays");
        let remaining = condition(&namespace, "NamespaceContentRemaining")?;
        (remaining.status == "True").then_some(namespace)
    })
    .await;
    let remaining = condition(&namespace, "NamespaceContentRemaining").expect("content remaining");
    assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        remaining.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 1 resource instances")
    );
    let finalizers = condition(&namespace, "NamespaceFinalizersRemaining").expect("finalizers remaining");
    assert_eq!((finalizers.status.as_str(), finalizers.reason.as_deref()), ("True", Some("SomeFinalizersRemain")));
    assert_eq!(
        finalizers.message.as_deref(),
        Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    );
    for (type_, reason) in [
        ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions"),
        ("NamespaceDeletionContentFailure", "ContentDeleted"),
    ] {
        let ok = condition(&namespace, type_).unwrap_or_else(|| panic!("{type_}"));
        assert_eq!((ok.status.as_str(), ok.reason.as_deref()), ("False", Some(reason)), "{type_}");
    }
    assert_eq!(namespace.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Terminating"));
    assert_eq!(namespace.spec.and_then(|s| s.finalizers), Some(vec!["kubernetes".to_owned()]));
    let secrets = cluster.api::<Secret>("held").list(&ListParams::default()).await.expect("secrets");
    assert!(secrets.items.is_empty(), "the rest is deleted meanwhile");

    let maps: Api<ConfigMap> = cluster.api("held");
    let release = json!({ "metadata": { "finalizers": null } });
    maps.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.expect("release");
    wait_for("the namespace to be removed", async || {
        namespaces.get_opt("held").await.expect("get").is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn only_the_kubernetes_finalizer_is_removed() {
    let cluster = Cluster::start_with_clock(&["namespace"], 0, Some(later_clock())).await;
    let spec =
        json!({ "metadata": { "name": "shared" }, "spec": { "finalizers": ["kubernetes", "example.com/other"] } });
    let namespaces = namespace(&cluster, spec).await;
    content(&cluster, "shared").await;
    namespaces.delete("shared", &DeleteParams::default()).await.expect("delete the namespace");
    let namespace = wait_for("the kubernetes finalizer to be removed", async || {
        let namespace = namespaces.get("shared").await.expect("the namespace stays");
        let finalizers = namespace.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
        (finalizers == ["example.com/other"]).then_some(namespace)
    })
    .await;
    let removed = condition(&namespace, "NamespaceContentRemaining").expect("content remaining");
    assert_eq!((removed.status.as_str(), removed.reason.as_deref()), ("False", Some("ContentRemoved")));
    assert!(cluster.api::<ConfigMap>("shared").list(&ListParams::default()).await.expect("maps").items.is_empty());
}
