//! `skiff-bench api`: load on a live `skiff server` over HTTPS — GET, LIST
//! of 100 and 1,000 pods (the latter at resourceVersion 0, from the watch
//! cache) and CREATE from concurrent clients — with requests/s and p50/p99,
//! SQLite and etcd side by side, plus cold start to /readyz and idle RSS.
//! `skiff-bench scheduler`: see scheduler.rs. `skiff-bench kubelet`: see kubelet.rs.

mod controllers;
mod kubelet;
mod scheduler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use skiff_conformance::Cluster;
use skiff_store::testing::EtcdServer;

#[derive(Debug, Parser)]
#[command(name = "skiff-bench")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// API server throughput and latency, cold start and idle memory.
    Api {
        /// The skiff binary (default: `skiff` next to this one).
        #[arg(long)]
        skiff: Option<PathBuf>,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// A Deployment of 1,000 replicas on simulated nodes: time to available, a rolling
    /// update, and the controller manager's CPU time and memory.
    Controllers {
        #[arg(long, default_value_t = 1000)]
        replicas: i32,
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        /// Give up after this many seconds (per phase).
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Pod start latency on real containerd (skiff server + skiff agent) beside the bare CRI
    /// sequence, and the agent's RSS with 30 pods running. Needs root and containerd.
    Kubelet {
        #[arg(long, default_value_t = 100)]
        pods: usize,
        /// Give up on a pod after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Scheduler throughput on scheduler_perf's workloads, in this process.
    Scheduler {
        #[arg(long, default_value_t = 5000)]
        nodes: usize,
        #[arg(long, default_value_t = 10000)]
        pods: usize,
        /// Only workloads whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Give up on a workload after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Internal: run this one workload here and print its figures as JSON.
        #[arg(long, hide = true)]
        child: Option<String>,
        /// Internal (with --child): the API server as its own process, reached over HTTPS.
        #[arg(long, hide = true)]
        separate_api_server: bool,
    },
}

/// One operation's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One backend's figures.
#[derive(Debug, Default)]
struct Figures {
    cold_start_ms: f64,
    idle_rss_mb: f64,
    loads: Vec<(&'static str, Load)>,
    store_lists_during_cached_list: u64,
}

async fn client(cluster: &Cluster) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).context("reading the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs `op` from `clients` concurrent tasks for `run`; every call's latency is kept.
async fn load<F, Fut>(clients: usize, run: Duration, op: F) -> Result<Load>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + run;
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let began = Instant::now();
                    op(c, i).await?;
                    latencies.push(began.elapsed());
                    i += 1;
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all.get(((all.len() as f64 - 1.0) * q) as usize).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(Load { per_second: all.len() as f64 / elapsed, p50_ms: at(0.50), p99_ms: at(0.99) })
}

async fn store_lists(client: &kube::Client) -> Result<u64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("etcd_request_duration_seconds_count{operation=\"list\",type=\"pods\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn pod(name: &str) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app": "bench" } },
        "spec": { "containers": [{ "name": "app", "image": "busybox:1.36" }] },
    }))?)
}

async fn measure(skiff: &std::path::Path, datastore: Option<&str>, clients: usize, run: Duration) -> Result<Figures> {
    let mut figures = Figures::default();
    let extra: Vec<&str> = datastore.map(|d| vec!["--datastore-endpoint", d]).unwrap_or_default();
    let started = Instant::now();
    let cluster = Cluster::start(skiff, &extra)?;
    let api = client(&cluster).await?;
    loop {
        let ready = api.request_text(http::Request::get("/readyz").body(Vec::new())?).await;
        if ready.is_ok_and(|body| body.trim() == "ok") {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("/readyz did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    figures.cold_start_ms = started.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    figures.idle_rss_mb = rss_mb(cluster.pid());

    for (ns, count) in [("bench-100", 100), ("bench-1000", 1000)] {
        let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": ns } }))?;
        Api::<Namespace>::all(api.clone()).create(&PostParams::default(), &namespace).await?;
        let pods: Api<Pod> = Api::namespaced(api.clone(), ns);
        let creators = (0..16).map(|w| {
            let pods = pods.clone();
            async move {
                for i in (w..count).step_by(16) {
                    pods.create(&PostParams::default(), &pod(&format!("pod-{i:04}"))?).await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        });
        for result in futures::future::join_all(creators).await {
            result?;
        }
    }

    let pods_100: Api<Pod> = Api::namespaced(api.clone(), "bench-100");
    let get = {
        let pods = pods_100.clone();
        load(clients, run, move |c, i| {
            let pods = pods.clone();
            async move {
                pods.get(&format!("pod-{:04}", (c * 7 + i) % 100)).await?;
                Ok(())
            }
        })
        .await?
    };
    figures.loads.push(("GET pod", get));
    let list_100 = {
        let pods = pods_100.clone();
        load(clients, run, move |_, _| {
            let pods = pods.clone();
            async move {
                pods.list(&ListParams::default()).await?;
                Ok(())
            }
        })
        .await?
    };
    figures.loads.push(("LIST 100 pods", list_100));
    let before = store_lists(&api).await?;
    let list_1000 = {
        let pods: Api<Pod> = Api::namespaced(api.clone(), "bench-1000");
        load(clients, run, move |_, _| {
            let pods = pods.clone();
            async move {
                let list = pods.list(&ListParams::default().match_any()).await?;
                anyhow::ensure!(list.items.len() == 1000, "listed {} pods", list.items.len());
                Ok(())
            }
        })
        .await?
    };
    figures.store_lists_during_cached_list = store_lists(&api).await?.saturating_sub(before);
    figures.loads.push(("LIST 1,000 pods (cache)", list_1000));
    let create = {
        let cms: Api<ConfigMap> = Api::namespaced(api.clone(), "bench-100");
        load(clients, run, move |c, i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(
                    json!({ "metadata": { "name": format!("cm-{c}-{i}") }, "data": { "k": "v" } }),
                )?;
                cms.create(&PostParams::default(), &cm).await?;
                Ok(())
            }
        })
        .await?
    };
    figures.loads.push(("CREATE configmap", create));
    Ok(figures)
}

fn print(sqlite: &Figures, etcd: &Figures, clients: usize) {
    println!("| measurement ({clients} clients over HTTPS) | sqlite | etcd |");
    println!("|---|---:|---:|");
    for ((name, s), (_, e)) in sqlite.loads.iter().zip(&etcd.loads) {
        println!(
            "| {name}: req/s, p50, p99 | {:.0}, {:.2} ms, {:.2} ms | {:.0}, {:.2} ms, {:.2} ms |",
            s.per_second, s.p50_ms, s.p99_ms, e.per_second, e.p50_ms, e.p99_ms
        );
    }
    println!(
        "| store lists during the cached LIST phase | {} | {} |",
        sqlite.store_lists_during_cached_list, etcd.store_lists_during_cached_list
    );
    println!("| cold start to /readyz | {:.0} ms | {:.0} ms |", sqlite.cold_start_ms, etcd.cold_start_ms);
    println!("| idle RSS | {:.1} MB | {:.1} MB |", sqlite.idle_rss_mb, etcd.idle_rss_mb);
}

#[tokio::main]
async fn main() -> Result<()> {
    let (skiff, clients, seconds) = match Args::parse().command {
        Command::Api { skiff, clients, seconds } => (skiff, clients, seconds),
        Command::Controllers { replicas, nodes, timeout } => {
            return controllers::run(replicas, nodes, Duration::from_secs(timeout)).await;
        }
        Command::Kubelet { pods, timeout } => return kubelet::run(pods, Duration::from_secs(timeout)).await,
        Command::Scheduler { nodes, pods, only, timeout, child, separate_api_server } => {
            let timeout = Duration::from_secs(timeout);
            let placement =
                if separate_api_server { scheduler::Placement::Separate } else { scheduler::Placement::InProcess };
            return match child {
                Some(name) => scheduler::run_child(&name, nodes, pods, timeout, placement).await,
                None => scheduler::run(nodes, pods, only, timeout).await,
            };
        }
    };
    let skiff = match skiff {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("skiff"),
    };
    let run = Duration::from_secs(seconds);
    eprintln!("measuring skiff on SQLite ...");
    let sqlite = measure(&skiff, None, clients, run).await?;
    let etcd_server = EtcdServer::start().context("starting etcd (apt-get install etcd-server)")?;
    eprintln!("measuring skiff on etcd ...");
    let etcd = measure(&skiff, Some(&etcd_server.endpoint()), clients, run).await?;
    print(&sqlite, &etcd, clients);
    Ok(())
}
