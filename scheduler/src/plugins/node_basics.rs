//! NodeName, NodeUnschedulable and NodePorts: the filters that look at one field.

use crate::framework::{CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status};
use crate::plugins::taint_toleration::tolerates;

pub const NODE_NAME: &str = "NodeName";
pub const NODE_UNSCHEDULABLE: &str = "NodeUnschedulable";
pub const NODE_PORTS: &str = "NodePorts";

/// NodeName's reason.
pub const ERR_NODE_NAME: &str = "node(s) didn't match the requested node name";
/// NodeUnschedulable's reason.
pub const ERR_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// NodePorts' reason.
pub const ERR_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// A pod that names its node (spec.nodeName) only fits there.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NODE_NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
            Some(wanted) if wanted != node.name => Status::unresolvable(ERR_NODE_NAME),
            _ => Status::success(),
        }
    }
}

/// Cordoned nodes take only pods that tolerate the unschedulable taint.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NODE_UNSCHEDULABLE
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        if !node.is_unschedulable() {
            return Status::success();
        }
        let taint = k8s_openapi::api::core::v1::Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        if tolerations.iter().any(|t| tolerates(t, &taint)) {
            Status::success()
        } else {
            Status::unresolvable(ERR_UNSCHEDULABLE)
        }
    }
}

/// Host ports a pod wants must be free on the node.
#[derive(Debug, Default)]
pub struct NodePorts;

#[derive(Debug, Clone)]
struct WantedPorts(Vec<crate::framework::HostPort>);

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NODE_PORTS
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        let ports = pod.host_ports();
        if ports.is_empty() {
            return Status::skip();
        }
        state.write(NODE_PORTS, WantedPorts(ports));
        Status::success()
    }

    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Status {
        let Some(WantedPorts(wanted)) = state.read::<WantedPorts>(NODE_PORTS) else { return Status::success() };
        let conflict = wanted.iter().any(|want| {
            node.used_ports.iter().any(|used| {
                used.port == want.port
                    && used.protocol == want.protocol
                    && (used.ip == want.ip || used.ip == "0.0.0.0" || want.ip == "0.0.0.0")
            })
        });
        if conflict { Status::unschedulable(ERR_PORTS) } else { Status::success() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};

    #[test]
    fn node_name_unschedulable_and_ports() {
        let snapshot = Snapshot::default();
        let state = CycleState::default();
        let n1 = node("n1", serde_json::json!({}));
        let named = pod("p", serde_json::json!({ "nodeName": "n2" }));
        assert_eq!(NodeName.filter(&state, &named, &n1, &snapshot).reasons, vec![ERR_NODE_NAME]);
        assert!(NodeName.filter(&state, &pod("q", serde_json::json!({})), &n1, &snapshot).is_success());

        let cordoned = node("n2", serde_json::json!({ "unschedulable": true }));
        let plain = pod("p", serde_json::json!({}));
        assert!(NodeUnschedulable.filter(&state, &plain, &cordoned, &snapshot).is_rejected());
        let tolerant = pod(
            "t",
            serde_json::json!({ "tolerations": [{ "key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule" }] }),
        );
        assert!(NodeUnschedulable.filter(&state, &tolerant, &cordoned, &snapshot).is_success());

        let web = |ip: &str| {
            pod(
                "w",
                serde_json::json!({ "containers": [{ "name": "c", "ports": [{ "containerPort": 80, "hostPort": 8080, "hostIP": ip }] }] }),
            )
        };
        let mut busy = node("n3", serde_json::json!({}));
        busy.add_pod(std::sync::Arc::new(web("10.0.0.1")));
        for (ip, fits) in [("10.0.0.1", false), ("10.0.0.2", true), ("", false)] {
            let mut state = CycleState::default();
            let incoming = web(ip);
            assert!(NodePorts.pre_filter(&mut state, &incoming, &snapshot).is_success());
            assert_eq!(NodePorts.filter(&state, &incoming, &busy, &snapshot).is_success(), fits, "hostIP {ip:?}");
        }
        assert!(NodePorts.pre_filter(&mut CycleState::default(), &plain, &snapshot).is_skip());
    }
}
