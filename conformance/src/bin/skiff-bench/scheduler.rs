//! `skiff-bench scheduler`: scheduler_perf's workloads against skiff's own
//! API server in this process — 5,000 nodes, 10,000 pods (plain, required
//! node affinity, required pod anti-affinity by hostname, required pod
//! affinity by zone, topology spread over 3 zones) — with pods/s, the p99
//! of a scheduling attempt and the process's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_scheduler::profile::Profile;
use skiff_scheduler::{AttemptLog, Scheduler};

/// Upstream's scheduler_perf floors at 5,000 nodes (pods/s), for the ratio column.
const WORKLOADS: &[(&str, f64)] = &[
    ("plain", 680.0),
    ("node affinity", 220.0),
    ("pod anti-affinity (hostname)", 60.0),
    ("pod affinity (zone)", 35.0),
    ("topology spread (3 zones)", 200.0),
];

/// One workload's figures.
struct Figures {
    scheduled: usize,
    pods_per_second: f64,
    p99_attempt_ms: f64,
    rss_mb: f64,
}

/// Where the API server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In this process, as upstream's scheduler_perf runs it (for throughput).
    InProcess,
    /// `skiff server --disable-scheduler` in its own process, reached over HTTPS,
    /// so this process's memory is the scheduler's own.
    Separate,
}

fn node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": {
            "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
            "affinity-group": (i % 10).to_string(),
        } },
        "status": {
            "capacity": { "cpu": "32", "memory": "256Gi", "pods": "110" },
            "allocatable": { "cpu": "32", "memory": "256Gi", "pods": "110" },
            "conditions": [{ "type": "Ready", "status": "True" }],
        },
    }))
    .unwrap_or_default()
}

/// Pod `i` of a workload.
fn pod(workload: &str, i: usize) -> Pod {
    let group = format!("g{}", i % 10);
    let container = json!([{ "name": "c", "image": "registry.invalid/pause:3.10",
        "resources": { "requests": { "cpu": "100m", "memory": "100Mi" } } }]);
    let term = |key: &str| json!({ "labelSelector": { "matchLabels": { "group": group } }, "topologyKey": key });
    let spec: Value = match workload {
        "node affinity" => json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "affinity-group", "operator": "In", "values": ["0", "1", "2", "3", "4"] }] }] } } } }),
        "pod anti-affinity (hostname)" => json!({ "affinity": { "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname")] } } }),
        "pod affinity (zone)" => json!({ "affinity": { "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("topology.kubernetes.io/zone")] } } }),
        "topology spread (3 zones)" => json!({ "topologySpreadConstraints": [{ "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": { "matchLabels": { "group": group } } }] }),
        _ => json!({}),
    };
    let mut spec = spec;
    spec["containers"] = container;
    serde_json::from_value(json!({
        "metadata": { "name": format!("pod-{i:05}"), "namespace": "default", "labels": { "group": group } },
        "spec": spec,
    }))
    .unwrap_or_default()
}

/// Creates objects from `make(i)` for i in 0..count with `clients` concurrent tasks.
async fn create_all<K, F>(api: Api<K>, count: usize, clients: usize, make: F) -> Result<()>
where
    K: kube::Resource
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (api, make) = (api.clone(), Arc::clone(&make));
        tasks.push(tokio::spawn(async move {
            let mut i = client;
            while i < count {
                api.create(&PostParams::default(), &make(i)).await?;
                i += clients;
            }
            Ok::<_, kube::Error>(())
        }));
    }
    for task in tasks {
        task.await.context("a creating task panicked")??;
    }
    Ok(())
}

/// The figures of a process's memory from /proc: (current RSS, peak RSS) in MB.
fn memory_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Waits until `count` pods are bound, watching them; returns how many were.
async fn wait_bound(pods: Api<Pod>, count: usize, deadline: Instant) -> usize {
    let mut bound = std::collections::HashSet::new();
    let mut events = std::pin::pin!(kube::runtime::watcher(pods, kube::runtime::watcher::Config::default()));
    while bound.len() < count {
        let next = tokio::time::timeout_at(deadline.into(), futures::StreamExt::next(&mut events)).await;
        match next {
            Ok(Some(Ok(kube::runtime::watcher::Event::Apply(pod) | kube::runtime::watcher::Event::InitApply(pod)))) => {
                if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    bound.insert(pod.metadata.name.unwrap_or_default());
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    bound.len()
}

async fn run_workload(
    name: &str,
    nodes: usize,
    pods: usize,
    timeout: Duration,
    placement: Placement,
) -> Result<Figures> {
    let workload = name.to_owned();
    if placement == Placement::Separate {
        // skiff server and `skiff scheduler` as their own processes: the scheduler's memory is its process's.
        let skiff = std::env::current_exe()?.with_file_name("skiff");
        let cluster = skiff_conformance::Cluster::start(&skiff, &["--disable-scheduler"])?;
        let client = super::client(&cluster).await?;
        create_all(Api::<Node>::all(client.clone()), nodes, 16, node).await.context("creating nodes")?;
        let mut scheduler = std::process::Command::new(&skiff)
            .args(["scheduler", "--kubeconfig"])
            .arg(cluster.kubeconfig())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting skiff scheduler")?;
        let started = Instant::now();
        let pod_api = Api::<Pod>::namespaced(client, "default");
        create_all(pod_api.clone(), pods, 16, move |i| pod(&workload, i)).await.context("creating pods")?;
        let scheduled = wait_bound(pod_api, pods, started + timeout).await;
        let elapsed = started.elapsed();
        let (_, peak) = memory_mb(&scheduler.id().to_string());
        let _ = scheduler.kill();
        let _ = scheduler.wait();
        return Ok(Figures {
            scheduled,
            pods_per_second: scheduled as f64 / elapsed.as_secs_f64(),
            p99_attempt_ms: 0.0,
            rss_mb: peak,
        });
    }
    let dir = tempfile::tempdir().context("a data dir")?;
    let store = skiff_store::open(&skiff_store::Datastore::default_in(dir.path())).await?;
    let api = ApiServer::start(store).await.map_err(|e| anyhow::anyhow!("starting the API server: {}", e.message))?;
    let client = api.client();
    create_all(Api::<Node>::all(client.clone()), nodes, 16, node).await.context("creating nodes")?;
    let log = Arc::new(AttemptLog::default());
    let scheduler = Scheduler::new(client.clone(), vec![Profile::default_profile()]).with_attempt_log(Arc::clone(&log));
    let scheduling = tokio::spawn(scheduler.run(std::future::pending()));

    let started = Instant::now();
    create_all(Api::<Pod>::namespaced(client, "default"), pods, 16, move |i| pod(&workload, i))
        .await
        .context("creating pods")?;
    let deadline = started + timeout;
    while log.bound() < pods && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let scheduled = log.bound();
    let (rss, _) = memory_mb("self");
    scheduling.abort();
    let mut attempts = log.take();
    attempts.sort();
    let p99 = attempts.get(attempts.len().saturating_sub(1) * 99 / 100).copied().unwrap_or_default();
    Ok(Figures {
        scheduled,
        pods_per_second: scheduled as f64 / elapsed.as_secs_f64(),
        p99_attempt_ms: p99.as_secs_f64() * 1000.0,
        rss_mb: rss,
    })
}

/// One workload in this process (`skiff-bench scheduler --child NAME`): prints its figures as one JSON line.
pub async fn run_child(name: &str, nodes: usize, pods: usize, timeout: Duration, placement: Placement) -> Result<()> {
    if !WORKLOADS.iter().any(|(n, _)| *n == name) {
        bail!("no workload {name:?}");
    }
    let f = run_workload(name, nodes, pods, timeout, placement).await?;
    println!(
        "{}",
        json!({ "scheduled": f.scheduled, "pods_per_second": f.pods_per_second, "p99_attempt_ms": f.p99_attempt_ms, "rss_mb": f.rss_mb })
    );
    Ok(())
}

/// Runs `skiff-bench scheduler --child` in a fresh process (so that each figure of memory is its own).
fn child(name: &str, nodes: usize, pods: usize, timeout: Duration, placement: Placement) -> Result<Value> {
    let exe = std::env::current_exe().context("locating skiff-bench")?;
    let mut command = std::process::Command::new(exe);
    command.args(["scheduler", "--child", name, "--nodes", &nodes.to_string(), "--pods", &pods.to_string()]);
    command.args(["--timeout", &timeout.as_secs().to_string()]);
    if placement == Placement::Separate {
        command.arg("--separate-api-server");
    }
    let output = command.stderr(std::process::Stdio::inherit()).output().context("running a workload")?;
    if !output.status.success() {
        bail!("workload {name} failed");
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("reading the figures of {name}: {text}"))
}

/// Runs the workloads (all, or those whose name contains `only`), each in its own process, and prints the table.
pub async fn run(nodes: usize, pods: usize, only: Option<String>, timeout: Duration) -> Result<()> {
    let mut rows = Vec::new();
    for (name, floor) in WORKLOADS {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        eprintln!("workload {name}: {nodes} nodes, {pods} pods ...");
        let in_process = child(name, nodes, pods, timeout, Placement::InProcess)?;
        let separate = child(name, nodes, pods, timeout, Placement::Separate)?;
        let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        rows.push((name, floor, in_process, number(&separate, "rss_mb"), number(&separate, "pods_per_second")));
    }
    if rows.is_empty() {
        bail!("no workload matches");
    }
    println!(
        "| workload ({nodes} nodes, {pods} pods) | scheduled | pods/s | x upstream floor | p99 attempt | `skiff scheduler` peak RSS | its pods/s over HTTPS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, floor, f, scheduler_mb, https_rate) in rows {
        let number = |key: &str| f.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        println!(
            "| {name} | {} | {:.0} | {:.1}x | {:.2} ms | {:.0} MB | {:.0} |",
            number("scheduled"),
            number("pods_per_second"),
            number("pods_per_second") / floor,
            number("p99_attempt_ms"),
            scheduler_mb,
            https_rate
        );
    }
    Ok(())
}
