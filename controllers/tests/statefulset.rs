//! The StatefulSet controller on a live cluster with simulated nodes (and
//! the garbage collector where claims are deleted): ordered start with
//! claims, reverse-order scale down, rolling updates with a partition and
//! rollback, Parallel pod management, and the claim retention policy.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn stateful_set(name: &str, replicas: i32, extra: Value) -> Value {
    let mut set = json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name } },
                          "spec": { "containers": [{ "name": "c", "image": "nginx:1" }] } },
        },
    });
    if let (Some(spec), Value::Object(extra)) = (set["spec"].as_object_mut(), extra) {
        spec.extend(extra);
    }
    set
}

fn claim_templates() -> Value {
    json!([{ "metadata": { "name": "www" }, "spec": { "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
             "resources": { "requests": { "storage": "1Gi" } } } }])
}

/// A WaitForFirstConsumer class and `per_node` local volumes on every node, for the claims to bind to.
async fn local_volumes(cluster: &Cluster, per_node: usize) {
    let params = PostParams::default();
    let class: StorageClass = serde_json::from_value(json!({ "metadata": { "name": "local" },
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer" }))
    .expect("a class");
    Api::<StorageClass>::all(cluster.client.clone()).create(&params, &class).await.expect("create the class");
    let nodes = Api::<Node>::all(cluster.client.clone()).list(&ListParams::default()).await.expect("list nodes");
    let volumes = Api::<PersistentVolume>::all(cluster.client.clone());
    for node in nodes.items {
        for index in 0..per_node {
            let node = node.name_any();
            let volume: PersistentVolume = serde_json::from_value(json!({
                "metadata": { "name": format!("{node}-disk-{index}") },
                "spec": { "capacity": { "storage": "1Gi" }, "accessModes": ["ReadWriteOnce"],
                          "storageClassName": "local", "persistentVolumeReclaimPolicy": "Retain",
                          "local": { "path": format!("/mnt/disk-{index}") },
                          "nodeAffinity": { "required": { "nodeSelectorTerms": [{ "matchExpressions": [
                              { "key": "kubernetes.io/hostname", "operator": "In", "values": [node] }] }] } } } }))
            .expect("a volume");
            volumes.create(&params, &volume).await.expect("create a volume");
        }
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image_of(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default()
}

/// What a watch on the set's pods saw: the order pods appeared and disappeared in, and
/// violations of one-at-a-time (a pod created while another was not ready, a pod deleted
/// while a higher one still existed).
#[derive(Default, Debug)]
struct Seen {
    live: BTreeMap<String, bool>,
    created: Vec<String>,
    deleted: Vec<String>,
    violations: Vec<String>,
}

fn watch_pods(cluster: &Cluster, app: &str) -> (Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (shared, pods) = (Arc::clone(&seen), cluster.api::<Pod>("default"));
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let task = tokio::spawn(async move {
        let mut events = std::pin::pin!(watcher(pods, config));
        while let Some(Ok(event)) = events.next().await {
            let mut seen = shared.lock().expect("lock");
            match event {
                watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                    let name = pod.name_any();
                    if !seen.live.contains_key(&name) {
                        let waiting: Vec<String> =
                            seen.live.iter().filter(|(_, ready)| !**ready).map(|(n, _)| n.clone()).collect();
                        if !waiting.is_empty() {
                            seen.violations.push(format!("{name} created while {waiting:?} not ready"));
                        }
                        seen.created.push(name.clone());
                    }
                    seen.live.insert(name, is_ready(&pod) && pod.metadata.deletion_timestamp.is_none());
                }
                watcher::Event::Delete(pod) => {
                    let name = pod.name_any();
                    let ordinal = |n: &str| n.rsplit_once('-').and_then(|(_, o)| o.parse::<i32>().ok());
                    let higher: Vec<String> =
                        seen.live.keys().filter(|n| ordinal(n) > ordinal(&name)).cloned().collect();
                    if !higher.is_empty() {
                        seen.violations.push(format!("{name} deleted while {higher:?} exist"));
                    }
                    seen.live.remove(&name);
                    seen.deleted.push(name);
                }
                _ => {}
            }
        }
    });
    (seen, task)
}

/// Waits until `kubectl rollout status` would say the set is rolled out with `replicas` pods on `image`.
async fn rolled_out(cluster: &Cluster, name: &str, replicas: i32, image: &str) -> StatefulSet {
    let sets = cluster.api::<StatefulSet>("default");
    let pods = cluster.api::<Pod>("default");
    wait_for(&format!("{name} rolled out on {image}"), async || {
        let set = sets.get(name).await.ok()?;
        let status = set.status.clone()?;
        let done = status.observed_generation >= set.metadata.generation
            && status.replicas == replicas
            && status.ready_replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
            && status.updated_replicas == Some(replicas)
            && status.current_replicas == Some(replicas)
            && status.current_revision.is_some()
            && status.current_revision == status.update_revision;
        let listed = pods.list(&ListParams::default().labels(&format!("app={name}"))).await.ok()?;
        let live: Vec<&Pod> = listed.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let all = live.len() == usize::try_from(replicas).unwrap_or(0) && live.iter().all(|p| image_of(p) == image);
        (done && all).then_some(set)
    })
    .await
}

async fn notes(cluster: &Cluster, reason: &str) -> Vec<String> {
    let events = cluster.api::<Event>("default").list(&ListParams::default()).await.expect("list events");
    events.items.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.message).collect()
}

async fn scale(cluster: &Cluster, name: &str, replicas: i32) {
    let patch = json!({ "spec": { "replicas": replicas } });
    let sets = cluster.api::<StatefulSet>("default");
    sets.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("scale");
}

#[tokio::test]
async fn ordered_ready_starts_pods_one_by_one_with_their_claims_and_scales_down_in_reverse() {
    let cluster = Cluster::start(&["statefulset"], 3).await;
    local_volumes(&cluster, 2).await;
    let (seen, watch) = watch_pods(&cluster, "web");
    let _: StatefulSet = cluster
        .create(Some("default"), stateful_set("web", 3, json!({ "volumeClaimTemplates": claim_templates() })))
        .await;
    let set = rolled_out(&cluster, "web", 3, "nginx:1").await;
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.created, ["web-0", "web-1", "web-2"], "created in ordinal order");
        assert!(seen.violations.is_empty(), "one pod at a time: {:?}", seen.violations);
    }
    let pods = cluster.api::<Pod>("default");
    let claims = cluster.api::<PersistentVolumeClaim>("default");
    for ordinal in 0..3 {
        let pod = pods.get(&format!("web-{ordinal}")).await.expect("the pod");
        let labels = pod.labels();
        assert_eq!(labels.get("statefulset.kubernetes.io/pod-name"), Some(&format!("web-{ordinal}")));
        assert_eq!(labels.get("apps.kubernetes.io/pod-index"), Some(&ordinal.to_string()));
        assert_eq!(
            labels.get("controller-revision-hash"),
            set.status.as_ref().and_then(|s| s.update_revision.as_ref())
        );
        let spec = pod.spec.clone().expect("a spec");
        assert_eq!(spec.hostname, Some(format!("web-{ordinal}")));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let volume = spec.volumes.iter().flatten().find(|v| v.name == "www").expect("the claim's volume");
        let claim_name = format!("www-web-{ordinal}");
        assert_eq!(volume.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone()), Some(claim_name.clone()));
        let claim = claims.get(&claim_name).await.expect("the claim");
        assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
        assert!(claim.metadata.owner_references.is_none(), "Retain leaves claims unowned");
    }
    let created = notes(&cluster, "SuccessfulCreate").await;
    assert!(created.contains(&"create Pod web-0 in StatefulSet web successful".to_owned()), "{created:?}");
    assert!(created.contains(&"create Claim www-web-2 Pod web-2 in StatefulSet web success".to_owned()), "{created:?}");
    let revisions = cluster.api::<ControllerRevision>("default").list(&ListParams::default()).await.expect("list");
    assert_eq!(revisions.items.len(), 1);
    assert_eq!(revisions.items[0].revision, 1);
    assert_eq!(Some(revisions.items[0].name_any()), set.status.and_then(|s| s.current_revision));

    scale(&cluster, "web", 1).await;
    rolled_out(&cluster, "web", 1, "nginx:1").await;
    wait_for("the watch saw both deletions", async || (seen.lock().ok()?.deleted.len() == 2).then_some(())).await;
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.deleted, ["web-2", "web-1"], "deleted in reverse ordinal order");
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    }
    let deleted = notes(&cluster, "SuccessfulDelete").await;
    assert!(deleted.contains(&"delete Pod web-2 in StatefulSet web successful".to_owned()), "{deleted:?}");
    assert!(claims.get("www-web-2").await.is_ok(), "Retain keeps the claims of removed pods");
    // Scaling up again reuses the claims.
    scale(&cluster, "web", 3).await;
    rolled_out(&cluster, "web", 3, "nginx:1").await;
    let listed = claims.list(&ListParams::default()).await.expect("list claims");
    assert_eq!(listed.items.len(), 3);
    watch.abort();
}

#[tokio::test]
async fn a_rolling_update_with_a_partition_updates_only_the_pods_at_and_above_it_then_rolls_back() {
    let cluster = Cluster::start(&["statefulset"], 3).await;
    let strategy = json!({ "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } } });
    let _: StatefulSet = cluster.create(Some("default"), stateful_set("web", 4, strategy)).await;
    let first = rolled_out(&cluster, "web", 4, "nginx:1").await;
    let first_revision = first.status.and_then(|s| s.current_revision).expect("a revision");
    let sets = cluster.api::<StatefulSet>("default");
    let pods = cluster.api::<Pod>("default");
    let image = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": "nginx:2" }] } } } });
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.expect("update the image");
    let partial = wait_for("web-2 and web-3 updated", async || {
        let set = sets.get("web").await.ok()?;
        let status = set.status.clone()?;
        let done = status.observed_generation == set.metadata.generation
            && status.updated_replicas == Some(2)
            && status.ready_replicas == Some(4)
            && status.current_replicas == Some(2);
        done.then_some(set)
    })
    .await;
    let status = partial.status.clone().expect("a status");
    assert_eq!(status.current_revision.as_deref(), Some(first_revision.as_str()));
    assert_ne!(status.update_revision, status.current_revision);
    for (ordinal, image) in [(0, "nginx:1"), (1, "nginx:1"), (2, "nginx:2"), (3, "nginx:2")] {
        let pod = pods.get(&format!("web-{ordinal}")).await.expect("the pod");
        assert_eq!(image_of(&pod), image, "web-{ordinal}");
    }
    // Lowering the partition finishes the rollout.
    let all = json!({ "spec": { "updateStrategy": { "rollingUpdate": { "partition": 0 } } } });
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&all)).await.expect("lower the partition");
    let done = rolled_out(&cluster, "web", 4, "nginx:2").await;
    let second_revision = done.status.and_then(|s| s.current_revision).expect("a revision");
    assert_ne!(second_revision, first_revision);
    let revisions = cluster.api::<ControllerRevision>("default");
    let numbers = |list: Vec<ControllerRevision>| -> BTreeMap<String, i64> {
        list.into_iter().map(|r| (r.name_any(), r.revision)).collect()
    };
    let listed = numbers(revisions.list(&ListParams::default()).await.expect("list").items);
    assert_eq!(listed, BTreeMap::from([(first_revision.clone(), 1), (second_revision.clone(), 2)]));
    // Back to the first template (what `kubectl rollout undo` patches): the old revision is renumbered.
    let back = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": "nginx:1" }] } } } });
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(&back)).await.expect("roll back");
    let undone = rolled_out(&cluster, "web", 4, "nginx:1").await;
    assert_eq!(undone.status.and_then(|s| s.current_revision), Some(first_revision.clone()));
    let listed = numbers(revisions.list(&ListParams::default()).await.expect("list").items);
    assert_eq!(listed, BTreeMap::from([(first_revision, 3), (second_revision, 2)]));
}

#[tokio::test]
async fn parallel_management_creates_and_deletes_pods_without_waiting() {
    let cluster = Cluster::start(&["statefulset"], 2).await;
    // No node matches: the pods stay Pending, which OrderedReady would wait on.
    let set = stateful_set("db", 3, json!({ "podManagementPolicy": "Parallel", "ordinals": { "start": 5 } }));
    let mut set: StatefulSet = serde_json::from_value(set).expect("a set");
    let template = set.spec.as_mut().and_then(|s| s.template.spec.as_mut()).expect("a pod spec");
    template.node_selector = Some(BTreeMap::from([("disk".to_owned(), "none".to_owned())]));
    cluster.api::<StatefulSet>("default").create(&PostParams::default(), &set).await.expect("create the set");
    let pods = cluster.api::<Pod>("default");
    let names = wait_for("all three pods created while none is ready", async || {
        let listed = pods.list(&ListParams::default().labels("app=db")).await.ok()?;
        let names: Vec<String> = listed.items.iter().map(|p| p.name_any()).collect();
        (listed.items.len() == 3 && listed.items.iter().all(|p| !is_ready(p))).then_some(names)
    })
    .await;
    assert_eq!(names, ["db-5", "db-6", "db-7"], "ordinals from spec.ordinals.start");
    let sets = cluster.api::<StatefulSet>("default");
    wait_for("status counts the pending pods", async || {
        let status = sets.get("db").await.ok()?.status?;
        (status.replicas == 3 && status.ready_replicas.unwrap_or(0) == 0).then_some(())
    })
    .await;
    scale(&cluster, "db", 0).await;
    wait_for("every unready pod deleted at once", async || {
        pods.list(&ListParams::default().labels("app=db")).await.ok()?.items.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_retention_policy_deletes_the_claims_of_scaled_down_pods() {
    let cluster = Cluster::start(&["statefulset", "garbage-collector"], 2).await;
    local_volumes(&cluster, 2).await;
    let extra = json!({ "volumeClaimTemplates": claim_templates(),
        "persistentVolumeClaimRetentionPolicy": { "whenDeleted": "Retain", "whenScaled": "Delete" } });
    let _: StatefulSet = cluster.create(Some("default"), stateful_set("web", 3, extra)).await;
    rolled_out(&cluster, "web", 3, "nginx:1").await;
    let claims = cluster.api::<PersistentVolumeClaim>("default");
    let claim = claims.get("www-web-2").await.expect("the claim");
    assert!(claim.metadata.owner_references.is_none(), "no owner while its pod is wanted");
    scale(&cluster, "web", 1).await;
    rolled_out(&cluster, "web", 1, "nginx:1").await;
    wait_for("the claims of web-1 and web-2 are deleted", async || {
        let names: Vec<String> =
            claims.list(&ListParams::default()).await.ok()?.items.iter().map(|c| c.name_any()).collect();
        (names == ["www-web-0"]).then_some(())
    })
    .await;
    // Scaling up again makes fresh claims.
    scale(&cluster, "web", 2).await;
    rolled_out(&cluster, "web", 2, "nginx:1").await;
    let fresh = claims.get("www-web-1").await.expect("a new claim");
    assert_ne!(fresh.uid(), claim.uid());
    // whenDeleted: Delete makes the set own the claims, so deleting the set deletes them.
    let sets = cluster.api::<StatefulSet>("default");
    let policy = json!({ "spec": { "persistentVolumeClaimRetentionPolicy": { "whenDeleted": "Delete" } } });
    let set = sets.patch("web", &PatchParams::default(), &Patch::Merge(&policy)).await.expect("change the policy");
    wait_for("the set owns the claims", async || {
        let listed = claims.list(&ListParams::default()).await.ok()?.items;
        let owned = listed.iter().all(|c| c.owner_references().iter().any(|r| Some(&r.uid) == set.uid().as_ref()));
        (listed.len() == 2 && owned).then_some(())
    })
    .await;
    sets.delete("web", &kube::api::DeleteParams::default()).await.expect("delete the set");
    wait_for("the claims are deleted with the set", async || {
        claims.list(&ListParams::default()).await.ok()?.items.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn on_delete_updates_a_pod_only_when_it_is_deleted() {
    let cluster = Cluster::start(&["statefulset"], 2).await;
    let _: StatefulSet = cluster
        .create(Some("default"), stateful_set("web", 2, json!({ "updateStrategy": { "type": "OnDelete" } })))
        .await;
    rolled_out(&cluster, "web", 2, "nginx:1").await;
    let sets = cluster.api::<StatefulSet>("default");
    let pods = cluster.api::<Pod>("default");
    let image = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": "nginx:2" }] } } } });
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.expect("update the image");
    let status = wait_for("the update revision is recorded", async || {
        let set = sets.get("web").await.ok()?;
        let status = set.status?;
        (status.observed_generation == set.metadata.generation && status.update_revision != status.current_revision)
            .then_some(status)
    })
    .await;
    assert_eq!(status.updated_replicas.unwrap_or(0), 0, "no pod is replaced by itself");
    pods.delete("web-1", &kube::api::DeleteParams::default()).await.expect("delete web-1");
    wait_for("web-1 comes back on the update revision", async || {
        let pod = pods.get("web-1").await.ok()?;
        (image_of(&pod) == "nginx:2" && is_ready(&pod)).then_some(())
    })
    .await;
    assert_eq!(image_of(&pods.get("web-0").await.expect("web-0")), "nginx:1");
    let status = wait_for("one pod counted as updated", async || {
        let status = sets.get("web").await.ok()?.status?;
        (status.updated_replicas == Some(1) && status.current_replicas == Some(1)).then_some(status)
    })
    .await;
    assert_ne!(status.current_revision, status.update_revision, "OnDelete never completes by itself");
}
