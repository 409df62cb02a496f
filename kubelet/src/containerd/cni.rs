//! The pod network containerd's CRI plugin sets up through CNI: one bridge
//! with host-local IPAM over the node's pod range, and portmap for
//! hostPorts. containerd adds the loopback network itself.

use std::net::Ipv4Addr;

use serde_json::json;

use super::ContainerdConfig;

/// Why the CNI configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster CIDR is not `a.b.c.d/n` with a usable IPv4 range.
    #[error("the cluster CIDR {0:?} is not an IPv4 range such as 10.42.0.0/16")]
    ParseCidr(String),
}

/// An IPv4 range: its network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Range {
    /// The network address (host bits cleared).
    pub network: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Ipv4Range {
    /// Parses `a.b.c.d/n` (n at most 30, so there is room for a gateway and pods).
    pub fn parse(cidr: &str) -> Result<Self, Error> {
        let invalid = || Error::ParseCidr(cidr.to_owned());
        let (addr, prefix) = cidr.split_once('/').ok_or_else(invalid)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > 30 {
            return Err(invalid());
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Ok(Self { network: Ipv4Addr::from(u32::from(addr) & mask), prefix })
    }

    /// The first address: the bridge's (the pods' gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
        u32::from(ip) & mask == u32::from(self.network)
    }
}

impl std::fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The CNI conflist (spec 1.0.0): bridge + host-local (leases in our own dir) + portmap.
pub fn conflist(config: &ContainerdConfig) -> Result<serde_json::Value, Error> {
    let range = Ipv4Range::parse(&config.cluster_cidr)?;
    Ok(json!({
        "cniVersion": "1.0.0",
        "name": config.network_name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": config.bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "dataDir": config.ipam_dir(),
                    "ranges": [[{ "subnet": range.to_string(), "gateway": range.gateway().to_string() }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                },
            },
            { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true },
        ],
    }))
}

/// The conflist's file name in the conf dir.
pub fn conflist_file_name(config: &ContainerdConfig) -> String {
    format!("10-{}.conflist", config.network_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_normalised_and_its_first_address_is_the_gateway() {
        let range = Ipv4Range::parse("10.42.3.7/16").expect("valid");
        assert_eq!(range.to_string(), "10.42.0.0/16");
        assert_eq!(range.gateway(), Ipv4Addr::new(10, 42, 0, 1));
        assert!(range.contains(Ipv4Addr::new(10, 42, 255, 1)));
        assert!(!range.contains(Ipv4Addr::new(10, 43, 0, 1)));
    }

    #[test]
    fn ranges_that_are_not_ipv4_cidrs_are_refused() {
        for bad in ["10.42.0.0", "10.42.0.0/31", "fd00::/64", "10.42.0.0/x"] {
            assert!(Ipv4Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_conflist_uses_the_bridge_and_cidr_of_the_config() {
        let config = ContainerdConfig::new("/d").cluster_cidr("10.99.7.0/24").bridge("sktest7");
        let list = conflist(&config).expect("valid");
        assert_eq!(list["plugins"][0]["bridge"], "sktest7");
        assert_eq!(list["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.99.7.0/24");
        assert_eq!(list["plugins"][0]["ipam"]["ranges"][0][0]["gateway"], "10.99.7.1");
        assert_eq!(list["plugins"][0]["ipam"]["dataDir"], "/d/cni/ipam");
        assert_eq!(list["plugins"][1]["type"], "portmap");
    }
}
