//! Node and pod resource usage: the kubelet's /stats/summary and
//! /metrics/resource, from the runtime's container stats and the host.
//!
//! Pods and containers come from the runtime's sandboxes and containers
//! (by the CRI labels), their usage from `ListContainerStats`; the node's
//! from /proc/stat, /proc/meminfo, /proc/vmstat and statvfs. CPU rates
//! (`usageNanoCores`) are computed from this sample and the previous one
//! when the runtime does not give them, as upstream's CRI stats provider does.

mod metrics;
pub mod types;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::config::KubeletConfig;
use crate::node::host;
use crate::runtime::{Runtime, RuntimeError, api, labels};
pub use metrics::resource_metrics;
use types::{
    ContainerStats, CpuStats, FsStats, MemoryStats, NodeStats, PodReference, PodStats, RlimitStats, RuntimeStats,
    Summary, VolumeStats,
};

/// CRI's CONTAINER_RUNNING and SANDBOX_READY.
const CONTAINER_RUNNING: i32 = 1;
const SANDBOX_READY: i32 = 0;

/// One CPU reading: when (ns since the epoch) and the cumulative core-nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuSample {
    at: i64,
    usage: u64,
}

/// The rate between two readings, in nanocores.
fn nano_cores(previous: Option<CpuSample>, now: CpuSample) -> Option<u64> {
    let previous = previous?;
    let elapsed = u64::try_from(now.at - previous.at).ok().filter(|e| *e > 0)?;
    let used = now.usage.checked_sub(previous.usage)?;
    Some((u128::from(used) * 1_000_000_000 / u128::from(elapsed)) as u64)
}

#[derive(Debug, Default)]
struct Samples {
    node: Option<CpuSample>,
    containers: HashMap<String, CpuSample>,
}

/// What the stats need to know about the kubelet, and the previous CPU samples.
#[derive(Debug)]
pub struct StatsContext {
    config: KubeletConfig,
    samples: Mutex<Samples>,
}

impl StatsContext {
    /// Stats for the node `config` describes (a first node CPU sample is taken now).
    pub fn new(config: KubeletConfig) -> Self {
        let samples = Samples { node: node_cpu_sample(), containers: HashMap::new() };
        Self { config, samples: Mutex::new(samples) }
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn now_nanos() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

fn node_cpu_sample() -> Option<CpuSample> {
    host::read_cpu_usage_nanos().map(|usage| CpuSample { at: now_nanos(), usage })
}

/// metav1.Time text (seconds) of a CRI timestamp in nanoseconds.
fn time(nanos: i64) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    jiff::Timestamp::from_second(seconds).unwrap_or_default().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn value(v: Option<api::UInt64Value>) -> Option<u64> {
    v.map(|v| v.value)
}

fn fs_stats(at: &str, fs: &host::FsStats) -> FsStats {
    FsStats {
        time: at.to_owned(),
        available_bytes: Some(fs.available),
        capacity_bytes: Some(fs.capacity),
        used_bytes: Some(fs.used),
        inodes_free: Some(fs.inodes_free),
        inodes: Some(fs.inodes),
        inodes_used: Some(fs.inodes.saturating_sub(fs.inodes_free)),
    }
}

/// Bytes (allocated blocks) and inodes under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else { continue };
            total.0 += metadata.blocks() * 512;
            total.1 += 1;
            if metadata.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

/// A filesystem-usage entry for a directory on a filesystem `fs`.
fn dir_stats(at: &str, dir: &Path, fs: &host::FsStats) -> FsStats {
    let (used, inodes_used) = disk_usage(dir);
    FsStats { used_bytes: Some(used), inodes_used: Some(inodes_used), ..fs_stats(at, fs) }
}

/// Sums of CPU and memory across containers (pod totals).
fn sum_cpu(at: &str, items: &[&CpuStats]) -> Option<CpuStats> {
    (!items.is_empty()).then(|| CpuStats {
        time: at.to_owned(),
        usage_nano_cores: items.iter().map(|c| c.usage_nano_cores).sum(),
        usage_core_nano_seconds: items.iter().map(|c| c.usage_core_nano_seconds).sum(),
    })
}

fn sum_memory(at: &str, items: &[&MemoryStats]) -> Option<MemoryStats> {
    (!items.is_empty()).then(|| MemoryStats {
        time: at.to_owned(),
        available_bytes: None,
        usage_bytes: items.iter().map(|m| m.usage_bytes).sum(),
        working_set_bytes: items.iter().map(|m| m.working_set_bytes).sum(),
        rss_bytes: items.iter().map(|m| m.rss_bytes).sum(),
        page_faults: items.iter().map(|m| m.page_faults).sum(),
        major_page_faults: items.iter().map(|m| m.major_page_faults).sum(),
    })
}

/// The node's own usage.
fn node_stats(context: &StatsContext, root_fs: &host::FsStats, image_fs: Option<FsStats>) -> NodeStats {
    let now = now_nanos();
    let at = time(now);
    let memory = host::read_meminfo();
    let (page_faults, major_page_faults) = host::read_vmstat_faults();
    let (pid_max, processes) = host::read_pids();
    let cpu = node_cpu_sample().map(|sample| {
        let mut samples = context.samples();
        let rate = nano_cores(samples.node, sample);
        samples.node = Some(sample);
        CpuStats { time: time(sample.at), usage_nano_cores: rate, usage_core_nano_seconds: Some(sample.usage) }
    });
    let start = host::read_boot_time().map(|t| time(t.as_nanosecond() as i64)).unwrap_or_else(|| at.clone());
    NodeStats {
        node_name: context.config.node_name.clone(),
        start_time: start,
        cpu,
        memory: (memory.total > 0).then(|| MemoryStats {
            time: at.clone(),
            available_bytes: Some(memory.eviction_available()),
            usage_bytes: Some(memory.usage()),
            working_set_bytes: Some(memory.working_set()),
            rss_bytes: Some(memory.anon),
            page_faults: Some(page_faults),
            major_page_faults: Some(major_page_faults),
        }),
        fs: Some(fs_stats(&at, root_fs)),
        runtime: Some(RuntimeStats { image_fs }),
        rlimit: Some(RlimitStats { time: at, maxpid: Some(pid_max), curproc: Some(processes) }),
    }
}

/// The runtime's image filesystem: CRI's usage with statvfs's capacity.
async fn image_fs(runtime: &dyn Runtime) -> Option<FsStats> {
    let usage = runtime.image_fs_info().await.ok()?.into_iter().next()?;
    let mount = usage.fs_id.as_ref().map(|id| id.mountpoint.clone()).unwrap_or_default();
    let fs = tokio::task::spawn_blocking(move || host::fs_stats(Path::new(&mount))).await.unwrap_or_default();
    let at = if usage.timestamp > 0 { time(usage.timestamp) } else { time(now_nanos()) };
    Some(FsStats {
        used_bytes: value(usage.used_bytes).or(Some(fs.used)),
        inodes_used: value(usage.inodes_used),
        ..fs_stats(&at, &fs)
    })
}

/// The pods (ready sandboxes) and their running containers' usage.
async fn pod_stats(
    runtime: &dyn Runtime,
    context: &StatsContext,
    root_fs: host::FsStats,
    image_fs: Option<&FsStats>,
) -> Result<Vec<PodStats>, RuntimeError> {
    let sandboxes = runtime.list_pod_sandboxes(None).await?;
    let containers = runtime.list_containers(None).await?;
    let stats = runtime.list_container_stats().await?;
    let stats: HashMap<&str, &api::ContainerStats> =
        stats.iter().filter_map(|s| Some((s.attributes.as_ref()?.id.as_str(), s))).collect();

    // The newest ready sandbox of each pod.
    let mut pods: BTreeMap<String, &api::PodSandbox> = BTreeMap::new();
    for sandbox in sandboxes.iter().filter(|s| s.state == SANDBOX_READY) {
        let uid = sandbox.metadata.as_ref().map(|m| m.uid.clone()).unwrap_or_default();
        match pods.get(&uid) {
            Some(kept) if kept.created_at >= sandbox.created_at => {}
            _ => {
                pods.insert(uid, sandbox);
            }
        }
    }
    let mut seen = HashMap::new();
    let mut result = Vec::new();
    for sandbox in pods.values() {
        let meta = sandbox.metadata.clone().unwrap_or_default();
        let label = |key: &str, fallback: &str| sandbox.labels.get(key).cloned().unwrap_or_else(|| fallback.to_owned());
        let pod_ref = PodReference {
            name: label(labels::POD_NAME, &meta.name),
            namespace: label(labels::POD_NAMESPACE, &meta.namespace),
            uid: label(labels::POD_UID, &meta.uid),
        };
        let log_dir = context.config.pod_log_dir(&pod_ref.namespace, &pod_ref.name, &pod_ref.uid);
        let mut entries = Vec::new();
        for container in containers.iter().filter(|c| c.pod_sandbox_id == sandbox.id && c.state == CONTAINER_RUNNING) {
            let name = container
                .labels
                .get(labels::CONTAINER_NAME)
                .cloned()
                .or_else(|| container.metadata.as_ref().map(|m| m.name.clone()))
                .unwrap_or_default();
            let stat = stats.get(container.id.as_str());
            let cpu = stat.and_then(|s| s.cpu).map(|cpu| {
                let usage = value(cpu.usage_core_nano_seconds);
                let sample = usage.map(|usage| CpuSample { at: cpu.timestamp, usage });
                let computed = sample.and_then(|sample| {
                    let previous = context.samples().containers.insert(container.id.clone(), sample);
                    nano_cores(previous, sample)
                });
                seen.insert(container.id.clone(), ());
                CpuStats {
                    time: time(cpu.timestamp),
                    usage_nano_cores: value(cpu.usage_nano_cores).filter(|n| *n > 0).or(computed),
                    usage_core_nano_seconds: usage,
                }
            });
            let memory = stat.and_then(|s| s.memory).map(|m| MemoryStats {
                time: time(m.timestamp),
                available_bytes: value(m.available_bytes).filter(|a| *a > 0),
                usage_bytes: value(m.usage_bytes),
                working_set_bytes: value(m.working_set_bytes),
                rss_bytes: value(m.rss_bytes),
                page_faults: value(m.page_faults),
                major_page_faults: value(m.major_page_faults),
            });
            let rootfs = stat.and_then(|s| s.writable_layer.clone()).map(|layer| {
                let base = image_fs.cloned().unwrap_or_default();
                FsStats {
                    time: time(layer.timestamp),
                    used_bytes: value(layer.used_bytes),
                    inodes_used: value(layer.inodes_used),
                    ..base
                }
            });
            entries.push((name, container.created_at, cpu, memory, rootfs));
        }
        let at = time(now_nanos());
        let volumes_dir = context.config.pod_dir(&pod_ref.uid).join("volumes");
        let names: Vec<String> = entries.iter().map(|e| e.0.clone()).collect();
        let (logs, volumes) = tokio::task::spawn_blocking({
            let (at, log_dir) = (at.clone(), log_dir.clone());
            move || {
                let logs: Vec<FsStats> = names.iter().map(|n| dir_stats(&at, &log_dir.join(n), &root_fs)).collect();
                (logs, volume_stats(&at, &volumes_dir, &root_fs))
            }
        })
        .await
        .unwrap_or_default();
        let containers: Vec<ContainerStats> = entries
            .into_iter()
            .zip(logs)
            .map(|((name, created, cpu, memory, rootfs), logs)| ContainerStats {
                name,
                start_time: time(created),
                cpu,
                memory,
                rootfs,
                logs: Some(logs),
            })
            .collect();
        let cpu = sum_cpu(&at, &containers.iter().filter_map(|c| c.cpu.as_ref()).collect::<Vec<_>>());
        let memory = sum_memory(&at, &containers.iter().filter_map(|c| c.memory.as_ref()).collect::<Vec<_>>());
        let used: u64 = containers
            .iter()
            .flat_map(|c| [c.rootfs.as_ref(), c.logs.as_ref()])
            .flatten()
            .chain(volumes.iter().map(|v| &v.fs))
            .filter_map(|fs| fs.used_bytes)
            .sum();
        let ephemeral_storage = Some(FsStats { used_bytes: Some(used), inodes_used: None, ..fs_stats(&at, &root_fs) });
        result.push(PodStats {
            pod_ref,
            start_time: time(sandbox.created_at),
            containers,
            cpu,
            memory,
            volume: volumes,
            ephemeral_storage,
        });
    }
    context.samples().containers.retain(|id, _| seen.contains_key(id));
    Ok(result)
}

/// Each directory under `<pod>/volumes/<plugin>/` as a volume.
fn volume_stats(at: &str, volumes_dir: &Path, fs: &host::FsStats) -> Vec<VolumeStats> {
    let mut volumes = Vec::new();
    for plugin in std::fs::read_dir(volumes_dir).into_iter().flatten().flatten() {
        for volume in std::fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
            let name = volume.file_name().to_string_lossy().into_owned();
            volumes.push(VolumeStats { fs: dir_stats(at, &volume.path(), fs), name });
        }
    }
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    volumes
}

/// The Summary as a typed value.
pub async fn summary_typed(runtime: &dyn Runtime, context: &StatsContext) -> Result<Summary, RuntimeError> {
    let root_dir = context.config.root_dir.clone();
    let root_fs = tokio::task::spawn_blocking(move || host::fs_stats(&root_dir)).await.unwrap_or_default();
    let image_fs = image_fs(runtime).await;
    let pods = pod_stats(runtime, context, root_fs, image_fs.as_ref()).await?;
    let node = node_stats(context, &root_fs, image_fs);
    Ok(Summary { node, pods })
}

/// `/stats/summary`: upstream's stats/v1alpha1 Summary JSON.
pub async fn summary(runtime: &dyn Runtime, context: &StatsContext) -> Result<serde_json::Value, RuntimeError> {
    let summary = summary_typed(runtime, context).await?;
    Ok(serde_json::to_value(summary).unwrap_or_default())
}

#[cfg(test)]
mod tests;
