//! Resource amounts: quantities as kube-scheduler counts them (CPU in
//! millicores, everything else in whole units), a pod's effective requests
//! and a node's allocatable.
//!
//! Quantity parsing is written here because k8s-openapi keeps a Quantity as
//! its string and no maintained crate parses Kubernetes' suffixes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU a container without a CPU request counts as, for scoring only (upstream's DefaultMilliCPURequest).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request counts as, for scoring only (DefaultMemoryRequest).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of every resource the scheduler counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Pods (only meaningful for a node's allocatable).
    pub pods: i64,
    /// Extended resources and hugepages, by name.
    pub scalar: BTreeMap<String, i64>,
}

pub use skiff_quantity::{milli_value, parse_milli, value};

impl Resources {
    /// From a resource list (requests, limits, capacity, allocatable).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut out = Self::default();
        for (name, quantity) in list {
            out.set(name, quantity);
        }
        out
    }

    fn set(&mut self, name: &str, quantity: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = milli_value(quantity),
            "memory" => self.memory = value(quantity),
            "ephemeral-storage" => self.ephemeral_storage = value(quantity),
            "pods" => self.pods = value(quantity),
            other if is_scalar(other) => {
                self.scalar.insert(other.to_owned(), value(quantity));
            }
            _ => {}
        }
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (name, amount) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() += amount;
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (name, amount) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() -= amount;
        }
    }

    /// Each resource the larger of the two.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (name, amount) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = (*entry).max(*amount);
        }
    }

    /// The amount of a resource by its name (0 if not counted).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.pods,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

/// Extended resources (`example.com/gpu`, not in the kubernetes.io namespace) and hugepages.
pub fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/") && !name.contains(".kubernetes.io/"))
}

fn requests_of(container: &Container) -> Resources {
    container.resources.as_ref().and_then(|r| r.requests.as_ref()).map(Resources::from_list).unwrap_or_default()
}

/// A container's requests with upstream's scoring defaults for missing CPU and memory.
fn non_zero_requests_of(container: &Container) -> Resources {
    let mut requests = requests_of(container);
    let listed = container.resources.as_ref().and_then(|r| r.requests.as_ref());
    if !listed.is_some_and(|l| l.contains_key("cpu")) {
        requests.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !listed.is_some_and(|l| l.contains_key("memory")) {
        requests.memory = DEFAULT_MEMORY_REQUEST;
    }
    requests
}

/// What a pod asks of a node: its containers (and sidecars) together, or the
/// largest init step if larger, plus its overhead (upstream's PodRequests).
pub fn pod_requests(pod: &Pod) -> Resources {
    effective_requests(pod, requests_of)
}

/// The same with upstream's non-zero defaults, as scoring counts a pod.
pub fn pod_non_zero_requests(pod: &Pod) -> Resources {
    effective_requests(pod, non_zero_requests_of)
}

fn effective_requests(pod: &Pod, of: fn(&Container) -> Resources) -> Resources {
    let Some(spec) = pod.spec.as_ref() else { return Resources::default() };
    let mut total = Resources::default();
    for container in &spec.containers {
        total.add(&of(container));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for container in spec.init_containers.iter().flatten() {
        let mut step = of(container);
        if container.restart_policy.as_deref() == Some("Always") {
            total.add(&step);
            sidecars.add(&step);
            step = sidecars.clone();
        } else {
            step.add(&sidecars);
        }
        init_peak.max_with(&step);
    }
    total.max_with(&init_peak);
    if let Some(overhead) = spec.overhead.as_ref() {
        total.add(&Resources::from_list(overhead));
    }
    total
}

/// What a node offers to pods (allocatable, or capacity when allocatable is not reported).
pub fn node_allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref())).map(Resources::from_list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_upstream_rounds_them() {
        let q = |s: &str| Quantity(s.to_owned());
        assert_eq!(milli_value(&q("100m")), 100);
        assert_eq!(milli_value(&q("1.5")), 1500);
        assert_eq!(milli_value(&q("2")), 2000);
        assert_eq!(milli_value(&q("1u")), 1, "rounded up");
        assert_eq!(value(&q("1Gi")), 1 << 30);
        assert_eq!(value(&q("500M")), 500_000_000);
        assert_eq!(value(&q("1.5Ki")), 1536);
        assert_eq!(value(&q("1e3")), 1000);
        assert_eq!(value(&q("100m")), 1, "rounded up to a whole unit");
        assert_eq!(parse_milli("12x"), None);
        assert_eq!(parse_milli(""), None);
        assert_eq!(parse_milli("."), None);
    }

    fn container(name: &str, cpu: &str, restart: Option<&str>) -> serde_json::Value {
        let mut c = serde_json::json!({ "name": name, "image": "i", "resources": { "requests": { "cpu": cpu } } });
        if let Some(policy) = restart {
            c["restartPolicy"] = serde_json::json!(policy);
        }
        c
    }

    #[test]
    fn pod_requests_count_init_containers_sidecars_and_overhead() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {
                "containers": [container("a", "100m", None), container("b", "200m", None)],
                "initContainers": [container("i1", "500m", None), container("s", "50m", Some("Always")), container("i2", "400m", None)],
                "overhead": { "cpu": "10m" },
            },
        }))
        .expect("pod");
        // Containers 300m + sidecar 50m = 350m; init steps: 500m, 50m, 400m + 50m = 450m → 500m; + 10m overhead.
        assert_eq!(pod_requests(&pod).milli_cpu, 510);
        let bare: Pod =
            serde_json::from_value(serde_json::json!({ "spec": { "containers": [{ "name": "a" }] } })).expect("pod");
        assert_eq!(pod_requests(&bare), Resources::default());
        let non_zero = pod_non_zero_requests(&bare);
        assert_eq!((non_zero.milli_cpu, non_zero.memory), (100, 200 * 1024 * 1024));
    }
}
