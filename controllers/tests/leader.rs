//! Leader election: two controller managers on one API server run the
//! controllers once; when the leader stops (cleanly or not), another takes over.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Cluster, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;
use skiff_controllers::ControllerManager;
use skiff_controllers::leader::Timings;
use tokio::sync::oneshot;

const FAST: Timings = Timings {
    lease_duration: Duration::from_millis(1500),
    renew_deadline: Duration::from_millis(1000),
    retry_period: Duration::from_millis(100),
};

fn candidate(cluster: &Cluster, identity: &str) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
    let manager =
        ControllerManager::new(cluster.client.clone()).only(&["replicaset"]).with_leader_election(identity, FAST);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(manager.run(async move {
        let _ = stopped.await;
    }));
    (task, stop)
}

async fn ready(cluster: &Cluster, n: i32) {
    let sets = cluster.api::<ReplicaSet>("default");
    wait_for(&format!("{n} ready replicas"), async || {
        let set = sets.get("led").await.ok()?;
        (set.status?.ready_replicas == Some(n)).then_some(())
    })
    .await;
}

async fn holder(cluster: &Cluster, want: &str) -> Lease {
    let leases = cluster.api::<Lease>("kube-system");
    wait_for(&format!("{want} holds the lease"), async || {
        let lease = leases.get_opt("kube-controller-manager").await.ok()??;
        let held = lease.spec.as_ref()?.holder_identity.as_deref() == Some(want);
        held.then_some(lease)
    })
    .await
}

#[tokio::test]
async fn one_leader_runs_the_controllers_and_another_takes_over() {
    let cluster = Cluster::start(&[], 2).await;
    let (a, stop_a) = candidate(&cluster, "a");
    holder(&cluster, "a").await;
    let (b, _stop_b) = candidate(&cluster, "b");

    // Every pod ever created for the set: two managers must not both create.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let watch = {
        let (seen, pods) = (Arc::clone(&seen), cluster.api::<Pod>("default"));
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(pods, watcher::Config::default().labels("app=led")));
            while let Some(Ok(event)) = events.next().await {
                if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event {
                    seen.lock().expect("lock").insert(pod.name_any());
                }
            }
        })
    };
    let set = json!({ "metadata": { "name": "led" }, "spec": { "replicas": 6,
        "selector": { "matchLabels": { "app": "led" } },
        "template": { "metadata": { "labels": { "app": "led" } }, "spec": { "containers": [{ "name": "c", "image": "busybox" }] } } } });
    let _: ReplicaSet = cluster.create(Some("default"), set).await;
    let sets = cluster.api::<ReplicaSet>("default");
    ready(&cluster, 6).await;
    assert_eq!(holder(&cluster, "a").await.spec.and_then(|s| s.lease_transitions), Some(0));

    // A clean stop gives the lease up: b takes over and runs the controllers.
    let _ = stop_a.send(());
    a.await.expect("a stopped");
    let lease = holder(&cluster, "b").await;
    assert_eq!(lease.spec.and_then(|s| s.lease_transitions), Some(1));
    sets.patch("led", &PatchParams::default(), &Patch::Merge(&json!({ "spec": { "replicas": 8 } })))
        .await
        .expect("scale");
    ready(&cluster, 8).await;

    // A crashed leader (no release): c waits for the lease to expire, then leads.
    let (_c, _stop_c) = candidate(&cluster, "c");
    b.abort();
    holder(&cluster, "c").await;
    sets.patch("led", &PatchParams::default(), &Patch::Merge(&json!({ "spec": { "replicas": 9 } })))
        .await
        .expect("scale");
    ready(&cluster, 9).await;
    watch.abort();
    assert_eq!(seen.lock().expect("lock").len(), 9, "each pod was created once");
}
