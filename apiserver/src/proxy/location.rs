//! Where a pod subresource or node proxy request goes: the container it
//! names (upstream's LogLocation/streamLocation rules and texts) and the
//! kubelet of the pod's node (upstream's NodeConnectionInfoGetter).

use serde_json::Value;

use crate::status::{ApiError, ApiResult};

/// The kubelet port when a Node does not report one (`--kubelet-port`).
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Which node addresses are tried, in order (k3s' `--kubelet-preferred-address-types`).
const PREFERRED_ADDRESS_TYPES: &[&str] = &["InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS"];

/// A kubelet's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletAddress {
    pub host: String,
    pub port: u16,
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The container a request for pod `name` means: the one given (it must be
/// in the pod), else the pod's only container; 400 with upstream's texts.
pub fn container(pod: &Value, name: &str, given: Option<&str>) -> ApiResult<String> {
    let containers = names(pod, "containers");
    match given {
        Some(container) => {
            let known = containers.iter().chain(&names(pod, "initContainers")).any(|c| c == container)
                || names(pod, "ephemeralContainers").iter().any(|c| c == container);
            if !known {
                return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
            }
            Ok(container.to_owned())
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {name}"))),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                );
                let init = names(pod, "initContainers");
                if !init.is_empty() {
                    message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The pod's node, or `None` when it is not scheduled yet.
pub fn node_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
}

/// The kubelet of `node`: its preferred address and daemonEndpoints' kubelet port.
pub fn kubelet_address(node: &Value) -> ApiResult<KubeletAddress> {
    let addresses: Vec<(&str, &str)> = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a.get("type")?.as_str()?, a.get("address")?.as_str()?)))
        .collect();
    let host = PREFERRED_ADDRESS_TYPES
        .iter()
        .find_map(|wanted| addresses.iter().find(|(kind, _)| kind == wanted).map(|(_, address)| *address))
        .ok_or_else(|| {
            let known: Vec<String> = addresses.iter().map(|(kind, address)| format!("{{{kind} {address}}}")).collect();
            ApiError::new(
                500,
                "InternalError",
                format!(
                    "Internal error occurred: no preferred addresses found; known addresses: [{}]",
                    known.join(" ")
                ),
            )
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(KubeletAddress { host: host.to_owned(), port })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let list = |names: &[&str]| names.iter().map(|n| json!({ "name": n })).collect::<Vec<_>>();
        json!({ "spec": { "containers": list(containers), "initContainers": list(init) } })
    }

    #[test]
    fn the_container_is_the_one_given_or_the_only_one_with_upstreams_messages() {
        let cases: &[(Value, Option<&str>, Result<&str, &str>)] = &[
            (pod(&["app"], &[]), None, Ok("app")),
            (pod(&["app", "side"], &["init"]), Some("init"), Ok("init")),
            (
                pod(&["app", "side"], &[]),
                None,
                Err("a container name must be specified for pod p, choose one of: [app side]"),
            ),
            (
                pod(&["app", "side"], &["init"]),
                None,
                Err(
                    "a container name must be specified for pod p, choose one of: [app side] or one of the init containers: [init]",
                ),
            ),
            (pod(&["app"], &[]), Some("nope"), Err("container nope is not valid for pod p")),
            (pod(&[], &[]), None, Err("a container name must be specified for pod p")),
        ];
        for (pod, given, want) in cases {
            let got = container(pod, "p", *given).map_err(|e| (e.code, e.message));
            assert_eq!(got, want.map(str::to_owned).map_err(|m| (400, m.to_owned())), "{given:?}");
        }
    }

    #[test]
    fn the_kubelet_is_at_the_internal_ip_and_the_reported_port() {
        let node = json!({ "status": {
            "addresses": [{ "type": "Hostname", "address": "n1" }, { "type": "InternalIP", "address": "10.0.0.5" }],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": 12345 } },
        }});
        assert_eq!(kubelet_address(&node), Ok(KubeletAddress { host: "10.0.0.5".into(), port: 12345 }));
        let hostname_only = json!({ "status": { "addresses": [{ "type": "Hostname", "address": "n1" }] } });
        assert_eq!(kubelet_address(&hostname_only), Ok(KubeletAddress { host: "n1".into(), port: 10250 }));
        let error = kubelet_address(&json!({ "status": {} })).expect_err("no address");
        assert_eq!(
            (error.code, error.message.as_str()),
            (500, "Internal error occurred: no preferred addresses found; known addresses: []")
        );
    }
}
