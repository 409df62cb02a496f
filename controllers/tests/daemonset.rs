//! The DaemonSet controller on a live cluster with simulated nodes: a pod
//! per node (bound through node affinity, with the default tolerations),
//! nodeSelector and taints, nodes coming, changing and going, and a rolling
//! update within maxUnavailable.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::{Cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn daemon_set(name: &str, pod_spec: Value) -> Value {
    let mut spec = json!({ "containers": [{ "name": "agent", "image": "agent:1" }] });
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), pod_spec) {
        spec.extend(extra);
    }
    json!({
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name } }, "spec": spec },
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

/// The live pods of the DaemonSet `app`, by the node they run on.
async fn pods_by_node(cluster: &Cluster, app: &str) -> BTreeMap<String, Pod> {
    let listed = cluster.api::<Pod>("default").list(&ListParams::default().labels(&format!("app={app}"))).await;
    listed
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| Some((p.spec.as_ref()?.node_name.clone()?, p)))
        .collect()
}

/// Waits until `kubectl rollout status ds/<name>` would be done, with ready pods on exactly `nodes` running `image`.
async fn settled(cluster: &Cluster, name: &str, nodes: &[&str], image: &str) -> DaemonSet {
    let sets = cluster.api::<DaemonSet>("default");
    let wanted: BTreeSet<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
    let count = i32::try_from(nodes.len()).unwrap_or(0);
    wait_for(&format!("{name} on {nodes:?} with {image}"), async || {
        let ds = sets.get(name).await.ok()?;
        let status = ds.status.clone()?;
        let done = status.observed_generation >= ds.metadata.generation
            && status.desired_number_scheduled == count
            && status.current_number_scheduled == count
            && status.number_ready == count
            && status.updated_number_scheduled == Some(count)
            && status.number_available == Some(count)
            && status.number_unavailable.unwrap_or(0) == 0
            && status.number_misscheduled == 0;
        let pods = pods_by_node(cluster, name).await;
        let placed = pods.keys().cloned().collect::<BTreeSet<_>>() == wanted
            && pods.values().all(|p| is_ready(p) && image_of(p) == image);
        (done && placed).then_some(ds)
    })
    .await
}

async fn notes(cluster: &Cluster, reason: &str) -> Vec<String> {
    let events = cluster.api::<Event>("default").list(&ListParams::default()).await.expect("list events");
    events.items.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.message).collect()
}

#[tokio::test]
async fn a_pod_runs_on_every_node_and_follows_nodes_that_come_and_go() {
    let mut cluster = Cluster::start(&["daemonset"], 3).await;
    let _: DaemonSet = cluster.create(Some("default"), daemon_set("agent", json!({}))).await;
    let ds = settled(&cluster, "agent", &["node-0", "node-1", "node-2"], "agent:1").await;
    let pods = pods_by_node(&cluster, "agent").await;
    let pod = &pods["node-1"];
    let hash = pod.labels().get("controller-revision-hash").cloned().expect("a revision hash label");
    assert_eq!(
        pod.labels().get("pod-template-generation").map(String::as_str),
        Some("1"),
        "the API server keeps the template generation"
    );
    let owner = pod.owner_references().first().cloned().expect("an owner");
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("DaemonSet", ds.uid().unwrap_or_default().as_str()));
    let spec = pod.spec.clone().expect("a spec");
    let terms = spec
        .affinity
        .and_then(|a| a.node_affinity)
        .and_then(|a| a.required_during_scheduling_ignored_during_execution)
        .expect("a required node affinity")
        .node_selector_terms;
    let fields = terms[0].match_fields.clone().expect("match fields");
    assert_eq!((fields[0].key.as_str(), fields[0].values.clone()), ("metadata.name", Some(vec!["node-1".to_owned()])));
    let tolerations: BTreeSet<(String, String)> = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| (t.key.clone().unwrap_or_default(), t.effect.clone().unwrap_or_default()))
        .collect();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        assert!(tolerations.contains(&(key.to_owned(), effect.to_owned())), "{key}:{effect} in {tolerations:?}");
    }
    let revisions = cluster.api::<ControllerRevision>("default").list(&ListParams::default()).await.expect("list");
    assert_eq!(revisions.items.len(), 1);
    assert_eq!(revisions.items[0].labels().get("controller-revision-hash"), Some(&hash));
    let created = notes(&cluster, "SuccessfulCreate").await;
    assert_eq!(created.len(), 3, "{created:?}");
    assert!(created.iter().all(|m| m.starts_with("Created pod: agent-")), "{created:?}");

    // A new node gets a pod; a removed node no longer counts.
    cluster.add_nodes("late", 1, json!({})).await;
    settled(&cluster, "agent", &["late-0", "node-0", "node-1", "node-2"], "agent:1").await;
    Api::<Node>::all(cluster.client.clone()).delete("node-2", &DeleteParams::default()).await.expect("delete a node");
    let sets = cluster.api::<DaemonSet>("default");
    wait_for("the removed node is no longer desired", async || {
        let status = sets.get("agent").await.ok()?.status?;
        (status.desired_number_scheduled == 3 && status.number_available == Some(3)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_node_selector_picks_nodes_and_relabelling_moves_pods() {
    let mut cluster = Cluster::start(&["daemonset"], 1).await;
    cluster.add_nodes("gpu", 2, json!({ "metadata": { "labels": { "accelerator": "gpu" } } })).await;
    let _: DaemonSet = cluster
        .create(Some("default"), daemon_set("driver", json!({ "nodeSelector": { "accelerator": "gpu" } })))
        .await;
    settled(&cluster, "driver", &["gpu-0", "gpu-1"], "agent:1").await;
    let nodes = Api::<Node>::all(cluster.client.clone());
    let label = |value: Value| json!({ "metadata": { "labels": { "accelerator": value } } });
    nodes.patch("node-0", &PatchParams::default(), &Patch::Merge(&label(json!("gpu")))).await.expect("label");
    settled(&cluster, "driver", &["gpu-0", "gpu-1", "node-0"], "agent:1").await;
    nodes.patch("gpu-1", &PatchParams::default(), &Patch::Merge(&label(Value::Null))).await.expect("unlabel");
    settled(&cluster, "driver", &["gpu-0", "node-0"], "agent:1").await;
    let deleted = notes(&cluster, "SuccessfulDelete").await;
    assert_eq!(deleted.len(), 1, "{deleted:?}");
}

#[tokio::test]
async fn a_tainted_node_is_skipped_unless_tolerated() {
    let mut cluster = Cluster::start(&["daemonset"], 2).await;
    let taint = json!({ "spec": { "taints": [{ "key": "dedicated", "value": "db", "effect": "NoSchedule" }] } });
    cluster.add_nodes("db", 1, taint).await;
    let _: DaemonSet = cluster.create(Some("default"), daemon_set("plain", json!({}))).await;
    let toleration =
        json!({ "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule" }] });
    let _: DaemonSet = cluster.create(Some("default"), daemon_set("tolerant", toleration)).await;
    settled(&cluster, "plain", &["node-0", "node-1"], "agent:1").await;
    settled(&cluster, "tolerant", &["db-0", "node-0", "node-1"], "agent:1").await;
    // Tainting a node NoExecute evicts the pods that do not tolerate it.
    let evict = json!({ "spec": { "taints": [{ "key": "maintenance", "effect": "NoExecute" }] } });
    Api::<Node>::all(cluster.client.clone())
        .patch("node-1", &PatchParams::default(), &Patch::Merge(&evict))
        .await
        .expect("taint node-1");
    settled(&cluster, "plain", &["node-0"], "agent:1").await;
}

/// The most nodes that were ever without a ready pod of `app` at once (watched, not
/// polled), once the watch has listed the pods (`None` before).
fn watch_unavailable(
    cluster: &Cluster,
    app: &str,
    nodes: usize,
) -> (Arc<Mutex<Option<usize>>>, tokio::task::JoinHandle<()>) {
    let worst = Arc::new(Mutex::new(None));
    let (shared, pods) = (Arc::clone(&worst), cluster.api::<Pod>("default"));
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let task = tokio::spawn(async move {
        let mut ready: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let mut events = std::pin::pin!(watcher(pods, config));
        while let Some(Ok(event)) = events.next().await {
            match event {
                watcher::Event::InitDone => {}
                watcher::Event::InitApply(pod) => {
                    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                    ready.insert(pod.name_any(), (node, is_ready(&pod)));
                    continue;
                }
                watcher::Event::Apply(pod) => {
                    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                    ready.insert(pod.name_any(), (node, is_ready(&pod)));
                }
                watcher::Event::Delete(pod) => {
                    ready.remove(&pod.name_any());
                }
                _ => continue,
            }
            let serving: BTreeSet<&String> = ready.values().filter(|(_, r)| *r).map(|(n, _)| n).collect();
            let mut worst = shared.lock().expect("lock");
            *worst = Some(worst.unwrap_or(0).max(nodes.saturating_sub(serving.len())));
        }
    });
    (worst, task)
}

#[tokio::test]
async fn a_rolling_update_replaces_pods_one_node_at_a_time() {
    let cluster = Cluster::start(&["daemonset"], 4).await;
    let nodes = ["node-0", "node-1", "node-2", "node-3"];
    let _: DaemonSet = cluster.create(Some("default"), daemon_set("agent", json!({}))).await;
    let first = settled(&cluster, "agent", &nodes, "agent:1").await;
    let old_pods: BTreeSet<String> = pods_by_node(&cluster, "agent").await.values().map(|p| p.name_any()).collect();
    let (worst, watch) = watch_unavailable(&cluster, "agent", nodes.len());
    wait_for("the watch listed the pods", async || (*worst.lock().ok()? == Some(0)).then_some(())).await;
    let image =
        json!({ "spec": { "template": { "spec": { "containers": [{ "name": "agent", "image": "agent:2" }] } } } });
    let sets = cluster.api::<DaemonSet>("default");
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(&image)).await.expect("update the image");
    let done = settled(&cluster, "agent", &nodes, "agent:2").await;
    assert!(done.metadata.generation > first.metadata.generation);
    assert_eq!(*worst.lock().expect("lock"), Some(1), "maxUnavailable 1: one node at a time");
    watch.abort();
    let new_pods: BTreeSet<String> = pods_by_node(&cluster, "agent").await.values().map(|p| p.name_any()).collect();
    assert!(old_pods.is_disjoint(&new_pods), "every pod was replaced");
    let revisions = cluster.api::<ControllerRevision>("default").list(&ListParams::default()).await.expect("list");
    let mut numbers: Vec<i64> = revisions.items.iter().map(|r| r.revision).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);
    let deleted = notes(&cluster, "SuccessfulDelete").await;
    assert_eq!(deleted.len(), 4, "{deleted:?}");
}
