//! A container's requests and limits as CRI Linux resources (CPU shares,
//! CFS quota and period, memory limit, OOM score adjustment), the pod's QoS
//! class, and the pod-level resources and overhead of the sandbox, as
//! upstream's kubelet computes them (`generateLinuxContainerResources`,
//! `calculateLinuxResources`, `GetContainerOOMScoreAdjust`, `GetPodQOS`).
//! Hugepages are not mapped.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::runtime::api;

/// CPU shares of a container without a CPU request (cgroup v1's minimum).
pub const MIN_SHARES: i64 = 2;
/// The most CPU shares a container gets.
pub const MAX_SHARES: i64 = 262_144;
/// CPU shares per whole CPU.
pub const SHARES_PER_CPU: i64 = 1024;
/// The CFS period (µs) the kubelet sets.
pub const QUOTA_PERIOD: i64 = 100_000;
/// The smallest CFS quota (µs) the kubelet sets for a CPU limit.
pub const MIN_QUOTA: i64 = 1000;
/// The OOM score adjustment of Guaranteed containers (and node-critical pods).
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// The OOM score adjustment of BestEffort containers.
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// A pod's quality-of-service class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The name in `status.qosClass`.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// What the node contributes to the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeResources {
    /// The machine's memory in bytes (the denominator of the Burstable OOM score).
    pub memory_capacity: i64,
    /// Whether to ask the kernel to OOM-kill a container's whole cgroup
    /// (`memory.oom.group`, upstream's default on cgroup v2 unified hosts).
    pub oom_group: bool,
}

impl NodeResources {
    /// The host's memory and cgroup mode.
    pub fn detect() -> Self {
        let memory_capacity = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
                let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .unwrap_or(1 << 30);
        let oom_group = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        Self { memory_capacity, oom_group }
    }
}

/// The pod's QoS class: `status.qosClass` when the API server set it, else computed from the
/// CPU and memory requests and limits of all containers and init containers.
pub fn qos_class(pod: &Pod) -> QosClass {
    match pod.status.as_ref().and_then(|status| status.qos_class.as_deref()) {
        Some("Guaranteed") => QosClass::Guaranteed,
        Some("Burstable") => QosClass::Burstable,
        Some("BestEffort") => QosClass::BestEffort,
        _ => compute_qos_class(pod),
    }
}

/// The QoS class from the spec alone (upstream's `ComputePodQOS`).
pub fn compute_qos_class(pod: &Pod) -> QosClass {
    let Some(spec) = pod.spec.as_ref() else { return QosClass::BestEffort };
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for container in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let mut limited = 0;
        for name in ["cpu", "memory"] {
            if let Some(amount) = positive_milli(container_list(container, Kind::Requests), name) {
                *requests.entry(name).or_default() += amount;
            }
            if let Some(amount) = positive_milli(container_list(container, Kind::Limits), name) {
                *limits.entry(name).or_default() += amount;
                limited += 1;
            }
        }
        if limited < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return QosClass::BestEffort;
    }
    if guaranteed && requests.len() == limits.len() && requests.iter().all(|(name, r)| limits.get(name) == Some(r)) {
        return QosClass::Guaranteed;
    }
    QosClass::Burstable
}

/// The container's CRI Linux resources (upstream's `generateLinuxContainerResources`).
pub fn container_resources(pod: &Pod, container: &Container, node: &NodeResources) -> api::LinuxContainerResources {
    let requests = container_list(container, Kind::Requests);
    let limits = container_list(container, Kind::Limits);
    let cpu_request = requests.and_then(|list| list.get("cpu")).map(milli_value);
    let mut resources = linux_resources(
        cpu_request,
        limits.and_then(|l| l.get("cpu")).map_or(0, milli_value),
        limits.and_then(|l| l.get("memory")).map_or(0, value),
        node,
    );
    resources.oom_score_adj = oom_score_adj(pod, container, node.memory_capacity);
    resources
}

/// The resources of the pod's sandbox (the pod's summed requests and limits, without overhead)
/// and its overhead (`spec.overhead`, as requests = limits), for `LinuxPodSandboxConfig`'s
/// `resources` and `overhead`.
pub fn sandbox_resources(
    pod: &Pod,
    node: &NodeResources,
) -> (api::LinuxContainerResources, Option<api::LinuxContainerResources>) {
    let requests = pod_totals(pod, Kind::Requests);
    let limits = pod_totals(pod, Kind::Limits);
    let resources = linux_resources(
        requests.get("cpu").map(|m| clamp_i64(*m)),
        limits.get("cpu").map_or(0, |m| clamp_i64(*m)),
        limits.get("memory").map_or(0, |m| clamp_i64(ceil_div(*m, 1000))),
        node,
    );
    let overhead = pod.spec.as_ref().and_then(|spec| spec.overhead.as_ref()).map(|overhead| {
        let cpu = overhead.get("cpu").map_or(0, milli_value);
        linux_resources(Some(cpu), cpu, overhead.get("memory").map_or(0, value), node)
    });
    (resources, overhead)
}

/// Shares, quota and memory limit from a CPU request (millicores; `None` when not set, when the
/// shares follow the limit), a CPU limit (millicores, 0 = none) and a memory limit (bytes, 0 = none).
fn linux_resources(
    cpu_request: Option<i64>,
    cpu_limit: i64,
    memory_limit: i64,
    node: &NodeResources,
) -> api::LinuxContainerResources {
    let mut resources = api::LinuxContainerResources {
        cpu_shares: milli_cpu_to_shares(cpu_request.unwrap_or(cpu_limit)),
        cpu_period: QUOTA_PERIOD,
        cpu_quota: milli_cpu_to_quota(cpu_limit, QUOTA_PERIOD),
        ..Default::default()
    };
    if memory_limit != 0 {
        resources.memory_limit_in_bytes = memory_limit;
    }
    if node.oom_group {
        resources.unified.insert("memory.oom.group".into(), "1".into());
    }
    resources
}

/// CPU shares for a CPU request in millicores.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> i64 {
    if milli_cpu == 0 {
        return MIN_SHARES;
    }
    (milli_cpu.saturating_mul(SHARES_PER_CPU) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// The CFS quota for a CPU limit in millicores (0: no limit).
pub fn milli_cpu_to_quota(milli_cpu: i64, period: i64) -> i64 {
    if milli_cpu == 0 {
        return 0;
    }
    (milli_cpu.saturating_mul(period) / 1000).max(MIN_QUOTA)
}

/// The container's OOM score adjustment: by QoS class, Burstable scaled by its memory request
/// (sidecars no higher than the smallest regular container), between 3 and 999.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i64 {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.priority_class_name.as_deref()) == Some("system-node-critical") {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos_class(pod) {
        QosClass::Guaranteed => return GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => return BEST_EFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {}
    }
    let capacity = memory_capacity.max(1) as i128;
    let score = |request: i64| 1000 - (1000 * request as i128) / capacity;
    let mut adjust = score(memory_request(container));
    let is_sidecar = container.restart_policy.as_deref() == Some("Always")
        && spec.is_some_and(|s| s.init_containers.iter().flatten().any(|c| c.name == container.name));
    if is_sidecar {
        let smallest = spec.and_then(|s| s.containers.iter().map(memory_request).min()).unwrap_or(0);
        adjust = adjust.min(score(smallest));
    }
    let floor = (1000 + GUARANTEED_OOM_SCORE_ADJ) as i128;
    if adjust < floor {
        return floor as i64;
    }
    if adjust == BEST_EFFORT_OOM_SCORE_ADJ as i128 {
        return adjust as i64 - 1;
    }
    adjust as i64
}

fn memory_request(container: &Container) -> i64 {
    container_list(container, Kind::Requests).and_then(|list| list.get("memory")).map_or(0, value)
}

#[derive(Clone, Copy)]
enum Kind {
    Requests,
    Limits,
}

fn container_list(container: &Container, kind: Kind) -> Option<&BTreeMap<String, Quantity>> {
    let resources = container.resources.as_ref()?;
    match kind {
        Kind::Requests => resources.requests.as_ref(),
        Kind::Limits => resources.limits.as_ref(),
    }
}

fn positive_milli(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> Option<i128> {
    list?.get(name).and_then(|q| parse_milli(&q.0)).filter(|m| *m > 0)
}

/// The pod's effective CPU and memory (millis) requests or limits: regular containers and
/// sidecars summed, at least the largest init container plus the sidecars started before it
/// (upstream's `PodRequests`/`PodLimits` without overhead).
fn pod_totals(pod: &Pod, kind: Kind) -> BTreeMap<&'static str, i128> {
    let mut totals: BTreeMap<&'static str, i128> = BTreeMap::new();
    let Some(spec) = pod.spec.as_ref() else { return totals };
    let amounts = |container: &Container| -> BTreeMap<&'static str, i128> {
        let list = container_list(container, kind);
        ["cpu", "memory"]
            .into_iter()
            .filter_map(|name| Some((name, list?.get(name).and_then(|q| parse_milli(&q.0))?)))
            .collect()
    };
    for container in &spec.containers {
        for (name, amount) in amounts(container) {
            *totals.entry(name).or_default() += amount;
        }
    }
    let mut sidecars: BTreeMap<&'static str, i128> = BTreeMap::new();
    let mut init_max: BTreeMap<&'static str, i128> = BTreeMap::new();
    for container in spec.init_containers.iter().flatten() {
        let own = amounts(container);
        let mut running = sidecars.clone();
        for (name, amount) in &own {
            *running.entry(name).or_default() += amount;
        }
        if container.restart_policy.as_deref() == Some("Always") {
            for (name, amount) in own {
                *totals.entry(name).or_default() += amount;
            }
            sidecars = running.clone();
        }
        for (name, amount) in running {
            let max = init_max.entry(name).or_default();
            *max = (*max).max(amount);
        }
    }
    for (name, amount) in init_max {
        let total = totals.entry(name).or_default();
        *total = (*total).max(amount);
    }
    totals
}

pub use skiff_quantity::{ceil_div, milli_value, parse_milli, value};

fn clamp_i64(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
#[path = "tests_resources.rs"]
mod tests;
