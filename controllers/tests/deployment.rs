//! The Deployment controller (with the ReplicaSet controller) on a live
//! cluster with simulated nodes: rollouts, rollback, scaling, pause.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::{Cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } },
            "template": { "metadata": { "labels": { "app": name } },
                          "spec": { "containers": [{ "name": "c", "image": image }] } },
        },
    })
}

fn image_of(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default()
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until the rollout is complete as `kubectl rollout status` sees it, with every pod on `image`.
async fn rolled_out(cluster: &Cluster, name: &str, replicas: i32, image: &str) -> Deployment {
    let deployments = cluster.api::<Deployment>("default");
    let pods = cluster.api::<Pod>("default");
    wait_for(&format!("{name} rolled out to {image}"), async || {
        let d = deployments.get(name).await.ok()?;
        let status = d.status.clone()?;
        let progressing = status.conditions.iter().flatten().find(|c| c.type_ == "Progressing")?;
        let done = status.observed_generation >= d.metadata.generation
            && status.updated_replicas == Some(replicas)
            && status.replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
            && progressing.reason.as_deref() == Some("NewReplicaSetAvailable");
        let listed = pods.list(&ListParams::default().labels(&format!("app={name}"))).await.ok()?;
        let live: Vec<&Pod> = listed.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let all_new = live.len() == usize::try_from(replicas).unwrap_or(0) && live.iter().all(|p| image_of(p) == image);
        (done && all_new).then_some(d)
    })
    .await
}

async fn sets_by_revision(cluster: &Cluster) -> BTreeMap<i64, ReplicaSet> {
    let sets = cluster.api::<ReplicaSet>("default").list(&ListParams::default()).await.expect("list replica sets");
    sets.items
        .into_iter()
        .map(|s| {
            let revision =
                s.annotations().get("deployment.kubernetes.io/revision").and_then(|r| r.parse().ok()).unwrap_or(0);
            (revision, s)
        })
        .collect()
}

#[tokio::test]
async fn a_rolling_update_keeps_enough_pods_ready_and_rollback_restores_v1() {
    let cluster = Cluster::start(&["replicaset", "deployment"], 4).await;
    let _: Deployment = cluster.create(Some("default"), deployment("web", 10, "app:v1")).await;
    let d = rolled_out(&cluster, "web", 10, "app:v1").await;
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("1"));
    let available = d.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    assert!(available.iter().any(|c| c.type_ == "Available"
        && c.status == "True"
        && c.reason.as_deref() == Some("MinimumReplicasAvailable")));

    // Watch every pod from now on: never fewer than 10 - maxUnavailable (2) ready.
    let lowest = Arc::new(Mutex::new(usize::MAX));
    let watching = {
        let (lowest, pods) = (Arc::clone(&lowest), cluster.api::<Pod>("default"));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            let mut live: BTreeMap<String, Pod> = BTreeMap::new();
            let mut events = std::pin::pin!(watcher(pods, watcher::Config::default().labels("app=web")));
            while let Some(Ok(event)) = events.next().await {
                match event {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                        live.insert(p.name_any(), p);
                    }
                    watcher::Event::Delete(p) => {
                        live.remove(&p.name_any());
                    }
                    watcher::Event::InitDone => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    watcher::Event::Init => {}
                }
                if ready_tx.is_none() {
                    let ready = live.values().filter(|p| is_ready(p)).count();
                    let mut low = lowest.lock().expect("lock");
                    *low = (*low).min(ready);
                }
            }
        });
        ready_rx.await.expect("the pod watch listed");
        task
    };
    let deployments = cluster.api::<Deployment>("default");
    let to_v2 = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": "app:v2" }] } } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&to_v2)).await.expect("update the image");
    let d = rolled_out(&cluster, "web", 10, "app:v2").await;
    watching.abort();
    let lowest = *lowest.lock().expect("lock");
    assert!(lowest >= 8, "ready pods dropped to {lowest} during the rollout");
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("2"));
    let sets = sets_by_revision(&cluster).await;
    assert_eq!(sets.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(sets[&1].spec.as_ref().and_then(|s| s.replicas), Some(0), "the old set is scaled to zero and kept");

    // `kubectl rollout undo`: the template of revision 1 (without its hash label) back on the Deployment.
    let mut template = serde_json::to_value(sets[&1].spec.as_ref().and_then(|s| s.template.clone())).expect("template");
    template["metadata"]["labels"].as_object_mut().map(|l| l.remove("pod-template-hash"));
    let undo = json!([{ "op": "replace", "path": "/spec/template", "value": template }]);
    deployments
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(undo).expect("a JSON patch")))
        .await
        .expect("roll back");
    let d = rolled_out(&cluster, "web", 10, "app:v1").await;
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("3"));
    let sets = sets_by_revision(&cluster).await;
    assert_eq!(sets.keys().copied().collect::<Vec<_>>(), [2, 3], "revision 1's set came back as revision 3");
    assert_eq!(sets[&3].annotations().get("deployment.kubernetes.io/revision-history").map(String::as_str), Some("1"));

    let events = cluster.api::<Event>("default").list(&ListParams::default()).await.expect("events");
    let messages: BTreeSet<String> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .filter_map(|e| e.message.clone())
        .collect();
    let first = sets[&3].name_any();
    assert!(messages.contains(&format!("Scaled up replica set {first} from 0 to 10")), "{messages:?}");
}

#[tokio::test]
async fn scaling_recreate_pause_and_history_limit() {
    let cluster = Cluster::start(&["replicaset", "deployment"], 2).await;
    let mut spec = deployment("batch", 3, "app:v1");
    spec["spec"]["strategy"] = json!({ "type": "Recreate" });
    spec["spec"]["revisionHistoryLimit"] = json!(1);
    let _: Deployment = cluster.create(Some("default"), spec).await;
    rolled_out(&cluster, "batch", 3, "app:v1").await;
    let deployments = cluster.api::<Deployment>("default");
    let scale = |n: i32| json!({ "spec": { "replicas": n } });
    deployments.patch("batch", &PatchParams::default(), &Patch::Merge(&scale(5))).await.expect("scale up");
    rolled_out(&cluster, "batch", 5, "app:v1").await;

    for image in ["app:v2", "app:v3"] {
        let update = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": image }] } } } });
        deployments.patch("batch", &PatchParams::default(), &Patch::Strategic(&update)).await.expect("update");
        rolled_out(&cluster, "batch", 5, image).await;
    }
    let sets = wait_for("history trimmed to one old set", async || {
        let sets = sets_by_revision(&cluster).await;
        (sets.len() == 2).then_some(sets)
    })
    .await;
    assert_eq!(sets.keys().copied().collect::<Vec<_>>(), [2, 3]);

    // Paused: template changes wait; scaling still applies.
    let pause = json!({ "spec": { "paused": true } });
    deployments.patch("batch", &PatchParams::default(), &Patch::Merge(&pause)).await.expect("pause");
    wait_for("the Paused condition", async || {
        let d = deployments.get("batch").await.ok()?;
        let c = d.status?.conditions?.into_iter().find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("DeploymentPaused") && c.status == "Unknown").then_some(())
    })
    .await;
    let update = json!({ "spec": { "replicas": 2, "template": { "spec": { "containers": [{ "name": "c", "image": "app:v4" }] } } } });
    deployments.patch("batch", &PatchParams::default(), &Patch::Strategic(&update)).await.expect("update while paused");
    wait_for("scaled to 2 while paused, still v3", async || {
        let pods = cluster.api::<Pod>("default").list(&ListParams::default().labels("app=batch")).await.ok()?;
        let live: Vec<&Pod> = pods.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        (live.len() == 2 && live.iter().all(|p| image_of(p) == "app:v3")).then_some(())
    })
    .await;
    let resume = json!({ "spec": { "paused": false } });
    deployments.patch("batch", &PatchParams::default(), &Patch::Merge(&resume)).await.expect("resume");
    rolled_out(&cluster, "batch", 2, "app:v4").await;
}

#[tokio::test]
async fn a_rollout_that_makes_no_progress_exceeds_its_deadline() {
    let cluster = Cluster::start(&["replicaset", "deployment"], 1).await;
    let mut spec = deployment("stuck", 2, "app:v1");
    // No node carries the label: the pods stay Pending, nothing becomes available.
    spec["spec"]["template"]["spec"]["nodeSelector"] = json!({ "skiff.dev/nowhere": "true" });
    spec["spec"]["progressDeadlineSeconds"] = json!(1);
    let _: Deployment = cluster.create(Some("default"), spec).await;
    let deployments = cluster.api::<Deployment>("default");
    let (progressing, available) = wait_for("Progressing False with ProgressDeadlineExceeded", async || {
        let d = deployments.get("stuck").await.ok()?;
        let conditions = d.status?.conditions?;
        let progressing = conditions.iter().find(|c| c.type_ == "Progressing" && c.status == "False")?.clone();
        let available = conditions.iter().find(|c| c.type_ == "Available")?.clone();
        Some((progressing, available))
    })
    .await;
    assert_eq!(progressing.reason.as_deref(), Some("ProgressDeadlineExceeded"));
    let message = progressing.message.unwrap_or_default();
    assert!(
        message.starts_with("ReplicaSet \"stuck-") && message.ends_with("\" has timed out progressing."),
        "{message}"
    );
    assert_eq!((available.status.as_str(), available.reason.as_deref()), ("False", Some("MinimumReplicasUnavailable")));
}
