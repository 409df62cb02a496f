//! The ReplicaSet controller on a live cluster with simulated nodes.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::{Cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn replica_set(name: &str, replicas: i32) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name, "tier": "web" } },
                          "spec": { "containers": [{ "name": "c", "image": "busybox" }] } },
        },
    })
}

/// The set's pods that are active (not terminating).
async fn owned_pods(cluster: &Cluster, set: &ReplicaSet) -> Vec<Pod> {
    let pods = cluster.api::<Pod>("default").list(&ListParams::default()).await.expect("list pods");
    let uid = set.uid().unwrap_or_default();
    pods.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.owner_references().iter().any(|r| r.uid == uid && r.controller == Some(true)))
        .collect()
}

async fn wait_status(cluster: &Cluster, name: &str, replicas: i32) -> ReplicaSet {
    let sets = cluster.api::<ReplicaSet>("default");
    wait_for(&format!("{name} reports {replicas} available replicas"), async || {
        let set = sets.get(name).await.ok()?;
        let status = set.status.as_ref()?;
        let done = status.replicas == replicas
            && status.ready_replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
            && status.fully_labeled_replicas == Some(replicas)
            && status.observed_generation == set.metadata.generation;
        let pods = owned_pods(cluster, &set).await;
        (done && pods.len() == usize::try_from(replicas).unwrap_or(0)).then_some(set)
    })
    .await
}

#[tokio::test]
async fn a_replica_set_keeps_its_replicas_adopts_releases_and_reports_them() {
    let cluster = Cluster::start(&["replicaset"], 3).await;
    // Every pod that ever belonged to the set, seen through a watch: a stale cache must not create extras.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let watch = {
        let (seen, pods) = (Arc::clone(&seen), cluster.api::<Pod>("default"));
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(pods, watcher::Config::default()));
            while let Some(Ok(event)) = events.next().await {
                if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event
                    && pod.labels().get("app").map(String::as_str) == Some("web")
                {
                    seen.lock().expect("lock").insert(pod.name_any());
                }
            }
        })
    };
    let _: ReplicaSet = cluster.create(Some("default"), replica_set("web", 20)).await;
    let set = wait_status(&cluster, "web", 20).await;
    assert_eq!(seen.lock().expect("lock").len(), 20, "exactly 20 pods were ever created");
    watch.abort();

    let sets = cluster.api::<ReplicaSet>("default");
    let scale = |n: i32| json!({ "spec": { "replicas": n } });
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&scale(3))).await.expect("scale down");
    wait_status(&cluster, "web", 3).await;

    // A deleted pod is replaced.
    let victim = owned_pods(&cluster, &set).await.remove(0);
    cluster.api::<Pod>("default").delete(&victim.name_any(), &Default::default()).await.expect("delete a pod");
    wait_status(&cluster, "web", 3).await;
    assert!(owned_pods(&cluster, &set).await.iter().all(|p| p.name_any() != victim.name_any()));

    // An orphan that comes to match is adopted; one pod too many is deleted,
    // not the orphan: its deletion cost is higher.
    let orphan: Pod =
        serde_json::from_value(json!({ "metadata": { "name": "orphan", "labels": { "app": "other", "tier": "web" },
        "annotations": { "controller.kubernetes.io/pod-deletion-cost": "100" } },
        "spec": { "containers": [{ "name": "c", "image": "busybox" }] } }))
        .expect("a pod");
    cluster.api::<Pod>("default").create(&PostParams::default(), &orphan).await.expect("create the orphan");
    wait_for("the orphan ready", async || {
        let pod = cluster.api::<Pod>("default").get("orphan").await.ok()?;
        let ready = pod.status?.conditions?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(())
    })
    .await;
    let matching = json!({ "metadata": { "labels": { "app": "web" } } });
    cluster
        .api::<Pod>("default")
        .patch("orphan", &PatchParams::default(), &Patch::Merge(&matching))
        .await
        .expect("relabel");
    let adopted = wait_for("the orphan adopted", async || {
        let pod = cluster.api::<Pod>("default").get("orphan").await.ok()?;
        pod.owner_references().iter().any(|r| r.uid == set.uid().unwrap_or_default()).then_some(pod)
    })
    .await;
    assert_eq!(adopted.owner_references()[0].block_owner_deletion, Some(true));
    let kept = wait_for("back to 3 pods", async || {
        let pods = owned_pods(&cluster, &set).await;
        (pods.len() == 3).then_some(pods)
    })
    .await;
    assert!(kept.iter().any(|p| p.name_any() == "orphan"), "the costly pod is kept");

    // A pod relabelled out of the selector is released and replaced.
    let kept = owned_pods(&cluster, &set).await.into_iter().find(|p| p.name_any() != "orphan").expect("a pod");
    let relabel = json!({ "metadata": { "labels": { "app": "elsewhere" } } });
    cluster
        .api::<Pod>("default")
        .patch(&kept.name_any(), &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .expect("relabel");
    wait_for("the relabelled pod released", async || {
        let pod = cluster.api::<Pod>("default").get(&kept.name_any()).await.ok()?;
        pod.owner_references().is_empty().then_some(())
    })
    .await;
    wait_status(&cluster, "web", 3).await;

    // Events as upstream's.
    let events = cluster.api::<Event>("default").list(&ListParams::default()).await.expect("events");
    let reasons: BTreeSet<(String, String)> = events
        .items
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("web"))
        .map(|e| (e.reason.clone().unwrap_or_default(), e.message.clone().unwrap_or_default()))
        .collect();
    assert!(reasons.iter().any(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: web-")), "{reasons:?}");
    assert!(reasons.iter().any(|(r, m)| r == "SuccessfulDelete" && m.starts_with("Deleted pod: ")), "{reasons:?}");
}

#[tokio::test]
async fn a_replication_controller_is_kept_like_a_replica_set_under_its_own_kind() {
    use k8s_openapi::api::core::v1::ReplicationController;
    let cluster = Cluster::start(&["replicationcontroller"], 2).await;
    let rc: ReplicationController = cluster
        .create(
            Some("default"),
            json!({ "metadata": { "name": "legacy" }, "spec": { "replicas": 3, "selector": { "app": "legacy" },
                "template": { "metadata": { "labels": { "app": "legacy" } },
                    "spec": { "containers": [{ "name": "c", "image": "busybox" }] } } } }),
        )
        .await;
    let controllers = cluster.api::<ReplicationController>("default");
    let pods = cluster.api::<Pod>("default");
    let owned = async |n: usize| {
        wait_for(&format!("{n} pods and status"), async || {
            let rc = controllers.get("legacy").await.ok()?;
            let status = rc.status.clone()?;
            let listed = pods.list(&ListParams::default().labels("app=legacy")).await.ok()?;
            let live: Vec<Pod> = listed.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
            let done = live.len() == n
                && status.replicas == i32::try_from(n).unwrap_or(0)
                && status.ready_replicas == Some(i32::try_from(n).unwrap_or(0))
                && status.observed_generation == rc.metadata.generation;
            done.then_some(live)
        })
        .await
    };
    let live = owned(3).await;
    for pod in &live {
        let owner = &pod.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.api_version.as_str()), ("ReplicationController", "v1"));
        assert_eq!(owner.uid, rc.uid().unwrap_or_default());
    }
    controllers
        .patch("legacy", &PatchParams::default(), &Patch::Merge(&json!({ "spec": { "replicas": 1 } })))
        .await
        .expect("scale");
    owned(1).await;
    let events = cluster.api::<Event>("default").list(&ListParams::default()).await.expect("events");
    let from_rc = events.items.iter().filter(|e| e.involved_object.kind.as_deref() == Some("ReplicationController"));
    let reasons: BTreeSet<String> = from_rc.filter_map(|e| e.reason.clone()).collect();
    assert!(reasons.contains("SuccessfulCreate") && reasons.contains("SuccessfulDelete"), "{reasons:?}");
}
