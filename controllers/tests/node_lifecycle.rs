//! The node lifecycle controller on a live cluster, with a short grace
//! period: a node whose Lease and status stop being renewed turns Unknown
//! and is tainted unreachable; its pods are marked not ready and evicted
//! as their tolerations say; the taints go when the node comes back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_controllers::node_lifecycle::{self, Config};
use skiff_controllers::{Context, SystemClock};

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Registers a node, Ready now, with its Lease renewed now.
async fn register(client: &kube::Client, name: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("node");
    nodes.create(&PostParams::default(), &node).await.expect("create the node");
    post_ready(client, name).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now() },
    }))
    .expect("lease");
    leases.create(&PostParams::default(), &lease).await.expect("create the lease");
}

/// Posts Ready=True with a fresh heartbeat, as a kubelet does.
async fn post_ready(client: &kube::Client, name: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let at = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let status = json!({ "status": { "conditions": [
        { "type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": at, "lastTransitionTime": at },
        { "type": "MemoryPressure", "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": at },
        { "type": "DiskPressure", "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": at },
        { "type": "PIDPressure", "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": at }] } });
    nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("post the node's status");
}

async fn renew(client: &kube::Client, name: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let patch = json!({ "spec": { "renewTime": now() } });
    let _ = leases.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await;
}

/// A pod bound to `node`, running and ready, with these tolerations.
async fn running_pod(client: &kube::Client, name: &str, node: &str, tolerations: Value) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "nodeName": node, "tolerations": tolerations, "containers": [{ "name": "c", "image": "busybox" }] },
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create the pod");
    let status = json!({ "status": { "phase": "Running", "podIP": "10.42.0.9", "conditions": [
        { "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z" }] } });
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("run the pod");
}

fn taints(node: &Node) -> Vec<(String, String)> {
    let mut taints: Vec<_> =
        node.spec.iter().flat_map(|s| s.taints.iter().flatten()).map(|t| (t.key.clone(), t.effect.clone())).collect();
    taints.sort();
    taints
}

fn condition(pod: &Pod, type_: &str) -> Option<(String, Option<String>)> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.reason.clone()))
}

/// Whether the pod was evicted: gone, or being deleted.
async fn evicted(pods: &Api<Pod>, name: &str) -> Option<Option<Pod>> {
    match pods.get_opt(name).await.ok()? {
        None => Some(None),
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => Some(Some(pod)),
        Some(_) => None,
    }
}

#[tokio::test]
async fn a_node_whose_lease_expires_is_tainted_and_its_pods_evicted_as_they_tolerate() {
    let cluster = Cluster::start(&[], 0).await;
    let client = cluster.client.clone();
    register(&client, "lost").await;
    register(&client, "alive").await;
    let unreachable = |seconds: Value| {
        json!([{ "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": seconds }])
    };
    // (Admission gives pods without their own a 300 s toleration: "doomed" says 0 s.)
    running_pod(&client, "doomed", "lost", unreachable(json!(0))).await;
    running_pod(&client, "defaulted", "lost", json!([])).await;
    running_pod(&client, "patient", "lost", unreachable(json!(2))).await;
    running_pod(&client, "loyal", "lost", unreachable(Value::Null)).await;
    running_pod(&client, "resident", "alive", json!([])).await;

    // The alive node's kubelet keeps renewing its Lease; the lost one's stopped.
    let heartbeat = tokio::spawn({
        let client = client.clone();
        async move {
            loop {
                renew(&client, "alive").await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    let config = Config::default()
        .node_monitor_grace_period(Duration::from_secs(2))
        .node_monitor_period(Duration::from_millis(200));
    let context = Context { client: client.clone(), clock: Arc::new(SystemClock), root_ca: None };
    let controller = tokio::spawn(node_lifecycle::start_with(context, config));

    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lost = wait_for("the lost node Unknown and tainted unreachable", async || {
        let node = nodes.get("lost").await.ok()?;
        let want = [("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")];
        let want: Vec<(String, String)> = want.iter().map(|(k, e)| ((*k).to_owned(), (*e).to_owned())).collect();
        (taints(&node) == want).then_some(node)
    })
    .await;
    let ready = lost.status.iter().flat_map(|s| s.conditions.iter().flatten()).find(|c| c.type_ == "Ready");
    let ready = ready.expect("a Ready condition");
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));

    let doomed = wait_for("the pod tolerating for 0 s evicted", async || evicted(&pods, "doomed").await).await;
    // No kubelet finishes the deletion: the pod stays, being deleted, with its condition.
    let doomed = doomed.expect("the pod being deleted");
    assert_eq!(
        condition(&doomed, "DisruptionTarget"),
        Some(("True".to_owned(), Some("DeletionByTaintManager".to_owned())))
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for("the eviction and not-ready events", async || {
        let all = events.list(&Default::default()).await.ok()?.items;
        let has = |reason: &str, name: &str, message: &str| {
            all.iter().any(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.involved_object.name.as_deref() == Some(name)
                    && e.message.as_deref() == Some(message)
            })
        };
        (has("TaintManagerEviction", "doomed", "Marking for deletion Pod default/doomed")
            && has("NodeNotReady", "loyal", "Node is not ready")
            && has("NodeNotReady", "lost", "Node lost status is now: NodeNotReady"))
        .then_some(())
    })
    .await;
    let loyal = pods.get("loyal").await.expect("the pod tolerating forever");
    assert_eq!(condition(&loyal, "Ready").map(|c| c.0), Some("False".to_owned()), "marked not ready");
    assert!(loyal.metadata.deletion_timestamp.is_none());
    let patient = pods.get("patient").await.expect("the pod tolerating for 2 s");
    assert!(patient.metadata.deletion_timestamp.is_none(), "evicted before its toleration ran out");
    wait_for("the pod tolerating 2 s evicted after them", async || evicted(&pods, "patient").await).await;

    let loyal = pods.get("loyal").await.expect("the pod tolerating forever");
    assert!(loyal.metadata.deletion_timestamp.is_none(), "a pod tolerating forever stays");
    let defaulted = pods.get("defaulted").await.expect("the pod with the default tolerations");
    assert!(defaulted.metadata.deletion_timestamp.is_none(), "a pod with the default 300 s stays for now");
    let resident = pods.get("resident").await.expect("the pod on the alive node");
    assert!(resident.metadata.deletion_timestamp.is_none());
    assert_eq!(condition(&resident, "Ready").map(|c| c.0), Some("True".to_owned()));
    assert!(taints(&nodes.get("alive").await.expect("alive")).is_empty());

    // The kubelet comes back: the taints go.
    renew(&client, "lost").await;
    post_ready(&client, "lost").await;
    wait_for("the lost node's taints lifted", async || taints(&nodes.get("lost").await.ok()?).is_empty().then_some(()))
        .await;
    heartbeat.abort();
    controller.abort();
}
