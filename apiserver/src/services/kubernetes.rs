//! The `kubernetes` Service in `default` and the Endpoints and
//! EndpointSlice behind it, pointing at the API server, as kube-apiserver's
//! endpoint reconciler keeps them.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::ServiceNetwork;

/// The port the `kubernetes` service sends to until the server publishes where it listens.
pub const ADVERTISED_PORT: u16 = 6443;

/// The `kubernetes` service: the first IP of the service range, port 443.
pub fn service(network: &ServiceNetwork, target_port: u16) -> Value {
    let ip = network.cidr.nth(0).to_string();
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": { "component": "apiserver", "provider": "kubernetes" },
        },
        "spec": {
            "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
            "ports": [{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": target_port }],
        },
    })
}

/// Its Endpoints (not mirrored into slices: the server writes the slice itself).
pub fn endpoints(address: IpAddr, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": { "endpointslice.kubernetes.io/skip-mirror": "true" },
        },
        "subsets": [{
            "addresses": [{ "ip": address.to_string() }],
            "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
        }],
    })
}

/// Its EndpointSlice.
pub fn endpoint_slice(address: IpAddr, port: u16) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": { "kubernetes.io/service-name": "kubernetes" },
        },
        "addressType": if address.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{ "addresses": [address.to_string()], "conditions": { "ready": true } }],
        "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
    })
}
