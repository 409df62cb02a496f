//! The subsets of a service's Endpoints (pure): one address per pod and
//! port, packed into upstream's canonical layout (RepackSubsets: addresses
//! that offer the same ports share a subset), and truncated past capacity.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service};

use crate::endpointslice::util::{self, find_port, should_pod_be_in_endpoints, should_set_hostname};

/// The most addresses an Endpoints object holds; more are truncated.
pub const MAX_CAPACITY: usize = 1000;
/// The annotation on a truncated Endpoints object.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// The subsets for the service's selected pods, repacked.
pub fn build(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = service.spec.as_ref();
    let publish = spec.and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    let mut subsets = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(mut address) = address_for(service, pod) else { continue };
        if should_set_hostname(pod, service) {
            address.hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone());
        }
        let ready = publish || crate::pods::is_ready(pod);
        let subset = |ports: Option<Vec<EndpointPort>>| EndpointSubset {
            addresses: ready.then(|| vec![address.clone()]),
            not_ready_addresses: (!ready).then(|| vec![address.clone()]),
            ports,
        };
        if ports.is_empty() {
            if headless {
                subsets.push(subset(None));
            }
            continue;
        }
        for port in ports {
            let Some(number) = find_port(pod, port) else { continue };
            subsets.push(subset(Some(vec![EndpointPort {
                name: port.name.clone().filter(|n| !n.is_empty()),
                port: number,
                protocol: Some(util::protocol(port.protocol.as_ref()).to_owned()),
                app_protocol: port.app_protocol.clone(),
            }])));
        }
    }
    repack(subsets)
}

/// The pod's address of the service's (first) IP family.
fn address_for(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let spec = service.spec.as_ref();
    let status = pod.status.as_ref();
    let ipv6 = match spec.and_then(|s| s.ip_families.as_ref()).and_then(|f| f.first()) {
        Some(family) => family == "IPv6",
        None if util::is_service_ip_set(service) => {
            spec.and_then(|s| s.cluster_ip.as_deref()).is_some_and(|ip| ip.contains(':'))
        }
        None => status.and_then(|s| s.pod_ip.as_deref()).is_some_and(|ip| ip.contains(':')),
    };
    let ip = status.and_then(|s| s.pod_ips.as_ref())?.iter().map(|p| &p.ip).find(|ip| ip.contains(':') == ipv6)?;
    Some(EndpointAddress {
        ip: ip.clone(),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        hostname: None,
    })
}

/// A port, in a comparable form; `None` stands for "no ports" (a headless service without any).
type PortKey = Option<(String, i32, String, String)>;
/// An address, by IP and pod UID.
type AddressKey = (String, String);

fn address_key(address: &EndpointAddress) -> AddressKey {
    (address.ip.clone(), address.target_ref.as_ref().and_then(|t| t.uid.clone()).unwrap_or_default())
}

/// Expands the subsets to (port, address, ready) and packs them again:
/// each set of addresses (with their readiness) gets one subset with all
/// the ports it offers; an address not ready on a port is not ready there.
pub fn repack(subsets: Vec<EndpointSubset>) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut ports: BTreeMap<PortKey, (Option<EndpointPort>, BTreeMap<AddressKey, bool>)> = BTreeMap::new();
    for subset in subsets {
        let offered: Vec<Option<EndpointPort>> = match subset.ports {
            Some(list) if !list.is_empty() => list.into_iter().map(Some).collect(),
            _ => vec![None],
        };
        let all = subset.addresses.into_iter().flatten().map(|a| (a, true));
        let all = all.chain(subset.not_ready_addresses.into_iter().flatten().map(|a| (a, false)));
        for (address, ready) in all {
            let key = address_key(&address);
            addresses.entry(key.clone()).or_insert(address);
            for port in &offered {
                let port_key = port.as_ref().map(|p| {
                    let protocol = p.protocol.clone().unwrap_or_default();
                    (p.name.clone().unwrap_or_default(), p.port, protocol, p.app_protocol.clone().unwrap_or_default())
                });
                let readiness = &mut ports.entry(port_key).or_insert_with(|| (port.clone(), BTreeMap::new())).1;
                let was = readiness.entry(key.clone()).or_insert(ready);
                *was = *was && ready;
            }
        }
    }
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, Vec<Option<EndpointPort>>> = BTreeMap::new();
    for (port, readiness) in ports.into_values() {
        groups.entry(readiness.into_iter().collect()).or_default().push(port);
    }
    let mut packed: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(members, ports)| {
            let pick = |ready: bool| {
                let list: Vec<EndpointAddress> = members
                    .iter()
                    .filter(|(_, r)| *r == ready)
                    .filter_map(|(k, _)| addresses.get(k).cloned())
                    .collect();
                (!list.is_empty()).then_some(list)
            };
            let ports: Vec<EndpointPort> = ports.into_iter().flatten().collect();
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    packed.sort_by_cached_key(|s| serde_json::to_string(s).unwrap_or_default());
    packed
}

/// The number of addresses (ready and not) in the subsets.
pub fn count(subsets: &[EndpointSubset]) -> usize {
    subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len) + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum()
}

/// Whether the over-capacity annotation is as it should be: absent and
/// within capacity (over capacity, the subsets need truncating anyway).
pub fn capacity_annotation_correct(annotations: &BTreeMap<String, String>, subsets: &[EndpointSubset]) -> bool {
    count(subsets) <= MAX_CAPACITY && !annotations.contains_key(OVER_CAPACITY)
}

/// Truncates the subsets to MAX_CAPACITY addresses, spread over the subsets
/// in proportion and not-ready ones first to go; whether it truncated.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let len = |list: &Option<Vec<EndpointAddress>>| list.as_ref().map_or(0, Vec::len);
    let ready: usize = subsets.iter().map(|s| len(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| len(&s.not_ready_addresses)).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready { (MAX_CAPACITY, ready) } else { (MAX_CAPACITY - ready, not_ready) };
    let mut room = max;
    for subset in subsets.iter_mut() {
        let in_subset = if truncate_ready { len(&subset.addresses) } else { len(&subset.not_ready_addresses) };
        let share = (in_subset * max).div_ceil(total).min(room);
        if truncate_ready {
            if let Some(list) = subset.addresses.as_mut() {
                list.truncate(share);
            }
            subset.not_ready_addresses = None;
            room -= len(&subset.addresses);
        } else {
            if let Some(list) = subset.not_ready_addresses.as_mut() {
                list.truncate(share);
            }
            room -= len(&subset.not_ready_addresses);
        }
        for list in [&mut subset.addresses, &mut subset.not_ready_addresses] {
            if list.as_ref().is_some_and(Vec::is_empty) {
                *list = None;
            }
        }
    }
    true
}

#[cfg(test)]
#[path = "subsets_tests.rs"]
mod tests;
