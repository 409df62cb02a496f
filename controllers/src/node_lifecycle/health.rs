//! Node health from the kubelet's two heartbeats, its Lease and its Ready
//! condition (upstream's tryUpdateNodeHealth): the controller notes, on its
//! own clock, when either last changed; past the grace period the node's
//! conditions become Unknown ("Kubelet stopped posting node status.").

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus};

use crate::clock::api_time;

/// The conditions the controller turns Unknown (not NetworkUnavailable, which the control plane owns).
const UNKNOWN_WHEN_SILENT: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller last saw of a node, and when (on its clock).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHealth {
    /// When a heartbeat (Ready condition or Lease) last changed.
    pub probe: Timestamp,
    /// When the Ready condition last changed.
    pub ready_transition: Timestamp,
    /// The Ready condition seen then.
    pub ready: Option<NodeCondition>,
    /// The Lease's renew time seen then.
    pub lease_renewed: Option<Timestamp>,
}

/// The outcome of looking at a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The Ready condition as the node has it (or an Unknown stand-in).
    pub observed: NodeCondition,
    /// The Ready condition after this assessment.
    pub current: Option<NodeCondition>,
    /// A status to write (conditions turned Unknown), when Ready changes.
    pub update: Option<NodeStatus>,
    /// The health to remember.
    pub health: NodeHealth,
}

/// The grace periods: for nodes that posted status, and for nodes that never did.
#[derive(Debug, Clone, Copy)]
pub struct Grace {
    pub monitor: SignedDuration,
    pub startup: SignedDuration,
}

fn ready_of(status: Option<&NodeStatus>) -> Option<&NodeCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// Looks at a node against what was seen before (`saved`) at `now`.
pub fn assess(
    node: &Node,
    lease: Option<&Lease>,
    saved: Option<&NodeHealth>,
    now: Timestamp,
    grace: Grace,
) -> Assessment {
    let created = node.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
    let current = ready_of(node.status.as_ref()).cloned();
    let (observed, grace) = match &current {
        Some(ready) => (ready.clone(), grace.monitor),
        None => (
            NodeCondition {
                type_: "Ready".to_owned(),
                status: "Unknown".to_owned(),
                last_heartbeat_time: Some(api_time(created)),
                last_transition_time: Some(api_time(created)),
                ..NodeCondition::default()
            },
            grace.startup,
        ),
    };
    let fresh =
        |ready: Option<NodeCondition>| NodeHealth { probe: now, ready_transition: now, ready, lease_renewed: None };
    let mut health = match (saved, &current) {
        (None, None) => NodeHealth { probe: created, ready_transition: created, ready: None, lease_renewed: None },
        (Some(saved), None) if saved.ready.is_none() => saved.clone(),
        (None, Some(_)) => fresh(current.clone()),
        (Some(saved), Some(_)) if saved.ready.is_none() => fresh(current.clone()),
        (Some(_), None) => {
            tracing::warn!(
                node = node.metadata.name.as_deref(),
                "the Ready condition was removed from the node's status"
            );
            fresh(None)
        }
        (Some(saved), Some(ready)) => {
            let before = saved.ready.as_ref();
            if before.map(|c| &c.last_heartbeat_time) != Some(&ready.last_heartbeat_time) {
                let transitioned = before.map(|c| &c.last_transition_time) != Some(&ready.last_transition_time);
                NodeHealth {
                    probe: now,
                    ready_transition: if transitioned { now } else { saved.ready_transition },
                    ready: Some(ready.clone()),
                    lease_renewed: saved.lease_renewed,
                }
            } else {
                saved.clone()
            }
        }
    };
    // A renewed Lease counts as a heartbeat too.
    let saved_renewal = saved.and_then(|s| s.lease_renewed);
    health.lease_renewed = saved_renewal;
    let renewed = lease.and_then(|l| l.spec.as_ref()).and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
    if let Some(renewed) = renewed
        && saved_renewal.is_none_or(|before| before < renewed)
    {
        health.lease_renewed = Some(renewed);
        health.probe = now;
    }
    let mut assessment = Assessment { observed: observed.clone(), current: current.clone(), update: None, health };
    if now <= assessment.health.probe + grace {
        return assessment;
    }
    let mut status = node.status.clone().unwrap_or_default();
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    for type_ in UNKNOWN_WHEN_SILENT {
        match conditions.iter_mut().find(|c| c.type_ == *type_) {
            None => conditions.push(NodeCondition {
                type_: (*type_).to_owned(),
                status: "Unknown".to_owned(),
                reason: Some("NodeStatusNeverUpdated".to_owned()),
                message: Some("Kubelet never posted node status.".to_owned()),
                last_heartbeat_time: Some(api_time(created)),
                last_transition_time: Some(api_time(now)),
            }),
            Some(condition) if condition.status != "Unknown" => {
                condition.status = "Unknown".to_owned();
                condition.reason = Some("NodeStatusUnknown".to_owned());
                condition.message = Some("Kubelet stopped posting node status.".to_owned());
                condition.last_transition_time = Some(api_time(now));
            }
            Some(_) => {}
        }
    }
    let after = ready_of(Some(&status)).cloned();
    if after.as_ref() != Some(&observed) {
        assessment.current = after;
        assessment.update = Some(status);
    }
    assessment
}

/// The health to remember once the Unknown status was written.
pub fn after_update(assessment: &Assessment, now: Timestamp) -> NodeHealth {
    NodeHealth {
        probe: assessment.health.probe,
        ready_transition: now,
        ready: assessment.current.clone(),
        lease_renewed: assessment.health.lease_renewed,
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
