//! Services' cluster IPs and node ports: taken when a service is written
//! (before validation, as kube-apiserver does), given back when the write
//! fails or the service goes, and checked against the services at start.

pub mod kubernetes;
pub mod ranges;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use skiff_store::Backend;

pub use kubernetes::ADVERTISED_PORT;
use ranges::{Ipv4Cidr, Owner, PortRange, Range, range_full};

use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};
use crate::validation::{self, FieldError};

/// The service network of a cluster: where cluster IPs and node ports come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceNetwork {
    /// Cluster IPs (k3s's default 10.43.0.0/16); the first is the `kubernetes` service's.
    pub cidr: Ipv4Cidr,
    /// Node ports (30000-32767 by default, as upstream).
    pub node_ports: PortRange,
}

impl Default for ServiceNetwork {
    fn default() -> Self {
        Self {
            cidr: Ipv4Cidr::new(std::net::Ipv4Addr::new(10, 43, 0, 0), 16),
            node_ports: PortRange { first: 30000, last: 32767 },
        }
    }
}

/// Values one write took, given back if the write does not happen.
#[derive(Debug, Default)]
#[must_use]
pub struct Taken {
    values: Vec<(Range, String)>,
    owner: Option<Owner>,
}

/// Allocates for services.
#[derive(Debug)]
pub struct Allocator {
    network: ServiceNetwork,
    store: Arc<dyn Backend>,
}

fn is_services(resource: &Resource) -> bool {
    (resource.group, resource.plural) == ("", "services")
}

fn spec(service: &Value) -> &Value {
    service.get("spec").unwrap_or(&Value::Null)
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn service_type(service: &Value) -> &str {
    match text(spec(service), "type") {
        "" => "ClusterIP",
        other => other,
    }
}

fn needs_cluster_ip(service: &Value) -> bool {
    service_type(service) != "ExternalName" && text(spec(service), "clusterIP") != "None"
}

fn needs_node_ports(service: &Value) -> bool {
    match service_type(service) {
        "NodePort" => true,
        "LoadBalancer" => spec(service).get("allocateLoadBalancerNodePorts") != Some(&Value::Bool(false)),
        _ => false,
    }
}

fn needs_health_check_port(service: &Value) -> bool {
    service_type(service) == "LoadBalancer" && text(spec(service), "externalTrafficPolicy") == "Local"
}

fn cluster_ip(service: &Value) -> &str {
    let spec = spec(service);
    match text(spec, "clusterIP") {
        "" => spec.pointer("/clusterIPs/0").and_then(Value::as_str).unwrap_or_default(),
        ip => ip,
    }
}

fn node_port(port: &Value) -> i64 {
    port.get("nodePort").and_then(Value::as_i64).unwrap_or(0)
}

fn ports(service: &Value) -> &[Value] {
    spec(service).get("ports").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn spec_mut(service: &mut Value) -> Option<&mut Map<String, Value>> {
    service.get_mut("spec").and_then(Value::as_object_mut)
}

fn owner_of(service: &Value) -> Owner {
    Owner {
        namespace: crate::object::namespace(service).unwrap_or_default().to_owned(),
        name: crate::object::name(service).unwrap_or_default().to_owned(),
        uid: crate::object::uid(service).unwrap_or_default().to_owned(),
    }
}

/// What a service holds: its cluster IP and node ports.
fn held(service: &Value) -> BTreeSet<(bool, String)> {
    let mut values = BTreeSet::new();
    let ip = cluster_ip(service);
    if needs_cluster_ip(service) && !ip.is_empty() && ip != "None" {
        values.insert((true, ip.to_owned()));
    }
    for port in ports(service) {
        if node_port(port) > 0 {
            values.insert((false, node_port(port).to_string()));
        }
    }
    let health = spec(service).get("healthCheckNodePort").and_then(Value::as_i64).unwrap_or(0);
    if health > 0 {
        values.insert((false, health.to_string()));
    }
    values
}

impl Allocator {
    pub fn new(network: ServiceNetwork, store: Arc<dyn Backend>) -> Self {
        Self { network, store }
    }

    pub fn network(&self) -> &ServiceNetwork {
        &self.network
    }

    fn range(&self, ip: bool) -> Range {
        if ip { Range::Ips(self.network.cidr) } else { Range::Ports(self.network.node_ports) }
    }

    /// Takes what a new service needs, filling in the values it leaves to the server.
    pub async fn on_create(&self, resource: &Resource, service: &mut Value) -> ApiResult<Taken> {
        if !is_services(resource) {
            return Ok(Taken::default());
        }
        self.take_new(resource, service, &BTreeSet::new()).await
    }

    /// Takes what an updated service needs beyond what it held; returns that
    /// and the values to give back once the update is stored.
    pub async fn on_update(
        &self,
        resource: &Resource,
        old: &Value,
        new: &mut Value,
    ) -> ApiResult<(Taken, Vec<(bool, String)>)> {
        if !is_services(resource) {
            return Ok((Taken::default(), Vec::new()));
        }
        let before = held(old);
        let taken = self.take_new(resource, new, &before).await?;
        let after = held(new);
        Ok((taken, before.difference(&after).cloned().collect()))
    }

    /// Gives back what a write took when the write did not happen.
    pub async fn give_back(&self, taken: Taken) {
        let Some(owner) = taken.owner else { return };
        for (range, value) in taken.values {
            if let Err(error) = range.give_back(&*self.store, &value, &owner).await {
                tracing::warn!(value, error = %error.message, "giving back a service allocation failed");
            }
        }
    }

    /// Gives back values a service no longer holds.
    pub async fn release(&self, service: &Value, values: Vec<(bool, String)>) {
        let owner = owner_of(service);
        let values = values.into_iter().map(|(ip, value)| (self.range(ip), value)).collect();
        self.give_back(Taken { values, owner: Some(owner) }).await;
    }

    /// After a service was removed: everything it held goes back.
    pub async fn on_removed(&self, resource: &Resource, service: &Value) {
        if is_services(resource) {
            self.release(service, held(service).into_iter().collect()).await;
        }
    }

    async fn take_new(
        &self,
        resource: &Resource,
        service: &mut Value,
        had: &BTreeSet<(bool, String)>,
    ) -> ApiResult<Taken> {
        let owner = owner_of(service);
        let mut taken = Taken { values: Vec::new(), owner: Some(owner.clone()) };
        let mut errors = Vec::new();
        match self.take_values(service, had, &owner, &mut taken, &mut errors).await {
            Ok(()) if errors.is_empty() => Ok(taken),
            Ok(()) => {
                self.give_back(taken).await;
                Err(ApiError::invalid_fields(resource, &owner.name, &errors))
            }
            Err(error) => {
                self.give_back(taken).await;
                Err(error)
            }
        }
    }

    async fn take_values(
        &self,
        service: &mut Value,
        had: &BTreeSet<(bool, String)>,
        owner: &Owner,
        taken: &mut Taken,
        errors: &mut Vec<FieldError>,
    ) -> ApiResult<()> {
        let store = &*self.store;
        // The cluster IP.
        if needs_cluster_ip(service) {
            let ips = Range::Ips(self.network.cidr);
            let wanted = cluster_ip(service).to_owned();
            if wanted.is_empty() {
                let ip = ips.take_any(store, owner, 16, 256).await?.ok_or_else(|| range_full("serviceIP"))?;
                taken.values.push((ips, ip.clone()));
                set_cluster_ip(service, &ip);
            } else if !had.contains(&(true, wanted.clone())) {
                match ips.take(store, &wanted, owner).await? {
                    Ok(()) => taken.values.push((ips, wanted.clone())),
                    Err(refused) => errors.push(FieldError::invalid_rendered(
                        "spec.clusterIPs",
                        format!("[]string{{{}}}", validation::gofmt::quote(&wanted)),
                        format!("failed to allocate IP {wanted}: {}", ips.refusal(&wanted, &refused)),
                    )),
                }
                set_cluster_ip(service, &wanted);
            }
        }
        // Node ports, by port; one port number may serve two protocols.
        let nodes = Range::Ports(self.network.node_ports);
        let dynamic = needs_node_ports(service);
        let mut assigned: HashMap<usize, String> = HashMap::new();
        let mut seen = BTreeSet::new();
        for (i, port) in ports(service).iter().enumerate() {
            let wanted = node_port(port);
            if wanted == 0 {
                if dynamic {
                    let value = nodes.take_any(store, owner, 32, 128).await?.ok_or_else(|| range_full("nodePort"))?;
                    taken.values.push((nodes, value.clone()));
                    assigned.insert(i, value);
                }
                continue;
            }
            let value = wanted.to_string();
            if had.contains(&(false, value.clone())) || !seen.insert(value.clone()) {
                continue;
            }
            match nodes.take(store, &value, owner).await? {
                Ok(()) => taken.values.push((nodes, value)),
                Err(refused) => errors.push(FieldError::invalid(
                    &format!("spec.ports[{i}].nodePort"),
                    wanted,
                    nodes.refusal(&value, &refused),
                )),
            }
        }
        if let Some(list) = spec_mut(service).and_then(|s| s.get_mut("ports")).and_then(Value::as_array_mut) {
            for (i, value) in assigned {
                if let (Some(port), Ok(number)) = (list.get_mut(i).and_then(Value::as_object_mut), value.parse::<i64>())
                {
                    port.insert("nodePort".into(), Value::from(number));
                }
            }
        }
        // The health check node port of a LoadBalancer with the Local traffic policy.
        if needs_health_check_port(service) {
            let wanted = spec(service).get("healthCheckNodePort").and_then(Value::as_i64).unwrap_or(0);
            if wanted == 0 {
                let value = nodes.take_any(store, owner, 32, 128).await?.ok_or_else(|| range_full("nodePort"))?;
                taken.values.push((nodes, value.clone()));
                if let (Some(spec), Ok(number)) = (spec_mut(service), value.parse::<i64>()) {
                    spec.insert("healthCheckNodePort".into(), Value::from(number));
                }
            } else if !had.contains(&(false, wanted.to_string())) && !seen.contains(&wanted.to_string()) {
                match nodes.take(store, &wanted.to_string(), owner).await? {
                    Ok(()) => taken.values.push((nodes, wanted.to_string())),
                    Err(refused) => errors.push(FieldError::invalid(
                        "spec.healthCheckNodePort",
                        wanted,
                        nodes.refusal(&wanted.to_string(), &refused),
                    )),
                }
            }
        }
        Ok(())
    }

    /// Makes the held values match the stored services (after a crash
    /// between taking a value and storing its service): values no service
    /// holds are given back once older than a minute (a write may be under
    /// way on another server), values a service holds are taken.
    pub async fn repair(&self, services: &[Value]) -> ApiResult<()> {
        let mut owners: HashMap<(bool, String), Owner> = HashMap::new();
        for service in services {
            for value in held(service) {
                owners.insert(value, owner_of(service));
            }
        }
        let now = jiff::Timestamp::now();
        for ip in [true, false] {
            let range = self.range(ip);
            for (value, record) in range.held(&*self.store).await? {
                let holder = Owner::of_record(&record);
                let owner = owners.remove(&(ip, value.clone()));
                if owner.is_some() && owner == holder {
                    continue;
                }
                let created = record
                    .pointer("/metadata/creationTimestamp")
                    .or_else(|| record.get("creationTimestamp"))
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                if created.is_some_and(|t| now.duration_since(t) > jiff::SignedDuration::from_secs(60))
                    && let Some(holder) = holder
                {
                    tracing::info!(value, "giving back a service allocation no service holds");
                    range.give_back(&*self.store, &value, &holder).await?;
                }
            }
        }
        for ((ip, value), owner) in owners {
            let range = self.range(ip);
            if let Err(refused) = range.take(&*self.store, &value, &owner).await? {
                tracing::warn!(value, service = %format!("{}/{}", owner.namespace, owner.name), ?refused, "a service holds a value it cannot take");
            }
        }
        Ok(())
    }
}

fn set_cluster_ip(service: &mut Value, ip: &str) {
    if let Some(spec) = spec_mut(service) {
        spec.insert("clusterIP".into(), Value::from(ip));
        spec.insert("clusterIPs".into(), Value::Array(vec![Value::from(ip)]));
    }
}

/// On update, before defaulting and validation: values the new version
/// leaves out are kept from the old one (upstream's patchAllocatedValues),
/// and values a new type does not use are dropped if they were not changed
/// (dropTypeDependentFields).
pub fn carry_over(old: &Value, new: &mut Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) && cluster_ip(new).is_empty() {
        let (ip, ips) = (spec(old).get("clusterIP").cloned(), spec(old).get("clusterIPs").cloned());
        if let Some(spec) = spec_mut(new) {
            ip.map(|ip| spec.insert("clusterIP".into(), ip));
            ips.map(|ips| spec.insert("clusterIPs".into(), ips));
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let in_new: BTreeSet<i64> = ports(new).iter().map(node_port).collect();
        let used: BTreeSet<i64> = ports(old).iter().map(node_port).filter(|p| in_new.contains(p)).collect();
        let by_name: HashMap<&str, i64> = ports(old).iter().map(|p| (text(p, "name"), node_port(p))).collect();
        let by_name: HashMap<String, i64> = by_name.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(list) = spec_mut(new).and_then(|s| s.get_mut("ports")).and_then(Value::as_array_mut) {
            for port in list.iter_mut() {
                let previous = by_name.get(text(port, "name")).copied().unwrap_or(0);
                if node_port(port) == 0
                    && previous != 0
                    && !used.contains(&previous)
                    && let Some(port) = port.as_object_mut()
                {
                    port.insert("nodePort".into(), Value::from(previous));
                }
            }
        }
    }
    let health = |s: &Value| spec(s).get("healthCheckNodePort").cloned().filter(|v| v.as_i64().unwrap_or(0) != 0);
    if needs_health_check_port(old)
        && needs_health_check_port(new)
        && health(new).is_none()
        && let (Some(value), Some(spec)) = (health(old), spec_mut(new))
    {
        spec.insert("healthCheckNodePort".into(), value);
    }
    // Dropped with a type that does not use them, unless the user changed them too.
    let same = |key: &str, new: &Value| spec(old).get(key) == spec(new).get(key);
    if needs_cluster_ip(old)
        && !needs_cluster_ip(new)
        && same("clusterIP", new)
        && same("clusterIPs", new)
        && let Some(spec) = spec_mut(new)
    {
        for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(key);
        }
    }
    let node_ports = |s: &Value| ports(s).iter().map(node_port).collect::<Vec<_>>();
    if needs_node_ports(old)
        && !needs_node_ports(new)
        && node_ports(old) == node_ports(new)
        && let Some(list) = spec_mut(new).and_then(|s| s.get_mut("ports")).and_then(Value::as_array_mut)
    {
        for port in list.iter_mut().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
    if needs_health_check_port(old) && !needs_health_check_port(new) && same("healthCheckNodePort", new) {
        spec_mut(new).map(|spec| spec.remove("healthCheckNodePort"));
    }
}
