//! The Node's status computed as upstream's setters compute it (pure, over
//! the host's and the runtime's facts and the previous status): capacity
//! and allocatable, the pressure and Ready conditions with their
//! transition times, addresses, node info, daemon endpoints and images.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::host::{FsStats, HostFacts, go_os_arch};
use crate::runtime::api;

/// The most images the status lists (upstream's nodeStatusMaxImages).
pub const MAX_IMAGES: usize = 50;
/// The most names listed per image (upstream's MaxNamesPerImageInNodeStatus).
pub const MAX_NAMES_PER_IMAGE: usize = 5;

/// Upstream's default hard eviction thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvictionThresholds {
    /// `memory.available` below this many bytes (100Mi).
    pub memory_available: u64,
    /// `nodefs.available` below this fraction of the filesystem (10%).
    pub nodefs_available: f64,
    /// `nodefs.inodesFree` below this fraction (5%).
    pub nodefs_inodes_free: f64,
    /// `imagefs.available` below this fraction (15%).
    pub imagefs_available: f64,
    /// `pid.available` below this fraction of pid_max; upstream sets no default, so `None`.
    pub pid_available: Option<f64>,
}

impl Default for EvictionThresholds {
    fn default() -> Self {
        Self {
            memory_available: 100 * 1024 * 1024,
            nodefs_available: 0.10,
            nodefs_inodes_free: 0.05,
            imagefs_available: 0.15,
            pid_available: None,
        }
    }
}

/// Which resources the node is short of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl EvictionThresholds {
    /// Compares the host's free resources with the thresholds; `image_fs` is the runtime's image filesystem.
    pub fn pressure(&self, host: &HostFacts, image_fs: &FsStats) -> Pressure {
        let below = |free: u64, total: u64, fraction: f64| total > 0 && (free as f64) < total as f64 * fraction;
        let memory = host.memory.total > 0 && host.memory.eviction_available() < self.memory_available;
        let disk = below(host.root_fs.available, host.root_fs.capacity, self.nodefs_available)
            || below(host.root_fs.inodes_free, host.root_fs.inodes, self.nodefs_inodes_free)
            || below(image_fs.available, image_fs.capacity, self.imagefs_available);
        let pid = self
            .pid_available
            .is_some_and(|fraction| below(host.pid_max.saturating_sub(host.processes), host.pid_max, fraction));
        Pressure { memory, disk, pid }
    }
}

/// What the runtime said this round.
#[derive(Debug, Clone, Default)]
pub struct RuntimeFacts {
    /// `Version` (None when the call failed).
    pub version: Option<api::VersionResponse>,
    /// `Status`, or the error of the call.
    pub status: Option<Result<api::RuntimeStatus, String>>,
    /// `ListImages` (None when the call failed: the previous list is kept).
    pub images: Option<Vec<api::Image>>,
}

/// What the node is configured to report.
#[derive(Debug, Clone)]
pub struct StatusInputs<'a> {
    pub node_name: &'a str,
    pub node_ip: std::net::IpAddr,
    pub server_port: u16,
    pub max_pods: u32,
    pub kubelet_version: &'a str,
}

/// A quantity of bytes in canonical BinarySI form (`16Gi`, `8148324Ki`, `94580335255`).
pub fn binary_quantity(bytes: u64) -> Quantity {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if bytes == 0 {
        return Quantity("0".into());
    }
    let (mut value, mut index) = (bytes, 0);
    while index + 1 < SUFFIXES.len() && value % 1024 == 0 {
        value /= 1024;
        index += 1;
    }
    Quantity(format!("{value}{}", SUFFIXES[index]))
}

/// Capacity and allocatable: allocatable is capacity less the hard eviction thresholds.
pub fn resources(
    host: &HostFacts,
    max_pods: u32,
    thresholds: &EvictionThresholds,
) -> (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) {
    let storage_reserved = (host.root_fs.capacity as f64 * thresholds.nodefs_available) as u64;
    let entries = |memory: u64, storage: u64| -> BTreeMap<String, Quantity> {
        [
            ("cpu", Quantity(host.cpus.to_string())),
            ("ephemeral-storage", binary_quantity(storage)),
            ("hugepages-1Gi", Quantity("0".into())),
            ("hugepages-2Mi", Quantity("0".into())),
            ("memory", binary_quantity(memory)),
            ("pods", Quantity(max_pods.to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let capacity = entries(host.memory.total, host.root_fs.capacity);
    let allocatable = entries(
        host.memory.total.saturating_sub(thresholds.memory_available),
        host.root_fs.capacity.saturating_sub(storage_reserved),
    );
    (capacity, allocatable)
}

/// Why the node is not ready, in upstream's words (empty: ready).
pub fn ready_errors(status: Option<&Result<api::RuntimeStatus, String>>) -> Vec<String> {
    let status = match status {
        Some(Ok(status)) => status,
        Some(Err(_)) => return vec!["container runtime is down".into()],
        None => return vec!["container runtime status check may not have completed yet".into()],
    };
    let describe = |kind: &str| match status.conditions.iter().find(|c| c.r#type == kind) {
        Some(c) => format!("{}={} reason:{} message:{}", c.r#type, c.status, c.reason, c.message),
        None => "<nil>".to_owned(),
    };
    let ready = |kind: &str| status.conditions.iter().any(|c| c.r#type == kind && c.status);
    let mut errors = Vec::new();
    if !ready("RuntimeReady") {
        errors.push(format!("container runtime not ready: {}", describe("RuntimeReady")));
    }
    if !ready("NetworkReady") {
        errors.push(format!("container runtime network not ready: {}", describe("NetworkReady")));
    }
    errors
}

/// Upstream's aggregate error text: one error as is, several as `[a, b]`.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Sets condition `type_` to `(status, reason, message)` at `now`: the
/// heartbeat always moves, the transition time only when the status changes.
fn set_condition(
    conditions: &mut Vec<NodeCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let index = match conditions.iter().position(|c| c.type_ == type_) {
        Some(index) => index,
        None => {
            conditions.push(NodeCondition { type_: type_.into(), status: "Unknown".into(), ..Default::default() });
            conditions.len() - 1
        }
    };
    let condition = &mut conditions[index];
    condition.last_heartbeat_time = Some(now.clone());
    if condition.status != status || condition.last_transition_time.is_none() {
        condition.last_transition_time = Some(now.clone());
    }
    condition.status = status.into();
    condition.reason = Some(reason.into());
    condition.message = Some(message.into());
}

/// The conditions after this round, Ready last (as upstream keeps it).
pub fn conditions(
    previous: &[NodeCondition],
    pressure: Pressure,
    ready_errors: &[String],
    now: &Time,
) -> Vec<NodeCondition> {
    let mut conditions: Vec<NodeCondition> = previous.to_vec();
    let (memory, disk, pid) = (pressure.memory, pressure.disk, pressure.pid);
    let pick =
        |on: bool, yes: (&'static str, &'static str), no: (&'static str, &'static str)| if on { yes } else { no };
    let (reason, message) = pick(
        memory,
        ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
        ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    );
    set_condition(&mut conditions, "MemoryPressure", bool_status(memory), reason, message, now);
    let (reason, message) = pick(
        disk,
        ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    );
    set_condition(&mut conditions, "DiskPressure", bool_status(disk), reason, message, now);
    let (reason, message) = pick(
        pid,
        ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
        ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    );
    set_condition(&mut conditions, "PIDPressure", bool_status(pid), reason, message, now);
    if ready_errors.is_empty() {
        set_condition(&mut conditions, "Ready", "True", "KubeletReady", "kubelet is posting ready status", now);
    } else {
        set_condition(&mut conditions, "Ready", "False", "KubeletNotReady", &aggregate(ready_errors), now);
    }
    if let Some(index) = conditions.iter().position(|c| c.type_ == "Ready") {
        let ready = conditions.remove(index);
        conditions.push(ready);
    }
    conditions
}

fn bool_status(on: bool) -> &'static str {
    if on { "True" } else { "False" }
}

/// The image list: largest first, at most [`MAX_IMAGES`], digests then tags, at most [`MAX_NAMES_PER_IMAGE`] names.
pub fn images(list: &[api::Image]) -> Vec<ContainerImage> {
    let mut sorted: Vec<&api::Image> = list.iter().collect();
    sorted.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    sorted
        .into_iter()
        .take(MAX_IMAGES)
        .map(|image| {
            let names: Vec<String> =
                image.repo_digests.iter().chain(&image.repo_tags).take(MAX_NAMES_PER_IMAGE).cloned().collect();
            ContainerImage { names: Some(names), size_bytes: i64::try_from(image.size).ok() }
        })
        .collect()
}

/// The whole status after this round, starting from `previous` (fields we do not set are kept).
pub fn node_status(
    previous: &NodeStatus,
    inputs: &StatusInputs<'_>,
    host: &HostFacts,
    runtime: &RuntimeFacts,
    pressure: Pressure,
    thresholds: &EvictionThresholds,
    now: &Time,
) -> NodeStatus {
    let mut status = previous.clone();
    let (mut capacity, mut allocatable) = resources(host, inputs.max_pods, thresholds);
    // Keep resources others advertise (extended resources), replace ours.
    for (key, value) in previous.capacity.iter().flatten() {
        capacity.entry(key.clone()).or_insert_with(|| value.clone());
    }
    for (key, value) in previous.allocatable.iter().flatten() {
        allocatable.entry(key.clone()).or_insert_with(|| value.clone());
    }
    status.capacity = Some(capacity);
    status.allocatable = Some(allocatable);
    let errors = ready_errors(runtime.status.as_ref());
    status.conditions = Some(conditions(previous.conditions.as_deref().unwrap_or_default(), pressure, &errors, now));
    status.addresses = Some(vec![
        NodeAddress { type_: "InternalIP".into(), address: inputs.node_ip.to_string() },
        NodeAddress { type_: "Hostname".into(), address: inputs.node_name.to_owned() },
    ]);
    status.daemon_endpoints =
        Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(inputs.server_port) }) });
    let previous_info = previous.node_info.clone().unwrap_or_default();
    let runtime_version = match &runtime.version {
        Some(version) => format!("{}://{}", version.runtime_name, version.runtime_version),
        None if !previous_info.container_runtime_version.is_empty() => previous_info.container_runtime_version.clone(),
        None => "containerd://Unknown".to_owned(),
    };
    let (os, arch) = go_os_arch();
    status.node_info = Some(NodeSystemInfo {
        machine_id: host.machine_id.clone(),
        system_uuid: host.system_uuid.clone(),
        boot_id: host.boot_id.clone(),
        kernel_version: host.kernel_version.clone(),
        os_image: host.os_image.clone(),
        container_runtime_version: runtime_version,
        kubelet_version: inputs.kubelet_version.to_owned(),
        // Upstream stopped reporting it (DisableNodeKubeProxyVersion, on by default since 1.31).
        kube_proxy_version: String::new(),
        operating_system: os.to_owned(),
        architecture: arch.to_owned(),
        ..previous_info
    });
    if let Some(list) = &runtime.images {
        status.images = Some(images(list));
    }
    status
}

/// The events upstream's setters record for this round's condition changes:
/// a pressure condition on every change of status (also from none), Ready
/// only when an existing condition flips.
pub fn condition_events(previous: &[NodeCondition], current: &[NodeCondition]) -> Vec<&'static str> {
    let mut events = Vec::new();
    for condition in current {
        let before = previous.iter().find(|c| c.type_ == condition.type_).map(|c| c.status.as_str());
        if before == Some(condition.status.as_str()) {
            continue;
        }
        let on = condition.status == "True";
        let event = match condition.type_.as_str() {
            "MemoryPressure" => Some(if on { "NodeHasInsufficientMemory" } else { "NodeHasSufficientMemory" }),
            "DiskPressure" => Some(if on { "NodeHasDiskPressure" } else { "NodeHasNoDiskPressure" }),
            "PIDPressure" => Some(if on { "NodeHasInsufficientPID" } else { "NodeHasSufficientPID" }),
            "Ready" if before.is_some() => Some(if on { "NodeReady" } else { "NodeNotReady" }),
            _ => None,
        };
        events.extend(event);
    }
    events
}

/// Whether `new` differs from `old` other than in heartbeat times (upstream's nodeStatusHasChanged).
pub fn status_changed(old: &NodeStatus, new: &NodeStatus) -> bool {
    let strip = |status: &NodeStatus| {
        let mut status = status.clone();
        for condition in status.conditions.iter_mut().flatten() {
            condition.last_heartbeat_time = None;
        }
        status
    };
    strip(old) != strip(new)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
