//! The EndpointSlice plan of one service (upstream's Reconciler): the
//! endpoints its pods should have, grouped by address type and by the set of
//! ports they serve, fitted into the existing slices with as few changes as
//! possible; slices to create, update and delete. Pure: no API calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::util::{self, HEADLESS_SERVICE, find_port, is_service_ip_set, should_set_hostname};

/// The label naming the service of a slice.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The node label with its zone.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// What a plan needs besides the service and its pods.
pub struct Inputs<'a> {
    /// The controller's name, for the managed-by label.
    pub controller_name: &'a str,
    pub max_endpoints_per_slice: usize,
    /// Looks a node up by name.
    pub node: &'a (dyn Fn(&str) -> Option<Arc<Node>> + Sync),
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("controller_name", &self.controller_name)
            .field("max_endpoints_per_slice", &self.max_endpoints_per_slice)
            .finish_non_exhaustive()
    }
}

/// The writes that bring a service's slices to what its pods say.
#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (no name: they carry generateName).
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
    /// Pods left out for a reason worth a retry (their node is unknown).
    pub errors: Vec<String>,
}

/// A set of endpoint ports, in a canonical order, to group endpoints by.
type PortKey = Vec<(String, Option<i32>, String, String)>;

/// What identifies an endpoint across updates: addresses, hostname, pod.
type EndpointKey = (Vec<String>, String, String, String);

fn port_key(ports: &[EndpointPort]) -> PortKey {
    let mut key: PortKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port,
                util::protocol(p.protocol.as_ref()).to_owned(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

fn endpoint_key(endpoint: &Endpoint) -> EndpointKey {
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    let target = endpoint.target_ref.as_ref();
    (
        addresses,
        endpoint.hostname.clone().unwrap_or_default(),
        target.and_then(|t| t.namespace.clone()).unwrap_or_default(),
        target.and_then(|t| t.name.clone()).unwrap_or_default(),
    )
}

/// Equal in what the key does not cover (upstream's EndpointsEqualBeyondHash).
fn equal_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let target = |e: &Endpoint| e.target_ref.as_ref().map(|t| ObjectReference { resource_version: None, ..t.clone() });
    a.node_name == b.node_name
        && a.zone == b.zone
        && a.conditions.as_ref().map(|c| (c.ready, c.serving, c.terminating))
            == b.conditions.as_ref().map(|c| (c.ready, c.serving, c.terminating))
        && target(a) == target(b)
}

/// The address types a service's slices have (from its IP families, else its cluster IP).
pub fn address_types(service: &Service) -> BTreeSet<&'static str> {
    let spec = service.spec.as_ref();
    let mut types: BTreeSet<&'static str> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some("IPv4"),
            "IPv6" => Some("IPv6"),
            _ => None,
        })
        .collect();
    if types.is_empty() {
        if is_service_ip_set(service) {
            let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or_default();
            types.insert(if ip.contains(':') { "IPv6" } else { "IPv4" });
        } else {
            types.extend(["IPv4", "IPv6"]);
        }
    }
    types
}

/// The ports a pod serves for the service (those it cannot serve left out).
pub fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let spec = service.spec.as_ref();
    let ports = spec.and_then(|s| s.ports.as_ref()).map(Vec::as_slice).unwrap_or_default();
    ports
        .iter()
        .filter_map(|port| {
            let number = find_port(pod, port)?;
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(util::protocol(port.protocol.as_ref()).to_owned()),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

/// The endpoint of a pod for the service (upstream's podToEndpoint).
pub fn pod_to_endpoint(pod: &Pod, node: Option<&Node>, service: &Service, address_type: &str) -> Endpoint {
    let serving = crate::pods::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = service.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let ready = publish || (serving && !terminating);
    let status = pod.status.as_ref();
    let addresses = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .filter(|ip| ip.contains(':') == (address_type == "IPv6"))
        .collect();
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty());
    let zone = node.and_then(|n| n.labels().get(LABEL_TOPOLOGY_ZONE)).filter(|z| !z.is_empty()).cloned();
    Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        node_name,
        zone,
        hostname: should_set_hostname(pod, service)
            .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
            .flatten(),
        ..Endpoint::default()
    }
}

/// A slice's labels for the service: the service's own (minus the reserved
/// ones) plus service name, managed-by and headless; and whether the
/// non-reserved ones differ from the slice's (upstream's setEndpointSliceLabels).
fn slice_labels(slice: &EndpointSlice, service: &Service, controller: &str) -> (BTreeMap<String, String>, bool) {
    let reserved = |key: &str| matches!(key, LABEL_SERVICE_NAME | LABEL_MANAGED_BY | HEADLESS_SERVICE);
    let own: BTreeMap<_, _> = slice.labels().iter().filter(|(k, _)| !reserved(k)).collect();
    let mut labels: BTreeMap<String, String> =
        service.labels().iter().filter(|(k, _)| !reserved(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let changed = own != labels.iter().collect::<BTreeMap<_, _>>();
    if !is_service_ip_set(service) {
        labels.insert(HEADLESS_SERVICE.to_owned(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.to_owned(), service.name_any());
    labels.insert(LABEL_MANAGED_BY.to_owned(), controller.to_owned());
    (labels, changed)
}

/// A new, empty slice of the service (generateName `<service>-`, owned by it).
fn new_slice(service: &Service, ports: Vec<EndpointPort>, address_type: &str, controller: &str) -> EndpointSlice {
    let name = service.name_any();
    let prefix = if name.len() < 253 { format!("{name}-") } else { name };
    let mut slice = EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: service.metadata.namespace.clone(),
            owner_references: Some(vec![service_owner_reference(service)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_owned(),
        endpoints: Vec::new(),
        ports: Some(ports),
    };
    slice.metadata.labels = Some(slice_labels(&slice, service, controller).0);
    slice
}

fn service_owner_reference(service: &Service) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Service".to_owned(),
        name: service.name_any(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the service owns the slice.
pub fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    let uid = service.metadata.uid.as_deref().unwrap_or_default();
    slice.owner_references().iter().any(|o| o.uid == uid && o.kind == "Service" && o.api_version == "v1")
}

fn ports_of(slice: &EndpointSlice) -> &[EndpointPort] {
    slice.ports.as_deref().unwrap_or_default()
}

/// Whether an existing slice is the placeholder the service would get anyway.
fn same_placeholder(existing: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    existing.metadata.namespace == placeholder.metadata.namespace
        && existing.labels() == placeholder.labels()
        && existing.owner_references() == placeholder.owner_references()
        && existing.address_type == placeholder.address_type
        && existing.endpoints.is_empty()
        && ports_of(existing).is_empty()
}

/// The plan for one service: `existing` are the slices labelled for it and
/// managed by this controller (not being deleted).
pub fn plan(service: &Service, pods: &[Arc<Pod>], existing: &[Arc<EndpointSlice>], inputs: &Inputs<'_>) -> Plan {
    let types = address_types(service);
    let mut plan = Plan::default();
    let mut by_type: BTreeMap<&str, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        match types.get(slice.address_type.as_str()) {
            Some(t) => by_type.entry(t).or_default().push(slice),
            None => plan.delete.push(slice.as_ref().clone()),
        }
    }
    let mut stale_types = std::mem::take(&mut plan.delete);
    for address_type in &types {
        let slices = by_type.remove(address_type).unwrap_or_default();
        plan_address_type(service, pods, &slices, address_type, inputs, &mut plan);
    }
    plan.delete.append(&mut stale_types);
    plan
}

fn plan_address_type(
    service: &Service,
    pods: &[Arc<Pod>],
    existing: &[&EndpointSlice],
    address_type: &str,
    inputs: &Inputs<'_>,
    plan: &mut Plan,
) {
    let (mut create, mut update, mut delete) = (Vec::new(), Vec::new(), Vec::new());
    let mut existing_by_ports: BTreeMap<PortKey, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        if owned_by(slice, service) {
            existing_by_ports.entry(port_key(ports_of(slice))).or_default().push(slice);
        } else {
            delete.push((*slice).clone());
        }
    }
    let publish = service.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let mut desired: BTreeMap<PortKey, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)> = BTreeMap::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(service, pod);
        let key = port_key(&ports);
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        let node = (inputs.node)(node_name);
        if node.is_none() && !publish {
            plan.errors.push(format!(
                "skipping Pod {} for Service {}/{}: Node {node_name} Not Found",
                pod.name_any(),
                service.namespace().unwrap_or_default(),
                service.name_any()
            ));
            continue;
        }
        let endpoint = pod_to_endpoint(pod, node.as_deref(), service, address_type);
        let entry = desired.entry(key).or_insert_with(|| (ports, BTreeMap::new()));
        if !endpoint.addresses.is_empty() {
            entry.1.insert(endpoint_key(&endpoint), endpoint);
        }
    }
    for (key, (ports, endpoints)) in desired.iter_mut() {
        let slices = existing_by_ports.get(key).map(Vec::as_slice).unwrap_or_default();
        let group = Group { service, ports, address_type, inputs };
        let (c, u, d) = group.reconcile(slices, std::mem::take(endpoints));
        create.extend(c);
        update.extend(u);
        delete.extend(d);
    }
    for (key, slices) in &existing_by_ports {
        if !desired.contains_key(key) {
            delete.extend(slices.iter().map(|s| (*s).clone()));
        }
    }
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(service, Vec::new(), address_type, inputs.controller_name);
        if delete.len() == 1 && same_placeholder(&delete[0], &placeholder) {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // Creates that can reuse a slice about to be deleted become updates of it.
    let mut kept = Vec::new();
    for doomed in delete {
        match create.pop() {
            Some(mut slice) if doomed.address_type == slice.address_type && owned_by(&doomed, service) => {
                slice.metadata.name = doomed.metadata.name.clone();
                slice.metadata.generate_name = None;
                slice.metadata.resource_version = doomed.metadata.resource_version.clone();
                slice.metadata.annotations = doomed.metadata.annotations.clone();
                update.push(slice);
            }
            Some(slice) => {
                create.push(slice);
                kept.push(doomed);
            }
            None => kept.push(doomed),
        }
    }
    plan.create.extend(create);
    plan.update.extend(update);
    plan.delete.extend(kept);
}

/// The slices of one address type and set of ports.
struct Group<'a> {
    service: &'a Service,
    ports: &'a [EndpointPort],
    address_type: &'a str,
    inputs: &'a Inputs<'a>,
}

impl Group<'_> {
    /// Keeps desired endpoints where they are, drops the others, fills the
    /// slices being changed anyway, then the unchanged slice that ends closest
    /// to full, then new slices (upstream's reconcileByPortMapping).
    fn reconcile(
        &self,
        existing: &[&EndpointSlice],
        mut desired: BTreeMap<EndpointKey, Endpoint>,
    ) -> (Vec<EndpointSlice>, Vec<EndpointSlice>, Vec<EndpointSlice>) {
        let max = self.inputs.max_endpoints_per_slice.max(1);
        let controller = self.inputs.controller_name;
        let mut to_update: Vec<EndpointSlice> = Vec::new();
        let mut to_delete = Vec::new();
        let mut unchanged: Vec<EndpointSlice> = Vec::new();
        let mut sorted: Vec<&EndpointSlice> = existing.to_vec();
        sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for slice in sorted {
            let mut kept = Vec::new();
            let mut changed = false;
            for endpoint in &slice.endpoints {
                if let Some(wanted) = desired.remove(&endpoint_key(endpoint)) {
                    changed |= !equal_beyond_key(&wanted, endpoint);
                    kept.push(wanted);
                }
            }
            let (labels, labels_changed) = slice_labels(slice, self.service, controller);
            if changed || kept.len() != slice.endpoints.len() {
                if kept.is_empty() {
                    to_delete.push(slice.clone());
                } else {
                    let mut next = slice.clone();
                    next.endpoints = kept;
                    next.metadata.labels = Some(labels);
                    to_update.push(next);
                }
            } else if labels_changed {
                let mut next = slice.clone();
                next.metadata.labels = Some(labels);
                to_update.push(next);
            } else {
                unchanged.push(slice.clone());
            }
        }
        let pop = |desired: &mut BTreeMap<EndpointKey, Endpoint>| desired.pop_first().map(|(_, e)| e);
        if !desired.is_empty() && !to_update.is_empty() {
            to_update.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
            for slice in &mut to_update {
                while slice.endpoints.len() < max
                    && let Some(endpoint) = pop(&mut desired)
                {
                    slice.endpoints.push(endpoint);
                }
            }
        }
        let mut to_create = Vec::new();
        while !desired.is_empty() {
            let fill = if desired.len() < max { closest_to_full(&unchanged, desired.len(), max) } else { None };
            let mut slice = match fill {
                Some(index) => unchanged.remove(index),
                None => new_slice(self.service, self.ports.to_vec(), self.address_type, controller),
            };
            while slice.endpoints.len() < max
                && let Some(endpoint) = pop(&mut desired)
            {
                slice.endpoints.push(endpoint);
            }
            if slice.metadata.name.is_some() { to_update.push(slice) } else { to_create.push(slice) }
        }
        (to_create, to_update, to_delete)
    }
}

/// The slice that is closest to full once `adding` endpoints go in (upstream's getSliceToFill).
fn closest_to_full(slices: &[EndpointSlice], adding: usize, max: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (index, slice) in slices.iter().enumerate() {
        let Some(room) = max.checked_sub(adding + slice.endpoints.len()) else { continue };
        if best.is_none_or(|(_, least)| room < least) {
            best = Some((index, room));
            if room == 0 {
                break;
            }
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;
