//! /stats/summary and /metrics/resource from a fake runtime's sandboxes,
//! containers and container stats (tests/fake_runtime stands in for the
//! runtime only to report them).

mod fake_runtime;

use std::sync::Arc;

use fake_runtime::FakeRuntime;
use skiff_kubelet::KubeletConfig;
use skiff_kubelet::runtime::{api, labels};
use skiff_kubelet::stats::{self, StatsContext};

const SECOND: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SECOND;

fn u64v(value: u64) -> Option<api::UInt64Value> {
    Some(api::UInt64Value { value })
}

fn pod_labels(name: &str, uid: &str) -> std::collections::HashMap<String, String> {
    [(labels::POD_NAME, name), (labels::POD_NAMESPACE, "default"), (labels::POD_UID, uid)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn stats_at(id: &str, at: i64, cpu_ns: u64, working_set: u64) -> api::ContainerStats {
    api::ContainerStats {
        attributes: Some(api::ContainerAttributes { id: id.into(), ..Default::default() }),
        cpu: Some(api::CpuUsage { timestamp: at, usage_core_nano_seconds: u64v(cpu_ns), usage_nano_cores: None }),
        memory: Some(api::MemoryUsage {
            timestamp: at,
            working_set_bytes: u64v(working_set),
            available_bytes: None,
            usage_bytes: u64v(working_set + 100),
            rss_bytes: u64v(working_set / 2),
            page_faults: u64v(7),
            major_page_faults: u64v(1),
        }),
        writable_layer: Some(api::FilesystemUsage {
            timestamp: at,
            fs_id: Some(api::FilesystemIdentifier { mountpoint: "/".into() }),
            used_bytes: u64v(8192),
            inodes_used: u64v(4),
        }),
        swap: None,
    }
}

fn runtime() -> Arc<FakeRuntime> {
    let runtime = Arc::new(FakeRuntime::ready());
    let mut pod = pod_labels("web", "uid-1");
    *runtime.sandboxes.lock().expect("lock") = vec![
        api::PodSandbox {
            id: "sandbox-1".into(),
            metadata: Some(api::PodSandboxMetadata {
                name: "web".into(),
                uid: "uid-1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            state: 0,
            created_at: T0,
            labels: pod.clone(),
            ..Default::default()
        },
        // A stopped sandbox is not a pod any more.
        api::PodSandbox { id: "sandbox-old".into(), state: 1, created_at: T0 - SECOND, ..Default::default() },
    ];
    pod.insert(labels::CONTAINER_NAME.into(), "app".into());
    let container = |id: &str, state: i32| api::Container {
        id: id.into(),
        pod_sandbox_id: "sandbox-1".into(),
        metadata: Some(api::ContainerMetadata { name: "app".into(), attempt: 0 }),
        state,
        created_at: T0 + SECOND,
        labels: pod.clone(),
        ..Default::default()
    };
    *runtime.containers.lock().expect("lock") = vec![container("app-1", 1), container("app-0", 2)];
    *runtime.stats.lock().expect("lock") = vec![stats_at("app-1", T0 + 10 * SECOND, 2 * SECOND as u64, 4096)];
    runtime
}

#[tokio::test]
async fn the_summary_has_upstreams_shape_and_rates_from_two_samples() {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = KubeletConfig::new("worker-1", dir.path().join("agent"), runtime.clone());
    let log_dir = config.pod_log_dir("default", "web", "uid-1").join("app");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    std::fs::write(log_dir.join("0.log"), vec![b'x'; 10_000]).expect("log");
    let context = StatsContext::new(config);

    let first = stats::summary(runtime.as_ref(), &context).await.expect("summary");
    let node = &first["node"];
    assert_eq!(node["nodeName"], "worker-1");
    assert!(node["startTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    for key in ["time", "usageCoreNanoSeconds"] {
        assert!(!node["cpu"][key].is_null(), "node.cpu.{key}");
    }
    for key in ["time", "availableBytes", "usageBytes", "workingSetBytes", "rssBytes", "pageFaults", "majorPageFaults"]
    {
        assert!(!node["memory"][key].is_null(), "node.memory.{key}");
    }
    for key in ["availableBytes", "capacityBytes", "usedBytes", "inodesFree", "inodes", "inodesUsed"] {
        assert!(node["fs"][key].as_u64().is_some(), "node.fs.{key}");
    }
    assert_eq!(node["runtime"]["imageFs"]["usedBytes"], 4096);
    assert!(node["rlimit"]["maxpid"].as_u64().is_some_and(|m| m > 0));

    let pods = first["pods"].as_array().expect("pods");
    assert_eq!(pods.len(), 1, "only the ready sandbox is a pod");
    let pod = &pods[0];
    assert_eq!(pod["podRef"], serde_json::json!({ "name": "web", "namespace": "default", "uid": "uid-1" }));
    assert_eq!(pod["startTime"], "2023-11-14T22:13:20Z");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "only running containers");
    let app = &containers[0];
    assert_eq!((app["name"].as_str(), app["startTime"].as_str()), (Some("app"), Some("2023-11-14T22:13:21Z")));
    assert_eq!(app["cpu"]["usageCoreNanoSeconds"], 2 * SECOND);
    assert!(app["cpu"].get("usageNanoCores").is_none(), "no rate from one sample");
    assert_eq!(app["memory"]["workingSetBytes"], 4096);
    assert_eq!(app["rootfs"]["usedBytes"], 8192);
    assert!(app["logs"]["usedBytes"].as_u64().is_some_and(|used| used >= 10_000), "{}", app["logs"]);
    assert_eq!(pod["memory"]["workingSetBytes"], 4096);
    assert!(pod["ephemeral-storage"]["usedBytes"].as_u64().is_some_and(|used| used >= 18_192));

    // Half a core over the next 10 s.
    *runtime.stats.lock().expect("lock") = vec![stats_at("app-1", T0 + 20 * SECOND, 7 * SECOND as u64, 4096)];
    let second = stats::summary(runtime.as_ref(), &context).await.expect("summary");
    assert_eq!(second["pods"][0]["containers"][0]["cpu"]["usageNanoCores"], 500_000_000);
    assert_eq!(second["pods"][0]["cpu"]["usageNanoCores"], 500_000_000);
    assert!(second["node"]["cpu"]["usageNanoCores"].as_u64().is_some(), "the node's rate from two samples");

    let metrics = stats::resource_metrics(runtime.as_ref(), &context).await;
    assert!(
        metrics.contains("container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"} 7 "),
        "{metrics}"
    );
    assert!(metrics.contains("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 4096 "), "{metrics}");
    assert!(metrics.contains("\nnode_memory_working_set_bytes "), "{metrics}");
    assert!(metrics.ends_with("resource_scrape_error 0\n"), "{metrics}");
}
