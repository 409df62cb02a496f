//! The service IP range and the node port range, with each allocated value
//! held by its own key in the store (created only if absent), so that any
//! number of API servers on one store never hand out a value twice.
//!
//! IPs are kept as networking.k8s.io/v1 IPAddress objects under
//! /registry/ipaddresses (as kube-apiserver 1.33 does); node ports under
//! /registry/skiff/servicenodeports/<port> (kube-apiserver keeps a bitmap
//! instead, which every allocation would have to rewrite).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_store::{Backend, Outcome, RangeRequest};

use crate::status::{ApiError, ApiResult};

/// Where allocated service IPs are kept.
pub const IP_PREFIX: &str = "/registry/ipaddresses/";
/// Where allocated node ports are kept.
pub const PORT_PREFIX: &str = "/registry/skiff/servicenodeports/";
/// Random picks before falling back to a scan for a free value.
const RANDOM_TRIES: usize = 32;

/// An IPv4 CIDR such as 10.43.0.0/16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: u32,
    prefix: u8,
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid CIDR address: {text}");
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (1..=30).contains(p)).ok_or_else(invalid)?;
        Ok(Self::new(address, prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

impl Ipv4Cidr {
    /// The CIDR of `address` with a prefix length (at most 30).
    pub const fn new(address: Ipv4Addr, prefix: u8) -> Self {
        let prefix = if prefix > 30 { 30 } else { prefix };
        let mask = u32::MAX << (32 - prefix as u32);
        Self { network: address.to_bits() & mask, prefix }
    }

    /// Usable addresses: all but the network and broadcast addresses.
    fn size(&self) -> u32 {
        (1u32 << (32 - u32::from(self.prefix))) - 2
    }

    /// The `offset`-th usable address (0 is the first after the network address).
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1 + offset)
    }

    fn offset_of(&self, ip: Ipv4Addr) -> Option<u32> {
        let ip = u32::from(ip);
        (ip > self.network && ip - self.network - 1 < self.size()).then(|| ip - self.network - 1)
    }
}

/// A node port range such as 30000-32767.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid port range: {text} (expected FIRST-LAST)");
        let (first, last) = text.split_once('-').ok_or_else(invalid)?;
        let first: u16 = first.trim().parse().map_err(|_| invalid())?;
        let last: u16 = last.trim().parse().map_err(|_| invalid())?;
        if first == 0 || last < first {
            return Err(invalid());
        }
        Ok(Self { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// The lower part of a range kept for values users ask for, as upstream
/// sizes it (dynamic allocation takes from the rest first).
fn static_band(size: u32, step: u32, max: u32) -> u32 {
    (size / step).clamp(16, max).min(size)
}

fn random(below: u32) -> u32 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(below.max(1))) as u32
}

/// Why a value could not be allocated.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Taken,
    OutOfRange,
}

/// One of the two ranges, over the store.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    Ips(Ipv4Cidr),
    Ports(PortRange),
}

impl Range {
    fn size(&self) -> u32 {
        match self {
            Range::Ips(cidr) => cidr.size(),
            Range::Ports(ports) => u32::from(ports.last - ports.first) + 1,
        }
    }

    fn prefix(&self) -> &'static str {
        match self {
            Range::Ips(_) => IP_PREFIX,
            Range::Ports(_) => PORT_PREFIX,
        }
    }

    /// The value at an offset in the range, as text.
    fn value_at(&self, offset: u32) -> String {
        match self {
            Range::Ips(cidr) => cidr.nth(offset).to_string(),
            Range::Ports(ports) => (u32::from(ports.first) + offset).to_string(),
        }
    }

    /// Whether `value` (an IP or a port, as text) lies in the range.
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Range::Ips(cidr) => value.parse().ok().and_then(|ip| cidr.offset_of(ip)).is_some(),
            Range::Ports(ports) => value.parse::<u16>().is_ok_and(|p| (ports.first..=ports.last).contains(&p)),
        }
    }

    pub fn key(&self, value: &str) -> String {
        format!("{}{value}", self.prefix())
    }

    /// The record stored for a value held by a service.
    fn record(&self, value: &str, owner: &Owner) -> Value {
        let parent = json!({ "group": "", "resource": "services", "namespace": owner.namespace, "name": owner.name });
        match self {
            Range::Ips(_) => json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
                "metadata": {
                    "name": value,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": crate::object::now_rfc3339(),
                    "labels": {
                        "ipaddress.kubernetes.io/ip-family": "IPv4",
                        "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                    },
                    "annotations": { OWNER_UID: owner.uid },
                },
                "spec": { "parentRef": parent },
            }),
            Range::Ports(_) => {
                json!({
                    "port": value, "parentRef": parent, "uid": owner.uid,
                    "creationTimestamp": crate::object::now_rfc3339(),
                })
            }
        }
    }

    /// Takes `value` for `owner`.
    pub async fn take(&self, store: &dyn Backend, value: &str, owner: &Owner) -> ApiResult<Result<(), Refused>> {
        if !self.contains(value) {
            return Ok(Err(Refused::OutOfRange));
        }
        let record = Bytes::from(self.record(value, owner).to_string());
        match store.create(&self.key(value), record, None).await? {
            Outcome::Applied(_) => Ok(Ok(())),
            Outcome::Conflict { current: Some(kv) } if owner.holds(&kv.value) => Ok(Ok(())),
            Outcome::Conflict { .. } => Ok(Err(Refused::Taken)),
        }
    }

    /// Takes any free value for `owner`: random picks above the static band,
    /// then the first free one in a scan; `None` when the range is full.
    pub async fn take_any(
        &self,
        store: &dyn Backend,
        owner: &Owner,
        step: u32,
        max_band: u32,
    ) -> ApiResult<Option<String>> {
        let size = self.size();
        let band = static_band(size, step, max_band);
        for _ in 0..RANDOM_TRIES.min(size as usize) {
            let offset = if band < size { band + random(size - band) } else { random(size) };
            let value = self.value_at(offset);
            if self.take(store, &value, owner).await?.is_ok() {
                return Ok(Some(value));
            }
        }
        let taken = self.taken(store).await?;
        for offset in (band..size).chain(0..band) {
            let value = self.value_at(offset);
            if !taken.contains(&value) && self.take(store, &value, owner).await?.is_ok() {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Every value held now, with its record.
    pub async fn held(&self, store: &dyn Backend) -> ApiResult<Vec<(String, Value)>> {
        let response = store.range(RangeRequest::prefix(self.prefix().to_owned())).await?;
        Ok(response
            .kvs
            .iter()
            .map(|kv| {
                let value = kv.key.trim_start_matches(self.prefix()).to_owned();
                (value, serde_json::from_slice(&kv.value).unwrap_or(Value::Null))
            })
            .collect())
    }

    async fn taken(&self, store: &dyn Backend) -> ApiResult<std::collections::HashSet<String>> {
        Ok(self.held(store).await?.into_iter().map(|(value, _)| value).collect())
    }

    /// Gives `value` back (if `owner` still holds it).
    pub async fn give_back(&self, store: &dyn Backend, value: &str, owner: &Owner) -> ApiResult<()> {
        let key = self.key(value);
        if let Some(kv) = store.get(&key, None).await?
            && owner.holds(&kv.value)
        {
            // A conflict means the value changed hands meanwhile: nothing to give back.
            let _ = store.delete(&key, Some(kv.mod_revision)).await?;
        }
        Ok(())
    }

    /// The error text for a refused value, as upstream's allocators word it.
    pub fn refusal(&self, value: &str, refused: &Refused) -> String {
        match (self, refused) {
            (Range::Ips(_), Refused::Taken) => "provided IP is already allocated".to_owned(),
            (Range::Ips(cidr), Refused::OutOfRange) => {
                format!("the provided IP ({value}) is not in the valid range. The range of valid IPs is {cidr}")
            }
            (Range::Ports(_), Refused::Taken) => "provided port is already allocated".to_owned(),
            (Range::Ports(ports), Refused::OutOfRange) => {
                format!("provided port is not in the valid range. The range of valid ports is {ports}")
            }
        }
    }
}

/// Where a record names the UID of the service holding it (IPAddress has no field for it).
const OWNER_UID: &str = "skiff.dev/service-uid";

/// The service a value is held for (by UID: a new service of the same name is another owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    /// Whether a stored record names this owner.
    fn holds(&self, record: &[u8]) -> bool {
        let Ok(record) = serde_json::from_slice::<Value>(record) else { return false };
        Owner::of_record(&record).as_ref() == Some(self)
    }

    /// The owner a record names.
    pub fn of_record(record: &Value) -> Option<Owner> {
        let parent = record.pointer("/spec/parentRef").or_else(|| record.get("parentRef"))?;
        let annotation = record.get("metadata").and_then(|m| m.get("annotations")).and_then(|a| a.get(OWNER_UID));
        let uid = annotation.or_else(|| record.get("uid"))?;
        Some(Owner {
            namespace: parent.get("namespace")?.as_str()?.to_owned(),
            name: parent.get("name")?.as_str()?.to_owned(),
            uid: uid.as_str()?.to_owned(),
        })
    }
}

/// A full range: 500 as upstream.
pub fn range_full(what: &str) -> ApiError {
    ApiError::new(500, "InternalError", format!("Internal error occurred: failed to allocate a {what}: range is full"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_port_ranges_parse_and_bound_their_values() {
        let cidr: Ipv4Cidr = "10.43.7.9/16".parse().expect("cidr");
        assert_eq!(cidr.to_string(), "10.43.0.0/16");
        assert_eq!(cidr.nth(0), Ipv4Addr::new(10, 43, 0, 1));
        let ips = Range::Ips(cidr);
        assert!(ips.contains("10.43.255.254"));
        assert!(!ips.contains("10.43.255.255") && !ips.contains("10.43.0.0") && !ips.contains("10.44.0.1"));
        assert!("10.43.0.0".parse::<Ipv4Cidr>().is_err() && "10.43.0.0/31".parse::<Ipv4Cidr>().is_err());
        let ports = Range::Ports("30000-32767".parse().expect("ports"));
        assert!(ports.contains("30000") && ports.contains("32767") && !ports.contains("29999"));
        assert!("32767-30000".parse::<PortRange>().is_err());
        assert_eq!(static_band(65534, 16, 256), 256);
        assert_eq!(static_band(2768, 32, 128), 86);
        assert_eq!(static_band(6, 16, 256), 6);
    }
}
