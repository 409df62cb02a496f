//! Simulated nodes on a live API server (memory store): pods told to exit
//! finish or restart as their restart policy says, and each node keeps a Lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_kubelet::pod::PodManagerConfig;
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

/// The API server with what its controllers would have made for pods' token volumes: the
/// default ServiceAccount and the `kube-root-ca.crt` ConfigMap.
async fn start_api() -> (ApiServer, kube::Client) {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = api.client();
    let post = PostParams::default();
    let account = serde_json::from_value(json!({ "metadata": { "name": "default" } })).expect("an account");
    Api::<ServiceAccount>::namespaced(client.clone(), "default").create(&post, &account).await.expect("account");
    let ca = json!({ "metadata": { "name": "kube-root-ca.crt" }, "data": { "ca.crt": "-----BEGIN CERTIFICATE-----" } });
    let ca = serde_json::from_value(ca).expect("a config map");
    Api::<ConfigMap>::namespaced(client.clone(), "default").create(&post, &ca).await.expect("config map");
    (api, client)
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
    let (_api, client) = start_api().await;
    // A short restart back-off, so that the OnFailure pod restarts twice well within the deadline.
    let backoff = PodManagerConfig::default().crash_backoff(Duration::from_millis(100), Duration::from_millis(200));
    let nodes = SimulatedNodes::new(client.clone(), "sim", 1, simulated::default_template()).with_pod_options(backoff);
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

/// The real pod workers run on simulated nodes: addresses from the node's ranges, network probes
/// answered by the simulated runtime (nothing is sent), graceful deletion removing the pod.
#[tokio::test]
async fn pods_on_simulated_nodes_are_probed_and_deleted_as_on_real_nodes() {
    let (_api, client) = start_api().await;
    let nodes = SimulatedNodes::new(client.clone(), "probed", 2, simulated::default_template());
    let node = nodes.names()[1].clone();
    let running = tokio::spawn(nodes.run(std::future::pending()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let probed = |name: &str, annotations: serde_json::Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": { "name": name, "annotations": annotations },
            "spec": { "nodeName": node, "terminationGracePeriodSeconds": 5, "containers": [{
                "name": "web", "image": "busybox", "ports": [{ "name": "http", "containerPort": 8080 }],
                "readinessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 1 },
            }] },
        }))
        .expect("a pod")
    };
    let post = PostParams::default();
    pods.create(&post, &probed("ready", json!({}))).await.expect("create");
    pods.create(&post, &probed("unready", json!({ "simulation.skiff.dev/exec-exit-code": "1" })))
        .await
        .expect("create");
    let ready = |p: &Pod| {
        p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
    };
    let pod = wait_for("ready", async || pods.get("ready").await.ok().filter(|p| ready(p))).await;
    let status = pod.status.expect("a status");
    assert_eq!(status.host_ip.as_deref(), Some("127.44.0.2"), "the second node's loopback address");
    let pod_ip = status.pod_ip.expect("a pod IP");
    assert!(pod_ip.starts_with("10.64.1."), "{pod_ip} is in the second node's /24");
    let unready = wait_for("failed its probe", async || {
        let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("Unhealthy"))
    })
    .await;
    assert_eq!(unready.involved_object.name.as_deref(), Some("unready"));
    assert!(!ready(&pods.get("unready").await.expect("get")), "a failing readiness probe keeps the pod unready");

    pods.delete("ready", &Default::default()).await.expect("delete");
    wait_for("removed by its kubelet", async || pods.get_opt("ready").await.ok().filter(Option::is_none)).await;
    running.abort();
}
