//! The scheduler's view of the cluster: each node with the pods on it and
//! what they use, and each pod with what the plugins need of it, computed once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::resources::{Resources, node_allocatable, pod_non_zero_requests, pod_requests};
use super::selectors::{Labels, selector_matches};

/// A pod affinity or anti-affinity term, with matchLabelKeys and
/// mismatchLabelKeys folded into its selector (as upstream does at admission).
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// `None` (a nil selector) selects no pod; an empty one selects every pod.
    pub selector: Option<LabelSelector>,
    /// Namespaces the term looks in (the pod's own when the term names none and has no namespaceSelector).
    pub namespaces: BTreeSet<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: String,
}

/// A weighted (preferred) term.
#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    pub term: AffinityTerm,
    pub weight: i64,
}

impl AffinityTerm {
    fn new(pod: &Pod, term: &PodAffinityTerm) -> Self {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let mut selector = term.label_selector.clone();
        let mut add = |key: &String, operator: &str| {
            if let (Some(value), Some(selector)) = (labels.get(key), selector.as_mut()) {
                selector.match_expressions.get_or_insert_with(Vec::new).push(LabelSelectorRequirement {
                    key: key.clone(),
                    operator: operator.to_owned(),
                    values: Some(vec![value.clone()]),
                });
            }
        };
        term.match_label_keys.iter().flatten().for_each(|k| add(k, "In"));
        term.mismatch_label_keys.iter().flatten().for_each(|k| add(k, "NotIn"));
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(namespace);
        }
        Self {
            selector,
            namespaces,
            namespace_selector: term.namespace_selector.clone(),
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether the term selects `pod`, whose namespace has `namespace_labels`
    /// (a nil label selector selects nothing, as upstream).
    pub fn matches(&self, pod: &PodInfo, namespace_labels: Option<&Labels>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| namespace_labels.is_some_and(|labels| selector_matches(s, labels)));
        in_namespace && self.selector.as_ref().is_some_and(|s| selector_matches(s, &pod.labels))
    }
}

/// A pod as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// What it asks of a node (upstream's PodRequests).
    pub requests: Resources,
    /// The same with the scoring defaults for missing CPU and memory.
    pub non_zero_requests: Resources,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let anti_affinity = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms.into_iter().flatten().map(|t| AffinityTerm::new(&pod, t)).collect()
        };
        let preferred = |terms: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
            terms
                .into_iter()
                .flatten()
                .map(|w| WeightedAffinityTerm {
                    term: AffinityTerm::new(&pod, &w.pod_affinity_term),
                    weight: i64::from(w.weight),
                })
                .collect::<Vec<_>>()
        };
        Self {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            requests: pod_requests(&pod),
            non_zero_requests: pod_non_zero_requests(&pod),
            required_affinity: required(
                pod_affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            required_anti_affinity: required(
                anti_affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_affinity: preferred(
                pod_affinity.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_anti_affinity: preferred(
                anti_affinity.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            pod,
        }
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// The pod's priority (0 when not set).
    pub fn priority(&self) -> i32 {
        self.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
    }

    /// The host ports its containers ask for: (hostIP, protocol, port).
    pub fn host_ports(&self) -> Vec<HostPort> {
        let containers = self.pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
        let init = self.pod.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
        containers
            .iter()
            .chain(init.iter().filter(|c| c.restart_policy.as_deref() == Some("Always")))
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.host_port.is_some_and(|h| h > 0))
            .map(|p| HostPort {
                ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".to_owned()),
                protocol: p.protocol.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "TCP".to_owned()),
                port: p.host_port.unwrap_or_default(),
            })
            .collect()
    }
}

/// A host port in use on a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

/// A node with the pods on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: String,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    pub pods: Vec<Arc<PodInfo>>,
    /// Sum of the pods' requests (pods counted in `pods`).
    pub requested: Resources,
    /// Sum of the pods' requests with the scoring defaults.
    pub non_zero_requested: Resources,
    pub used_ports: Vec<HostPort>,
    /// Pods here with any pod affinity or anti-affinity.
    pub pods_with_affinity: usize,
    /// Pods here with required anti-affinity.
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> Self {
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default(),
            allocatable: node_allocatable(&node),
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        }
    }

    /// The node with another version of its object, keeping its pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let pods = std::mem::take(&mut self.pods);
        *self = Self::new(node);
        for pod in pods {
            self.add_pod(pod);
        }
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.requested.pods += 1;
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.used_ports.extend(pod.host_ports());
        self.pods_with_affinity += usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity += usize::from(!pod.required_anti_affinity.is_empty());
        self.pods.push(pod);
    }

    /// Removes the pod with this UID; returns it if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let index = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(index);
        self.requested.subtract(&pod.requests);
        self.requested.pods -= 1;
        self.non_zero_requested.subtract(&pod.non_zero_requests);
        for port in pod.host_ports() {
            if let Some(i) = self.used_ports.iter().position(|p| *p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        self.pods_with_affinity -= usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity -= usize::from(!pod.required_anti_affinity.is_empty());
        Some(pod)
    }

    pub fn is_unschedulable(&self) -> bool {
        self.node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
    }
}

/// Every node (with its pods) and the namespaces' labels, as one scheduling cycle sees them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Labels of each namespace, for namespaceSelector in affinity terms.
    pub namespace_labels: HashMap<String, Labels>,
    /// Claims, volumes and storage classes, for VolumeBinding.
    pub volumes: super::Volumes,
    /// Pending pods nominated to a node by preemption, by node name.
    pub nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Selectors of services and pod owners, for PodTopologySpread's default constraints.
    pub owners: super::Owners,
    /// PodDisruptionBudgets by "namespace/name", for preemption.
    pub budgets: std::collections::BTreeMap<String, super::budgets::DisruptionBudget>,
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        self.index.get(name).map(|i| &mut self.nodes[*i])
    }

    /// Adds a node, or replaces its object if it is known.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.index.get(&name) {
            Some(i) => self.nodes[*i].set_node(node),
            None => {
                self.index.insert(name, self.nodes.len());
                self.nodes.push(NodeInfo::new(node));
            }
        }
    }

    /// Removes a node and returns its pods.
    pub fn remove_node(&mut self, name: &str) -> Vec<Arc<PodInfo>> {
        let Some(i) = self.index.remove(name) else { return Vec::new() };
        let removed = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        removed.pods
    }
}
