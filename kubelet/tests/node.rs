//! The node agent against the API server in process (memory store), with a
//! fake runtime (tests/fake_runtime) that only reports a version, a status
//! and images: the Node is registered with its labels, taints, capacity,
//! conditions, node info and images; its status follows the runtime; its
//! Lease is renewed; a deleted Node comes back.

mod fake_runtime;

use std::sync::Arc;
use std::time::Duration;

use fake_runtime::FakeRuntime;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, NodeCondition};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_kubelet::KubeletConfig;
use skiff_kubelet::node::{NodeAgent, NodeTimings, parse_taint};
use skiff_kubelet::runtime::api;
use skiff_store::MemoryBackend;

const DEADLINE: Duration = Duration::from_secs(20);

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn image(id: &str, tags: &[&str], digests: &[&str], size: u64) -> api::Image {
    api::Image {
        id: id.into(),
        repo_tags: tags.iter().map(|t| t.to_string()).collect(),
        repo_digests: digests.iter().map(|d| d.to_string()).collect(),
        size,
        ..Default::default()
    }
}

struct Setup {
    client: kube::Client,
    runtime: Arc<FakeRuntime>,
    config: KubeletConfig,
    _dir: tempfile::TempDir,
}

async fn setup(name: &str) -> Setup {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let runtime = Arc::new(FakeRuntime::ready());
    runtime.images.lock().expect("lock").extend([
        image("sha256:small", &["docker.io/library/pause:3.10"], &[], 300_000),
        image("sha256:big", &["docker.io/library/busybox:1.37"], &["docker.io/library/busybox@sha256:abc"], 4_000_000),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = KubeletConfig::new(name, dir.path().join("agent"), runtime.clone());
    config.node_ip = "10.0.0.7".parse().expect("ip");
    config.node_labels = vec![("tier".into(), "edge".into())];
    config.node_taints = vec![parse_taint("dedicated=gpu:NoSchedule").expect("taint")];
    config.pod_cidr = Some("10.42.0.0/24".into());
    config.server_port = 10250;
    // Whatever this machine's disk holds, the node has no disk pressure (1% thresholds, still nonzero).
    config.eviction_hard.nodefs_available = 0.01;
    config.eviction_hard.imagefs_available = 0.01;
    Setup { client: api.client(), runtime, config, _dir: dir }
}

fn condition<'a>(node: &'a Node, type_: &str) -> &'a NodeCondition {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref()).expect("conditions");
    conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

#[tokio::test]
async fn a_registered_node_carries_labels_taints_capacity_conditions_node_info_and_images() {
    let setup = setup("worker-1").await;
    let agent = NodeAgent::new(setup.client.clone(), setup.config.clone());
    let node = agent.register().await.expect("register");

    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/hostname").map(String::as_str), Some("worker-1"));
    assert_eq!(labels.get("kubernetes.io/os").map(String::as_str), Some("linux"));
    assert!(labels.contains_key("kubernetes.io/arch") && labels.contains_key("beta.kubernetes.io/arch"));
    assert_eq!(labels.get("beta.kubernetes.io/os").map(String::as_str), Some("linux"));
    assert_eq!(labels.get("tier").map(String::as_str), Some("edge"));
    let spec = node.spec.clone().unwrap_or_default();
    let taints = spec.taints.unwrap_or_default();
    assert_eq!(
        taints.iter().map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str())).collect::<Vec<_>>(),
        [("dedicated", Some("gpu"), "NoSchedule")]
    );
    assert_eq!(spec.pod_cidr.as_deref(), Some("10.42.0.0/24"));

    let status = node.status.clone().expect("status");
    let capacity = status.capacity.clone().expect("capacity");
    let allocatable = status.allocatable.clone().expect("allocatable");
    for resource in ["cpu", "memory", "ephemeral-storage", "pods", "hugepages-1Gi", "hugepages-2Mi"] {
        assert!(capacity.contains_key(resource) && allocatable.contains_key(resource), "{resource}");
    }
    assert_eq!(capacity["pods"].0, "110");
    assert_eq!(capacity["hugepages-2Mi"].0, "0");
    assert!(capacity["cpu"].0.parse::<u32>().expect("whole cores") >= 1);
    assert_ne!(capacity["memory"], allocatable["memory"], "allocatable keeps 100Mi back");
    assert_ne!(
        capacity["ephemeral-storage"], allocatable["ephemeral-storage"],
        "allocatable keeps the nodefs threshold back"
    );

    let types: Vec<&str> = status.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
    let ready = condition(&node, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref(), ready.message.as_deref()),
        ("True", Some("KubeletReady"), Some("kubelet is posting ready status"))
    );
    assert_eq!(condition(&node, "PIDPressure").reason.as_deref(), Some("KubeletHasSufficientPID"));
    let events: Api<Event> = Api::namespaced(setup.client.clone(), "default");
    let events = events.list(&Default::default()).await.expect("events");
    let mut reasons: Vec<(String, String)> = events
        .items
        .iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("Node"))
        .map(|e| (e.reason.clone().unwrap_or_default(), e.message.clone().unwrap_or_default()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("NodeHasNoDiskPressure".to_owned(), "Node worker-1 status is now: NodeHasNoDiskPressure".to_owned()),
            ("NodeHasSufficientMemory".to_owned(), "Node worker-1 status is now: NodeHasSufficientMemory".to_owned()),
            ("NodeHasSufficientPID".to_owned(), "Node worker-1 status is now: NodeHasSufficientPID".to_owned()),
        ]
    );

    let addresses: Vec<(String, String)> =
        status.addresses.iter().flatten().map(|a| (a.type_.clone(), a.address.clone())).collect();
    assert_eq!(addresses, [("InternalIP".into(), "10.0.0.7".into()), ("Hostname".into(), "worker-1".into())]);
    let endpoint = status.daemon_endpoints.and_then(|d| d.kubelet_endpoint).map(|e| e.port);
    assert_eq!(endpoint, Some(10250));
    let info = status.node_info.expect("node info");
    assert_eq!(info.container_runtime_version, "containerd://1.6.20~ds1");
    assert_eq!(info.kubelet_version, skiff_kubelet::simulated::KUBELET_VERSION);
    assert_eq!(info.operating_system, "linux");
    assert!(!info.kernel_version.is_empty() && !info.boot_id.is_empty());

    let images: Vec<Vec<String>> =
        status.images.iter().flatten().map(|i| i.names.clone().unwrap_or_default()).collect();
    assert_eq!(
        images,
        [
            vec!["docker.io/library/busybox@sha256:abc".to_owned(), "docker.io/library/busybox:1.37".to_owned()],
            vec!["docker.io/library/pause:3.10".to_owned()],
        ],
        "largest first, digests before tags"
    );
}

#[tokio::test]
async fn a_node_whose_runtime_network_is_not_ready_is_not_ready_and_recovers() {
    let setup = setup("worker-2").await;
    setup.runtime.set_network_ready(false);
    let agent = NodeAgent::new(setup.client.clone(), setup.config.clone());
    let node = agent.register().await.expect("register");
    let ready = condition(&node, "Ready").clone();
    let memory_before = condition(&node, "MemoryPressure").last_transition_time.clone();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref(), ready.message.as_deref()),
        (
            "False",
            Some("KubeletNotReady"),
            Some(
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady \
                 message:Network plugin returns error: cni plugin not initialized"
            )
        )
    );

    // Nothing changed: the status is not patched again before the report interval.
    assert!(!agent.sync_status().await.expect("sync"), "an unchanged status is not patched");

    setup.runtime.set_network_ready(true);
    assert!(agent.sync_status().await.expect("sync"), "a changed status is patched");
    let nodes: Api<Node> = Api::all(setup.client.clone());
    let node = nodes.get("worker-2").await.expect("node");
    let now_ready = condition(&node, "Ready");
    assert_eq!((now_ready.status.as_str(), now_ready.reason.as_deref()), ("True", Some("KubeletReady")));
    assert!(now_ready.last_transition_time >= ready.last_transition_time);
    let events: Api<Event> = Api::namespaced(setup.client.clone(), "default");
    let events = events.list(&Default::default()).await.expect("events");
    assert!(
        events.items.iter().any(|e| e.reason.as_deref() == Some("NodeReady")
            && e.message.as_deref() == Some("Node worker-2 status is now: NodeReady")),
        "a NodeReady event"
    );
    assert_eq!(
        condition(&node, "MemoryPressure").last_transition_time,
        memory_before,
        "a condition that did not change keeps its transition time"
    );
}

#[tokio::test]
async fn an_existing_node_keeps_foreign_labels_and_gets_its_own_back() {
    let setup = setup("worker-3").await;
    let nodes: Api<Node> = Api::all(setup.client.clone());
    let agent = NodeAgent::new(setup.client.clone(), setup.config.clone());
    agent.register().await.expect("register");
    let patch = json!({ "metadata": { "labels": { "team": "blue", "tier": "changed", "kubernetes.io/os": "plan9" } } });
    nodes.patch("worker-3", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label");

    let node = NodeAgent::new(setup.client.clone(), setup.config.clone()).register().await.expect("register again");
    let labels = node.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("blue"));
    assert_eq!(labels.get("tier").map(String::as_str), Some("edge"));
    assert_eq!(labels.get("kubernetes.io/os").map(String::as_str), Some("linux"));
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_status_is_reported_again_only_after_five_minutes() {
    let setup = setup("worker-5").await;
    let agent = NodeAgent::new(setup.client.clone(), setup.config.clone());
    agent.register().await.expect("register");
    assert!(!agent.sync_status().await.expect("sync"));
    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(!agent.sync_status().await.expect("sync"), "not yet due");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(agent.sync_status().await.expect("sync"), "due after nodeStatusReportFrequency");
    assert!(!agent.sync_status().await.expect("sync"), "and then not again at once");
}

/// Upstream's timings (10 s) in virtual time.
#[tokio::test(start_paused = true)]
async fn the_running_agent_renews_its_lease_and_registers_a_deleted_node_again() {
    let setup = setup("worker-4").await;
    let agent = NodeAgent::new(setup.client.clone(), setup.config.clone()).with_timings(NodeTimings::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));

    let nodes: Api<Node> = Api::all(setup.client.clone());
    let leases: Api<Lease> = Api::namespaced(setup.client.clone(), "kube-node-lease");
    let node = wait_for("registered", async || nodes.get_opt("worker-4").await.ok().flatten()).await;
    let lease = wait_for("took its lease", async || leases.get_opt("worker-4").await.ok().flatten()).await;
    let spec = lease.spec.clone().expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("worker-4"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = lease.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(
        owner
            .iter()
            .map(|o| (o.api_version.as_str(), o.kind.as_str(), o.name.as_str(), o.uid.clone()))
            .collect::<Vec<_>>(),
        [("v1", "Node", "worker-4", node.metadata.uid.clone().expect("uid"))]
    );
    let first = lease.metadata.resource_version.clone();
    let started = tokio::time::Instant::now();
    wait_for("renewed its lease", async || {
        let lease = leases.get_opt("worker-4").await.ok().flatten()?;
        (lease.metadata.resource_version != first && lease.spec?.renew_time > spec.renew_time).then_some(())
    })
    .await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(12), "renewed after {waited:?}");

    nodes.delete("worker-4", &DeleteParams::default()).await.expect("delete the node");
    let again = wait_for("registered again", async || {
        let again = nodes.get_opt("worker-4").await.ok().flatten()?;
        let has_status = again.status.as_ref().is_some_and(|s| s.conditions.is_some());
        (again.metadata.uid != node.metadata.uid && has_status).then_some(again)
    })
    .await;
    assert_eq!(condition(&again, "Ready").status, "True");
    let labels = again.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("edge"), "registered as before");
    let lease = wait_for("the lease owned by the new node", async || {
        let lease = leases.get_opt("worker-4").await.ok().flatten()?;
        let owners = lease.metadata.owner_references.clone().unwrap_or_default();
        (owners.len() == 1 && owners[0].uid == again.metadata.uid.clone().unwrap_or_default()).then_some(lease)
    })
    .await;
    assert_eq!(lease.spec.and_then(|s| s.holder_identity).as_deref(), Some("worker-4"));

    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, running).await.expect("stops on shutdown").expect("no panic");
}
