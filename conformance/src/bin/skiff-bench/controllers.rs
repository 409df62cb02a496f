//! `skiff-bench controllers`: a Deployment of 1,000 replicas on 100
//! simulated nodes reaches all-available, then a rolling update of it
//! completes. The API server (with the scheduler and the simulated nodes)
//! and `skiff controller-manager` run as their own processes, so the
//! controllers' CPU time and memory are their process's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// CPU seconds (user + system) and peak RSS (MB) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based) of stat, 11 and 12 after the name and state.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0);
    (cpu, peak)
}

/// Waits until the Deployment has rolled out `replicas` pods of `image`; returns how long it took.
async fn rolled_out(api: &Api<Deployment>, image: &str, replicas: i32, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let d = api.get("bench").await?;
        let status = d.status.clone().unwrap_or_default();
        let current = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        if current.as_deref() == Some(image)
            && status.observed_generation >= d.metadata.generation
            && status.updated_replicas == Some(replicas)
            && status.replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("not rolled out after {timeout:?}: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(replicas: i32, nodes: usize, timeout: Duration) -> Result<()> {
    let skiff = std::env::current_exe()?.with_file_name("skiff");
    let node_count = nodes.to_string();
    let cluster =
        skiff_conformance::Cluster::start(&skiff, &["--disable-controller-manager", "--simulated-nodes", &node_count])?;
    let client = super::client(&cluster).await?;
    let mut manager = std::process::Command::new(&skiff)
        .args(["controller-manager", "--leader-elect=false", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting skiff controller-manager")?;
    let pid = manager.id();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "bench" },
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": "bench" } },
            "template": { "metadata": { "labels": { "app": "bench" } },
                "spec": { "containers": [{ "name": "c", "image": "app:v1",
                    "resources": { "requests": { "cpu": "10m", "memory": "10Mi" } } }] } } },
    }))?;
    let result = async {
        api.create(&PostParams::default(), &deployment).await?;
        let available = rolled_out(&api, "app:v1", replicas, timeout).await?;
        let (cpu_up, _) = usage(pid);
        let update =
            json!({ "spec": { "template": { "spec": { "containers": [{ "name": "c", "image": "app:v2" }] } } } });
        api.patch("bench", &PatchParams::default(), &Patch::Strategic(&update)).await?;
        let rolled = rolled_out(&api, "app:v2", replicas, timeout).await?;
        let (cpu, peak) = usage(pid);
        Ok::<_, anyhow::Error>((available, rolled, cpu_up, cpu, peak))
    }
    .await;
    let _ = manager.kill();
    let _ = manager.wait();
    let (available, rolled, cpu_up, cpu, peak) = result?;
    println!("| measurement ({replicas} replicas, {nodes} simulated nodes) | value |");
    println!("|---|---:|");
    println!("| create to all available | {:.2} s |", available.as_secs_f64());
    println!("| rolling update (25% surge/unavailable) to all available | {:.2} s |", rolled.as_secs_f64());
    println!("| `skiff controller-manager` CPU time, until all available | {cpu_up:.2} s |");
    println!("| `skiff controller-manager` CPU time, in all | {cpu:.2} s |");
    println!("| `skiff controller-manager` peak RSS | {peak:.1} MB |");
    Ok(())
}
