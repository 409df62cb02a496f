//! Simulated nodes on a live API server (memory store): pods told to exit
//! finish or restart as their restart policy says, and each node keeps a Lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_kubelet::simulated::{self, EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, SimulatedNodes};
use skiff_store::MemoryBackend;

const DEADLINE: Duration = Duration::from_secs(20);

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pod(name: &str, node: &str, restart_policy: &str, exit_code: Option<&str>) -> Pod {
    let annotations = match exit_code {
        Some(code) => json!({ EXIT_CODE_ANNOTATION: code, RUN_SECONDS_ANNOTATION: "0.05" }),
        None => json!({}),
    };
    serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "nodeName": node, "restartPolicy": restart_policy, "containers": [{ "name": "c", "image": "busybox" }] },
    }))
    .expect("a pod")
}

#[tokio::test]
async fn pods_told_to_exit_finish_or_restart_and_nodes_keep_leases() {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = api.client();
    let nodes = SimulatedNodes::new(client.clone(), "sim", 1, simulated::default_template());
    let node = nodes.names()[0].clone();
    let running = tokio::spawn(nodes.run(std::future::pending()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let post = PostParams::default();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = wait_for("renewed its lease", async || leases.get_opt(&node).await.ok().flatten()).await;
    let spec = lease.spec.expect("a lease spec");
    assert_eq!((spec.holder_identity.as_deref(), spec.lease_duration_seconds), (Some(node.as_str()), Some(40)));
    assert!(spec.renew_time.is_some());

    for (name, policy, code) in [
        ("ok", "Never", Some("0")),
        ("bad", "Never", Some("3")),
        ("retry", "OnFailure", Some("1")),
        ("serve", "Always", None),
    ] {
        pods.create(&post, &pod(name, &node, policy, code)).await.expect("create");
    }
    let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let exit_code = |p: &Pod| {
        let statuses = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        statuses[0].state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code)
    };
    for (name, want_phase, want_code) in [("ok", "Succeeded", 0), ("bad", "Failed", 3)] {
        let done = wait_for("finished", async || pods.get(name).await.ok().filter(|p| phase(p) == want_phase)).await;
        assert_eq!(exit_code(&done), Some(want_code), "{name}");
    }
    let restarted = wait_for("restarted twice", async || {
        let p = pods.get("retry").await.ok()?;
        let count = p.status.as_ref()?.container_statuses.as_ref()?.first()?.restart_count;
        (count >= 2).then_some(p)
    })
    .await;
    assert_eq!(phase(&restarted), "Running", "OnFailure with a failing container keeps restarting");
    wait_for("ran", async || pods.get("serve").await.ok().filter(|p| phase(p) == "Running")).await;
    running.abort();
}
