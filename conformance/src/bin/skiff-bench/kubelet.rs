//! `skiff-bench kubelet`: pod start latency on real containerd, image
//! present — create → Running as the API reports it, p50/p99 over 100 pods
//! started one after another through `skiff server --disable-agent` and a
//! `skiff agent` process that joins it — beside the bare CRI sequence
//! (RunPodSandbox + CreateContainer + StartContainer, the kubelet's own
//! sandbox config, nothing of Kubernetes around it) measured in the same
//! run; and the agent's RSS with 30 pods running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use skiff_conformance::Cluster;
use skiff_kubelet::config::DEFAULT_CGROUP_ROOT;
use skiff_kubelet::containerd::killall::{self, Scope};
use skiff_kubelet::pod::{dns, sandbox};
use skiff_kubelet::runtime::cri::CriRuntime;
use skiff_kubelet::runtime::{api, labels};
use skiff_kubelet::testing::{self, BUSYBOX_IMAGE, NetworkSlot, TestContainerd};
use skiff_kubelet::{KubeletConfig, Runtime};

/// The targets from the issue.
const P99_LIMIT_MS: f64 = 500.0;
const RATIO_LIMIT: f64 = 2.0;
/// How many pods run while the agent's memory is read.
const RSS_PODS: usize = 30;
const NODE: &str = "skiff-bench-node";

/// Latencies in ms, sorted.
struct Latencies(Vec<f64>);

impl Latencies {
    fn new(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        Self(ms)
    }

    fn at(&self, q: f64) -> f64 {
        self.0.get(((self.0.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn rss_mb(pid: u32) -> f64 {
    super::rss_mb(pid)
}

/// The pod `i` both measurements run: one `sleep 3600` container.
fn bench_pod(i: usize, uid: Option<String>) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": { "name": format!("start-{i:03}"), "namespace": "default", "uid": uid, "labels": { "app": "bench" } },
        "spec": {
            "terminationGracePeriodSeconds": 1,
            // Build machines with little free disk report DiskPressure (imagefs < 15% free); that is not measured here.
            "tolerations": [{ "key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule" }],
            "containers": [{ "name": "sleep", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"] }],
        },
    }))?)
}

/// The bare CRI sequence on a private containerd, with the sandbox config the kubelet makes.
async fn bare_cri(pods: usize) -> Result<Latencies> {
    let Some(containerd) = TestContainerd::start().await else { bail!("containerd is not installed") };
    let runtime = containerd.runtime();
    let root = tempfile::tempdir().context("a root dir")?;
    let mut config = KubeletConfig::new(NODE, root.path(), runtime.clone() as Arc<dyn Runtime>);
    config.cgroup_root = containerd.cgroup_root();
    let host_resolv = dns::host_resolv_conf();
    let mut latencies = Vec::new();
    for i in 0..pods {
        let uid = uuid_like(i);
        let pod = bench_pod(i, Some(uid.clone()))?;
        let (sandbox_config, _) = sandbox::sandbox_config(&pod, 0, &config, &host_resolv);
        let container = container_config(&pod, &config, &sandbox_config)?;
        let began = Instant::now();
        let sandbox_id = runtime.run_pod_sandbox(sandbox_config.clone()).await.context("RunPodSandbox")?;
        let id = runtime.create_container(&sandbox_id, container, &sandbox_config).await.context("CreateContainer")?;
        runtime.start_container(&id).await.context("StartContainer")?;
        latencies.push(ms(began.elapsed()));
    }
    // Dropping it stops and removes the sandboxes, containerd, the bridge and the cgroups.
    tokio::task::spawn_blocking(move || drop(containerd)).await.context("removing the bare pods")?;
    Ok(Latencies::new(latencies))
}

/// A pod uid for the bare pods (any unique string does for the CRI).
fn uuid_like(i: usize) -> String {
    format!("00000000-0000-4000-8000-{:012}", i + std::process::id() as usize * 1000)
}

/// The container config as the kubelet makes it for this pod: labels, log path, namespaces, the
/// termination message file and /etc/hosts mounts.
fn container_config(
    pod: &Pod,
    config: &KubeletConfig,
    sandbox: &api::PodSandboxConfig,
) -> Result<api::ContainerConfig> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let dir = config.pod_dir(&uid);
    let message = dir.join("containers/sleep/0");
    std::fs::create_dir_all(dir.join("containers/sleep")).context("the pod dir")?;
    std::fs::write(&message, "").context("the termination message file")?;
    let hosts = dir.join("etc-hosts");
    std::fs::write(&hosts, "127.0.0.1\tlocalhost\n").context("the hosts file")?;
    let mut container_labels = sandbox::pod_labels(pod);
    container_labels.insert(labels::CONTAINER_NAME.into(), "sleep".into());
    let namespace_options =
        sandbox.linux.as_ref().and_then(|l| l.security_context.as_ref()).and_then(|s| s.namespace_options.clone());
    let mount = |container: &str, host: &Path| api::Mount {
        container_path: container.into(),
        host_path: host.display().to_string(),
        ..Default::default()
    };
    Ok(api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: "sleep".into(), attempt: 0 }),
        image: Some(api::ImageSpec { image: BUSYBOX_IMAGE.into(), ..Default::default() }),
        command: vec!["sleep".into(), "3600".into()],
        labels: container_labels,
        log_path: "sleep/0.log".into(),
        mounts: vec![mount("/dev/termination-log", &message), mount("/etc/hosts", &hosts)],
        linux: Some(api::LinuxContainerConfig {
            security_context: Some(api::LinuxContainerSecurityContext { namespace_options, ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// What the Kubernetes side measured.
struct Kube {
    running: Latencies,
    bound: Latencies,
    rss_mb: f64,
    rss_all_mb: f64,
    containerd_rss_mb: f64,
    /// Where the time of a start goes (from containerd's log).
    steps: Vec<(&'static str, Latencies)>,
}

/// One pod's start as the benchmark saw it (Unix seconds).
struct PodStart {
    uid: String,
    created: f64,
    running: f64,
}

/// The CRI calls of one pod in containerd's log (Unix seconds): RunPodSandbox begin/end,
/// CreateContainer begin/end, StartContainer begin/end.
#[derive(Default)]
struct CriCalls([Option<f64>; 6]);

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    Some(&rest[..rest.find(end)?])
}

/// Lines containerd's log up with the pods' create and Running times: how long each step took.
fn breakdown(starts: &[PodStart], log: &str) -> Vec<(&'static str, Latencies)> {
    let mut calls: HashMap<String, CriCalls> = HashMap::new();
    let mut owner: HashMap<String, String> = HashMap::new(); // sandbox or container id → pod uid
    for line in log.lines() {
        let (Some(time), Some(msg)) = (between(line, "time=\"", "\""), line.split_once("msg=\"").map(|(_, m)| m))
        else {
            continue;
        };
        let Ok(at) = time.parse::<k8s_openapi::jiff::Timestamp>() else { continue };
        let at = at.as_nanosecond() as f64 / 1e9;
        let (uid, slot) = if msg.starts_with("RunPodSandbox for") {
            let Some(uid) = between(msg, "Uid:", ",") else { continue };
            if let Some(id) = between(msg, "returns sandbox id \\\"", "\\\"") {
                owner.insert(id.to_owned(), uid.to_owned());
                (uid.to_owned(), 1)
            } else {
                (uid.to_owned(), 0)
            }
        } else if msg.starts_with("CreateContainer within sandbox") {
            let Some(uid) = between(msg, "sandbox \\\"", "\\\"").and_then(|id| owner.get(id)).cloned() else {
                continue;
            };
            if let Some(id) = between(msg, "returns container id \\\"", "\\\"") {
                owner.insert(id.to_owned(), uid.clone());
                (uid, 3)
            } else {
                (uid, 2)
            }
        } else if msg.starts_with("StartContainer for") {
            let Some(uid) = between(msg, "for \\\"", "\\\"").and_then(|id| owner.get(id)).cloned() else { continue };
            (uid, if msg.contains("returns successfully") { 5 } else { 4 })
        } else {
            continue;
        };
        let entry = calls.entry(uid).or_default();
        entry.0[slot] = entry.0[slot].or(Some(at));
    }
    let names: [&'static str; 6] = [
        "create returned → RunPodSandbox called (watch, bind, kubelet's prep)",
        "RunPodSandbox",
        "→ CreateContainer done",
        "→ StartContainer done",
        "StartContainer done → Running in the watch (status)",
        "RunPodSandbox called → StartContainer done (the CRI part)",
    ];
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for start in starts {
        let Some(CriCalls([Some(run), Some(ran), _, Some(created), _, Some(started)])) = calls.get(&start.uid) else {
            continue;
        };
        let times =
            [run - start.created, ran - run, created - ran, started - created, start.running - started, started - run];
        for (step, value) in steps.iter_mut().zip(times) {
            step.push(value * 1000.0);
        }
    }
    names.into_iter().zip(steps.into_iter().map(Latencies::new)).collect()
}

/// The agent process, killed (and the node cleaned up) when dropped.
struct Agent {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let kept = std::env::temp_dir().join("skiff-bench-agent.log");
        if std::fs::copy(self.dir.path().join("agent.log"), &kept).is_ok() {
            eprintln!("the agent's log (SKIFF_LOG=skiff_kubelet=debug for more): {}", kept.display());
        }
        let containerd_log = std::env::temp_dir().join("skiff-bench-containerd.log");
        if std::fs::copy(self.dir.path().join("agent/containerd/containerd.log"), &containerd_log).is_ok() {
            eprintln!("its containerd's log (CRI calls with timestamps): {}", containerd_log.display());
        }
        let scope = Scope::node(self.dir.path(), DEFAULT_CGROUP_ROOT);
        match std::thread::spawn(move || killall::killall(&scope, None)).join() {
            Ok(Ok(report)) => eprint!("killall on the agent's data dir:\n{report}"),
            Ok(Err(err)) => eprintln!("killall on the agent's data dir: {err}"),
            Err(_) => eprintln!("killall on the agent's data dir panicked"),
        }
    }
}

fn start_agent(skiff: &Path, cluster: &Cluster, network: &NetworkSlot) -> Result<Agent> {
    let dir = tempfile::tempdir().context("the agent's data dir")?;
    let images = dir.path().join("agent/images");
    std::fs::create_dir_all(&images).context("the images dir")?;
    testing::busybox_image_tar(images.join("busybox.tar")).context("the busybox image")?;
    let token = std::fs::read_to_string(cluster.data_dir().join("server/token")).context("the join token")?;
    let log = std::fs::File::create(dir.path().join("agent.log")).context("the agent's log")?;
    let child = Command::new(skiff)
        .args(["agent", "--server", &cluster.url, "--token", token.trim(), "--data-dir"])
        .arg(dir.path())
        .args(["--node-name", NODE, "--node-ip", "127.0.0.1", "--kubelet-port", "0"])
        .args(["--cluster-cidr", &network.cidr(), "--cni-bridge", &network.bridge()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting skiff agent")?;
    Ok(Agent { child, dir })
}

async fn wait_node_ready(client: &kube::Client, agent: &mut Agent) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = agent.child.try_wait() {
            let log = std::fs::read_to_string(agent.dir.path().join("agent.log")).unwrap_or_default();
            bail!("skiff agent exited ({status}):\n{log}");
        }
        let node = nodes.get_opt(NODE).await?;
        let ready = node
            .and_then(|n| n.status)
            .and_then(|s| s.conditions)
            .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("node {NODE} was not Ready within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the agent imported the busybox image from its images dir (the measurement is with the image present).
async fn wait_image_present(agent: &Agent) -> Result<()> {
    let cri = CriRuntime::connect(agent.dir.path().join("agent/containerd/containerd.sock"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(cri.image_status(BUSYBOX_IMAGE).await, Ok(Some(_))) {
        if Instant::now() > deadline {
            bail!("the agent did not import {BUSYBOX_IMAGE} from its images dir within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// When each pod was first seen bound and Running, by name.
#[derive(Default)]
struct Seen {
    bound: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

async fn kubernetes(skiff: &Path, pods: usize, timeout: Duration) -> Result<Kube> {
    let cluster = Cluster::start(skiff, &[])?;
    let client = super::client(&cluster).await?;
    let network = NetworkSlot::allocate();
    let mut agent = start_agent(skiff, &cluster, &network)?;
    wait_node_ready(&client, &mut agent).await?;
    wait_image_present(&agent).await?;
    eprintln!("node {NODE} is Ready (skiff agent pid {})", agent.child.id());

    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let notify = Arc::new(tokio::sync::Notify::new());
    let watching = {
        let (seen, notify, api) = (Arc::clone(&seen), Arc::clone(&notify), api.clone());
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let at = Instant::now();
                let (Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod))) = event else { continue };
                let name = pod.metadata.name.clone().unwrap_or_default();
                let Ok(mut seen) = seen.lock() else { return };
                if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    seen.bound.entry(name.clone()).or_insert(at);
                }
                if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    seen.running.entry(name).or_insert(at);
                    notify.notify_waiters();
                }
            }
        })
    };

    let mut running = Vec::new();
    let mut bound = Vec::new();
    // name, pod uid, created and Running (Unix seconds), to line up with containerd's log.
    let mut timeline = String::from("name\tuid\tcreated\trunning\n");
    let mut starts = Vec::new();
    let (mut rss, mut rss_all, mut containerd_rss) = (0.0, 0.0, 0.0);
    for i in 0..pods {
        let pod = bench_pod(i, None)?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let made = api.create(&PostParams::default(), &pod).await.with_context(|| format!("creating {name}"))?;
        let created = Instant::now();
        let created_wall = std::time::SystemTime::now();
        let deadline = created + timeout;
        let at = loop {
            let waiting = notify.notified();
            let found = seen.lock().ok().and_then(|s| s.running.get(&name).copied());
            if let Some(at) = found {
                break at;
            }
            if tokio::time::timeout_at(deadline.into(), waiting).await.is_err() {
                bail!("pod {name} was not Running within {timeout:?}");
            }
        };
        running.push(ms(at.saturating_duration_since(created)));
        let unix = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let running_wall = created_wall + at.saturating_duration_since(created);
        let uid = made.metadata.uid.clone().unwrap_or_default();
        timeline.push_str(&format!("{name}\t{uid}\t{:.6}\t{:.6}\n", unix(created_wall), unix(running_wall)));
        starts.push(PodStart { uid, created: unix(created_wall), running: unix(running_wall) });
        if let Some(at) = seen.lock().ok().and_then(|s| s.bound.get(&name).copied()) {
            bound.push(ms(at.saturating_duration_since(created)));
        }
        if i + 1 == RSS_PODS {
            eprintln!("{RSS_PODS} pods Running; letting the agent settle for 10 s");
            tokio::time::sleep(Duration::from_secs(10)).await;
            rss = rss_mb(agent.child.id());
            containerd_rss = containerd_rss_mb(agent.dir.path());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    if pods >= RSS_PODS {
        rss_all = rss_mb(agent.child.id());
    }
    let timeline_file = std::env::temp_dir().join("skiff-bench-pods.tsv");
    if std::fs::write(&timeline_file, timeline).is_ok() {
        eprintln!("pods' create/Running times: {}", timeline_file.display());
    }
    let order: Vec<String> = running.iter().map(|ms| format!("{ms:.0}")).collect();
    eprintln!("create → Running in creation order (ms): {}", order.join(" "));
    watching.abort();
    let log = std::fs::read_to_string(agent.dir.path().join("agent/containerd/containerd.log")).unwrap_or_default();
    let steps = breakdown(&starts, &log);
    drop(agent);
    drop(network);
    drop(cluster);
    Ok(Kube {
        running: Latencies::new(running),
        bound: Latencies::new(bound),
        rss_mb: rss,
        rss_all_mb: rss_all,
        containerd_rss_mb: containerd_rss,
        steps,
    })
}

fn containerd_rss_mb(agent_dir: &Path) -> f64 {
    let pid_file: PathBuf = agent_dir.join("agent/containerd/containerd.pid");
    std::fs::read_to_string(pid_file).ok().and_then(|p| p.trim().parse::<u32>().ok()).map_or(0.0, rss_mb)
}

pub async fn run(pods: usize, timeout: Duration) -> Result<()> {
    let skiff = std::env::current_exe()?.with_file_name("skiff");
    eprintln!("bare CRI: {pods} pods on a private containerd ...");
    let bare = bare_cri(pods).await?;
    eprintln!("Kubernetes: {pods} pods through skiff server + skiff agent ...");
    let kube = kubernetes(&skiff, pods, timeout).await?;

    let (p50, p99) = (kube.running.at(0.50), kube.running.at(0.99));
    let (bare50, bare99) = (bare.at(0.50), bare.at(0.99));
    let ratio = if bare99 > 0.0 { p99 / bare99 } else { 0.0 };
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("| kubelet pod start, image present ({pods} pods, one after another) | value | target |");
    println!("|---|---:|---|");
    println!("| create → Running (API watch): p50 | {p50:.0} ms | |");
    println!(
        "| create → Running (API watch): p99 | {p99:.0} ms | < {P99_LIMIT_MS:.0} ms: {} |",
        verdict(p99 < P99_LIMIT_MS)
    );
    println!(
        "| of which create → bound (scheduler): p50, p99 | {:.0} ms, {:.0} ms | |",
        kube.bound.at(0.50),
        kube.bound.at(0.99)
    );
    println!("| bare CRI Run+Create+Start: p50 | {bare50:.0} ms | |");
    println!("| bare CRI Run+Create+Start: p99 | {bare99:.0} ms | |");
    for (step, latencies) in &kube.steps {
        println!("| … {step}: p50, p99 | {:.0} ms, {:.0} ms | |", latencies.at(0.50), latencies.at(0.99));
    }
    println!("| ratio p99 / bare p99 | {ratio:.2} | ≤ {RATIO_LIMIT:.0}: {} |", verdict(ratio <= RATIO_LIMIT));
    println!("| skiff agent RSS, {RSS_PODS} pods running (10 s settled) | {:.1} MB | |", kube.rss_mb);
    println!("| skiff agent RSS, {pods} pods running | {:.1} MB | |", kube.rss_all_mb);
    println!("| its containerd's RSS, {RSS_PODS} pods running | {:.1} MB | |", kube.containerd_rss_mb);
    Ok(())
}
