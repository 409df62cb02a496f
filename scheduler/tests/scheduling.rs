//! The scheduler on a live API server with simulated nodes: node groups,
//! taints, waiting for a node, preemption.

mod common;

use common::{Cluster, template};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test]
async fn trainer_and_platform_pods_land_on_their_node_groups() {
    let mut cluster = Cluster::start().await;
    let platform =
        cluster.add_nodes("platform", 2, template(json!({ "hs-component": "platform" }), json!([]), "8")).await;
    let trainer = cluster.add_nodes("trainer", 3, template(json!({ "hs-component": "trainer" }), json!([]), "8")).await;
    for i in 0..4 {
        cluster
            .create_pod(
                &format!("train-{i}"),
                json!({ "app": "trainer" }),
                json!({ "nodeSelector": { "hs-component": "trainer" } }),
            )
            .await;
        let affinity = json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [
            { "matchExpressions": [{ "key": "hs-component", "operator": "In", "values": ["platform"] }] }] } } });
        cluster
            .create_pod(&format!("platform-{i}"), json!({ "app": "platform" }), json!({ "affinity": affinity }))
            .await;
    }
    for i in 0..4 {
        let node = cluster.running_on(&format!("train-{i}")).await;
        assert!(trainer.contains(&node), "trainer pod on {node}");
        let node = cluster.running_on(&format!("platform-{i}")).await;
        assert!(platform.contains(&node), "platform pod on {node}");
    }
}

#[tokio::test]
async fn taints_keep_pods_off_unless_tolerated() {
    let mut cluster = Cluster::start().await;
    let taint = json!([{ "key": "dedicated", "value": "gpu", "effect": "NoSchedule" }]);
    cluster.add_nodes("gpu", 2, template(json!({}), taint, "8")).await;
    cluster.create_pod("plain", json!({}), json!({})).await;
    assert_eq!(
        cluster.unschedulable("plain").await,
        "0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
    );
    let toleration = json!([{ "key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule" }]);
    cluster.create_pod("tolerant", json!({}), json!({ "tolerations": toleration })).await;
    assert!(cluster.running_on("tolerant").await.starts_with("gpu-"));
}

#[tokio::test]
async fn a_pod_waits_until_a_matching_node_appears() {
    let mut cluster = Cluster::start().await;
    cluster.add_nodes("cpu", 2, template(json!({}), json!([]), "8")).await;
    cluster.create_pod("needs-gpu", json!({}), json!({ "nodeSelector": { "accelerator": "gpu" } })).await;
    assert_eq!(
        cluster.unschedulable("needs-gpu").await,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
    );
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let failed = events.list(&Default::default()).await.expect("events");
    assert!(failed.items.iter().any(|e| e.reason.as_deref() == Some("FailedScheduling")
        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("needs-gpu")));
    let gpu = cluster.add_nodes("gpu", 1, template(json!({ "accelerator": "gpu" }), json!([]), "8")).await;
    assert_eq!(cluster.running_on("needs-gpu").await, gpu[0]);
}

#[tokio::test]
async fn a_higher_priority_pod_preempts_a_lower_one() {
    let mut cluster = Cluster::start().await;
    cluster.add_nodes("small", 1, template(json!({}), json!([]), "2")).await;
    let classes: kube::Api<k8s_openapi::api::scheduling::v1::PriorityClass> = kube::Api::all(cluster.client.clone());
    for (name, value) in [("low", 10), ("high", 1000)] {
        let class = serde_json::from_value(json!({ "metadata": { "name": name }, "value": value })).expect("class");
        classes.create(&Default::default(), &class).await.expect("create a class");
    }
    let asking = |cpu: &str| json!([{ "name": "c", "image": "busybox", "resources": { "requests": { "cpu": cpu } } }]);
    cluster.create_pod("victim", json!({}), json!({ "priorityClassName": "low", "containers": asking("1500m") })).await;
    let node = cluster.running_on("victim").await;
    cluster.create_pod("preemptor", json!({}), json!({ "priorityClassName": "high", "containers": asking("1") })).await;
    assert_eq!(cluster.running_on("preemptor").await, node);
    let gone = cluster.pods().get_opt("victim").await.expect("get");
    assert!(gone.is_none(), "the victim was evicted: {gone:?}");
}

#[tokio::test]
async fn each_profile_schedules_its_own_pods() {
    let config = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#;
    let mut cluster = Cluster::start_with(skiff_scheduler::config::parse(config).expect("configuration")).await;
    cluster.add_nodes("node", 3, template(json!({}), json!([]), "8")).await;
    let asking =
        json!([{ "name": "c", "image": "busybox", "resources": { "requests": { "cpu": "1", "memory": "1Gi" } } }]);
    let mut nodes = std::collections::BTreeSet::new();
    for i in 0..4 {
        let name = format!("packed-{i}");
        cluster.create_pod(&name, json!({}), json!({ "schedulerName": "bin-packing", "containers": asking })).await;
        nodes.insert(cluster.running_on(&name).await);
    }
    assert_eq!(nodes.len(), 1, "MostAllocated packs the pods onto one node: {nodes:?}");
    cluster.create_pod("elsewhere", json!({}), json!({ "schedulerName": "someone-else" })).await;
    cluster.create_pod("marker", json!({}), json!({})).await;
    cluster.running_on("marker").await;
    let untouched = cluster.pods().get("elsewhere").await.expect("get");
    assert!(untouched.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none());
    assert!(common::scheduled_condition(&untouched).is_none(), "another scheduler's pod is left alone");
}

#[tokio::test]
async fn a_claim_waiting_for_its_consumer_binds_the_local_volume_of_the_chosen_node() {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use k8s_openapi::api::storage::v1::StorageClass;
    let mut cluster = Cluster::start().await;
    let nodes = cluster.add_nodes("disk", 3, template(json!({}), json!([]), "8")).await;
    let pp = kube::api::PostParams::default();
    let class: StorageClass = serde_json::from_value(json!({ "metadata": { "name": "local" },
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer" }))
    .expect("class");
    kube::Api::<StorageClass>::all(cluster.client.clone()).create(&pp, &class).await.expect("class");
    let volume: PersistentVolume = serde_json::from_value(json!({ "metadata": { "name": "local-pv" }, "spec": {
        "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
        "persistentVolumeReclaimPolicy": "Retain", "local": { "path": "/mnt/disks/1" },
        "nodeAffinity": { "required": { "nodeSelectorTerms": [{ "matchExpressions": [
            { "key": "kubernetes.io/hostname", "operator": "In", "values": [nodes[2]] }] }] } } } }))
    .expect("volume");
    kube::Api::<PersistentVolume>::all(cluster.client.clone()).create(&pp, &volume).await.expect("volume");
    let claims = kube::Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), "default");
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({ "metadata": { "name": "data" }, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
        "resources": { "requests": { "storage": "5Gi" } } } }))
    .expect("claim");
    claims.create(&pp, &claim).await.expect("claim");
    let volumes = json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "data" } }]);
    cluster.create_pod("db", json!({}), json!({ "volumes": volumes })).await;
    assert_eq!(cluster.running_on("db").await, nodes[2]);
    let bound = claims.get("data").await.expect("claim");
    assert_eq!(bound.spec.and_then(|s| s.volume_name).as_deref(), Some("local-pv"));
    assert_eq!(bound.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    // A second pod for another claim finds no volume left.
    let other: PersistentVolumeClaim = serde_json::from_value(json!({ "metadata": { "name": "more" }, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
        "resources": { "requests": { "storage": "5Gi" } } } }))
    .expect("claim");
    claims.create(&pp, &other).await.expect("claim");
    let volumes = json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "more" } }]);
    cluster.create_pod("db2", json!({}), json!({ "volumes": volumes })).await;
    assert_eq!(
        cluster.unschedulable("db2").await,
        "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
    );
}

#[tokio::test]
async fn required_anti_affinity_spreads_replicas_one_per_node() {
    let mut cluster = Cluster::start().await;
    let trainer = cluster.add_nodes("trainer", 3, template(json!({ "hs-component": "trainer" }), json!([]), "8")).await;
    let anti = json!({ "podAntiAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": [
        { "labelSelector": { "matchLabels": { "app": "trainer" } }, "topologyKey": "kubernetes.io/hostname" }] } });
    let spec = json!({ "nodeSelector": { "hs-component": "trainer" }, "affinity": anti });
    let mut nodes = std::collections::BTreeSet::new();
    for i in 0..3 {
        let name = format!("replica-{i}");
        cluster.create_pod(&name, json!({ "app": "trainer" }), spec.clone()).await;
        nodes.insert(cluster.running_on(&name).await);
    }
    assert_eq!(nodes.len(), 3, "one replica per node: {nodes:?}");
    assert!(nodes.iter().all(|n| trainer.contains(n)));
    cluster.create_pod("replica-3", json!({ "app": "trainer" }), spec).await;
    assert_eq!(
        cluster.unschedulable("replica-3").await,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.."
    );
}

#[tokio::test]
async fn topology_spread_keeps_zones_within_max_skew() {
    let mut cluster = Cluster::start().await;
    let mut zone_of = std::collections::BTreeMap::new();
    for zone in ["a", "b", "c"] {
        let labels = json!({ "topology.kubernetes.io/zone": zone });
        for node in cluster.add_nodes(&format!("zone-{zone}"), 2, template(labels, json!([]), "8")).await {
            zone_of.insert(node, zone);
        }
    }
    let spread = json!([{ "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": { "matchLabels": { "app": "spread" } } }]);
    let mut per_zone = std::collections::BTreeMap::new();
    for i in 0..7 {
        let name = format!("spread-{i}");
        cluster.create_pod(&name, json!({ "app": "spread" }), json!({ "topologySpreadConstraints": spread })).await;
        let node = cluster.running_on(&name).await;
        *per_zone.entry(zone_of[&node]).or_insert(0) += 1;
        let (min, max) = (per_zone.values().min().copied().unwrap_or(0), per_zone.values().max().copied().unwrap_or(0));
        let min = if per_zone.len() < 3 { 0 } else { min };
        assert!(max - min <= 1, "after {} pods the zones hold {per_zone:?}", i + 1);
    }
    let mut counts: Vec<i32> = per_zone.values().copied().collect();
    counts.sort();
    assert_eq!(counts, [2, 2, 3], "7 pods over 3 zones with maxSkew 1");
}

#[tokio::test]
async fn default_spread_constraints_group_pods_by_their_replica_set_or_service() {
    let config = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: PodTopologySpread
    args:
      defaultingType: List
      defaultConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        nodeAffinityPolicy: Ignore
"#;
    let mut cluster = Cluster::start_with(skiff_scheduler::config::parse(config).expect("configuration")).await;
    let nodes = cluster.add_nodes("node", 2, template(json!({}), json!([]), "8")).await;
    let post = PostParams::default();
    let sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), "default");
    let set: ReplicaSet = serde_json::from_value(json!({ "metadata": { "name": "web" }, "spec": {
        "selector": { "matchLabels": { "app": "web" } },
        "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [{ "name": "c", "image": "busybox" }] } } } }))
    .expect("a replica set");
    let set = sets.create(&post, &set).await.expect("create the replica set");
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    let service: Service = serde_json::from_value(
        json!({ "metadata": { "name": "db" }, "spec": { "selector": { "app": "db" }, "ports": [{ "port": 5432 }] } }),
    )
    .expect("a service");
    services.create(&post, &service).await.expect("create the service");

    // Pods pinned to a node (both nodes stay domains: nodeAffinityPolicy Ignore):
    // a second one of the same group there would make the skew 2.
    let pinned = |name: &str, app: &str, node: &str, owned: bool| {
        let owners = match owned {
            true => json!([{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                "uid": set.metadata.uid.clone().unwrap_or_default(), "controller": true }]),
            false => json!([]),
        };
        serde_json::from_value::<Pod>(json!({
            "metadata": { "name": name, "labels": { "app": app }, "ownerReferences": owners },
            "spec": { "nodeSelector": { "kubernetes.io/hostname": node }, "containers": [{ "name": "c", "image": "busybox" }] },
        }))
        .expect("a pod")
    };
    let first = &nodes[0];
    let too_skewed = "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod topology spread constraints.";
    for (group, owned) in [("web", true), ("db", false)] {
        cluster.pods().create(&post, &pinned(&format!("{group}-0"), group, first, owned)).await.expect("create");
        assert_eq!(cluster.running_on(&format!("{group}-0")).await, *first);
        cluster.pods().create(&post, &pinned(&format!("{group}-1"), group, first, owned)).await.expect("create");
        let message = cluster.unschedulable(&format!("{group}-1")).await;
        assert!(message.starts_with(too_skewed), "{group}: {message}");
    }
    // Labelled like them but grouped by neither: no default constraints.
    cluster.pods().create(&post, &pinned("loner", "cache", first, false)).await.expect("create");
    cluster.pods().create(&post, &pinned("loner-2", "cache", first, false)).await.expect("create");
    assert_eq!(cluster.running_on("loner-2").await, *first);
}
