//! The node health monitor (upstream's monitorNodeHealth and
//! doNoExecuteTaintingPass): every period it looks at each node's
//! heartbeats, turns silent nodes Unknown, marks their pods not ready,
//! queues not-ready and unreachable nodes for their NoExecute taint (taken
//! from the queues at each zone's rate), and lifts the taints of nodes that
//! are ready again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Taint};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::Config;
use super::health::{self, Grace, NodeHealth};
use super::pod_status::mark_not_ready;
use super::taints::{self, NO_EXECUTE, NOT_READY, UNREACHABLE, has_taint, taint};
use super::zones::{TaintQueue, ZoneState, zone_key, zone_state};
use crate::clock::Clock;
use crate::events::Events;

/// Nodes with this label are left out of zone disruption checks.
const EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";
/// The namespace of the kubelets' Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The monitor's memory across passes.
pub struct Monitor {
    pub client: kube::Client,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub events: Events,
    pub nodes: Store<Node>,
    pub leases: Store<Lease>,
    pub pods: Store<Pod>,
    known: BTreeSet<String>,
    health: HashMap<String, NodeHealth>,
    zone_states: HashMap<String, ZoneState>,
    tainters: HashMap<String, TaintQueue>,
    retry: HashSet<String>,
    /// Per node, the pods (UIDs) already marked not ready while it is.
    marked: HashMap<String, HashSet<String>>,
}

fn ready_status(node: &Node) -> Option<&str> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").map(|c| c.status.as_str())
}

fn node_ref(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Node".to_owned()),
        name: node.metadata.name.clone(),
        uid: node.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

impl Monitor {
    pub fn new(
        client: kube::Client,
        clock: Arc<dyn Clock>,
        config: Config,
        stores: (Store<Node>, Store<Lease>, Store<Pod>),
    ) -> Self {
        let (nodes, leases, pods) = stores;
        Self {
            events: Events::new(client.clone(), "node-controller"),
            client,
            clock,
            config,
            nodes,
            leases,
            pods,
            known: BTreeSet::new(),
            health: HashMap::new(),
            zone_states: HashMap::new(),
            tainters: HashMap::new(),
            retry: HashSet::new(),
            marked: HashMap::new(),
        }
    }

    fn grace(&self) -> Grace {
        let d = |d: std::time::Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
        Grace { monitor: d(self.config.node_monitor_grace_period), startup: d(self.config.node_startup_grace_period) }
    }

    /// One pass over every node.
    pub async fn monitor(&mut self) {
        let now = self.clock.now();
        let nodes = self.nodes.state();
        let names: BTreeSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        for node in &nodes {
            let name = node.name_any();
            if !self.known.contains(&name) {
                let message = format!("Node {name} event: Registered Node {name} in Controller");
                self.events.normal(&node_ref(node), "RegisteredNode", message).await;
                self.known.insert(name);
                self.add_zone(node);
                self.mark_reachable(node).await;
            } else if !self.zone_states.contains_key(&zone_key(node)) {
                self.add_zone(node);
            }
        }
        for gone in self.known.difference(&names).cloned().collect::<Vec<_>>() {
            let reference =
                ObjectReference { kind: Some("Node".to_owned()), name: Some(gone.clone()), ..Default::default() };
            let message = format!("Node {gone} event: Removing Node {gone} from Controller");
            self.events.normal(&reference, "RemovingNode", message).await;
            self.known.remove(&gone);
            self.health.remove(&gone);
            self.retry.remove(&gone);
            self.marked.remove(&gone);
        }
        let mut zones: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for node in &nodes {
            if let Some(ready) = self.check(node, now).await
                && !node.labels().contains_key(EXCLUDE_DISRUPTION)
            {
                zones.entry(zone_key(node)).or_default().push(ready);
            }
        }
        self.handle_disruption(&zones, &nodes, now).await;
    }

    fn add_zone(&mut self, node: &Node) {
        let zone = zone_key(node);
        if !self.zone_states.contains_key(&zone) {
            self.zone_states.insert(zone.clone(), ZoneState::Initial);
            self.tainters.insert(zone, TaintQueue::new(self.config.eviction_limiter_qps));
        }
    }

    /// Assesses one node, writes Unknown conditions when it went silent,
    /// acts on its readiness; its current Ready status, `None` when it could not be updated.
    async fn check(&mut self, node: &Node, now: Timestamp) -> Option<Option<String>> {
        let name = node.name_any();
        let lease = self.leases.get(&ObjectRef::new(&name).within(NODE_LEASE_NAMESPACE));
        let api: Api<Node> = Api::all(self.client.clone());
        let mut node = node.clone();
        let mut assessed = None;
        for _ in 0..5 {
            let assessment = health::assess(&node, lease.as_deref(), self.health.get(&name), now, self.grace());
            self.health.insert(name.clone(), assessment.health.clone());
            let Some(status) = assessment.update.clone() else {
                assessed = Some(assessment);
                break;
            };
            let mut updated = node.clone();
            updated.status = Some(status);
            match api.replace_status(&name, &PostParams::default(), &updated).await {
                Ok(_) => {
                    self.health.insert(name.clone(), health::after_update(&assessment, now));
                    assessed = Some(assessment);
                    break;
                }
                Err(error) => {
                    tracing::debug!(%error, node = name, "updating the node's health failed");
                    match api.get(&name).await {
                        Ok(fresh) => node = fresh,
                        Err(_) => break,
                    }
                }
            }
        }
        let Some(assessment) = assessed else {
            tracing::warn!(node = name, "updating the node's health failed, skipping it (no pods evicted)");
            return None;
        };
        let current = assessment.current.as_ref().map(|c| c.status.clone());
        if let Some(current) = &current {
            self.process_taint_based_eviction(&node, &assessment.observed.status, now).await;
            let observed_ready = assessment.observed.status == "True";
            let transition = current != "True" && observed_ready;
            if transition {
                let message = format!("Node {name} status is now: NodeNotReady");
                self.events.normal(&node_ref(&node), "NodeNotReady", message).await;
            }
            if current == "True" {
                self.marked.remove(&name);
            } else {
                let retry = self.retry.contains(&name) && !observed_ready;
                if let Err(error) = self.mark_pods_not_ready(&name, !(transition || retry), now).await {
                    tracing::debug!(%error, node = name, "marking the node's pods not ready failed, will retry");
                    self.retry.insert(name);
                    return Some(Some(current.clone()));
                }
            }
        }
        self.retry.remove(&name);
        Some(current)
    }

    /// Sets the Ready condition of the node's pods to False (`only_new`: those not marked yet).
    async fn mark_pods_not_ready(&mut self, node: &str, only_new: bool, now: Timestamp) -> kube::Result<()> {
        let pods = self.pods.state_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node));
        let mut failure = None;
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if only_new && self.marked.get(node).is_some_and(|m| m.contains(&uid)) {
                continue;
            }
            let mut changed = pod.as_ref().clone();
            if mark_not_ready(&mut changed, now) {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
                match api.replace_status(&pod.name_any(), &PostParams::default(), &changed).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => continue,
                    Err(error) => {
                        failure = Some(error);
                        continue;
                    }
                }
                self.events.warning(&pod.object_ref(&()), "NodeNotReady", "Node is not ready".to_owned()).await;
            }
            self.marked.entry(node.to_owned()).or_default().insert(uid);
        }
        failure.map_or(Ok(()), Err)
    }

    async fn process_taint_based_eviction(&mut self, node: &Node, observed: &str, now: Timestamp) {
        let (unreachable, not_ready) = (taint(UNREACHABLE, NO_EXECUTE), taint(NOT_READY, NO_EXECUTE));
        let swap = |add: &Taint, remove: &Taint| (vec![add.clone()], vec![remove.clone()]);
        let (wanted, opposite) = match observed {
            "False" => (&not_ready, &unreachable),
            "Unknown" => (&unreachable, &not_ready),
            "True" => {
                self.mark_reachable(node).await;
                return;
            }
            _ => return,
        };
        if has_taint(node, opposite) {
            let (add, remove) = swap(wanted, opposite);
            if let Err(error) = taints::swap(&self.client, &node.name_any(), &add, &remove, now).await {
                tracing::debug!(%error, node = node.name_any(), "swapping the NoExecute taint failed, will retry");
            }
            return;
        }
        let zone = zone_key(node);
        let Some(queue) = self.tainters.get_mut(&zone) else { return };
        if !has_taint(node, wanted) {
            queue.remove(&node.name_any());
        }
        queue.add(&node.name_any(), node.metadata.uid.as_deref().unwrap_or_default(), now);
    }

    /// Lifts the NoExecute taints of a node and forgets it in its zone's queue.
    async fn mark_reachable(&mut self, node: &Node) {
        let lifted = [taint(UNREACHABLE, NO_EXECUTE), taint(NOT_READY, NO_EXECUTE)];
        if lifted.iter().any(|t| has_taint(node, t))
            && let Err(error) = taints::swap(&self.client, &node.name_any(), &[], &lifted, self.clock.now()).await
        {
            tracing::debug!(%error, node = node.name_any(), "removing the NoExecute taints failed, will retry");
        }
        if let Some(queue) = self.tainters.get_mut(&zone_key(node)) {
            queue.remove(&node.name_any());
        }
    }

    /// Takes due nodes off the zones' queues (at their rates) and taints them.
    pub async fn taint_pass(&mut self) {
        let now = self.clock.now();
        let zones: Vec<String> = self.tainters.keys().cloned().collect();
        for zone in zones {
            while let Some(item) = self.tainters.get_mut(&zone).and_then(|q| q.next_due(now)) {
                let outcome = self.taint_one(&item.name, now).await;
                let Some(queue) = self.tainters.get_mut(&zone) else { break };
                match outcome {
                    Ok(()) => queue.done(&item.name),
                    Err(wait) => queue.retry(&item.name, now, wait),
                }
            }
        }
    }

    /// Taints one node for its Ready status (Ok: done, Err: retry after the duration).
    async fn taint_one(&self, name: &str, now: Timestamp) -> Result<(), SignedDuration> {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else { return Ok(()) };
        let (unreachable, not_ready) = (taint(UNREACHABLE, NO_EXECUTE), taint(NOT_READY, NO_EXECUTE));
        let (add, remove) = match ready_status(&node) {
            None => return Err(SignedDuration::from_millis(50)),
            Some("False") => (not_ready, unreachable),
            Some("Unknown") => (unreachable, not_ready),
            Some(_) => return Ok(()),
        };
        taints::swap(&self.client, name, &[add], &[remove], now).await.map_err(|error| {
            tracing::debug!(%error, node = name, "tainting the node failed, will retry");
            SignedDuration::ZERO
        })
    }

    /// Zone states from this pass; when every zone is fully disrupted, no
    /// node is tainted (and taints are lifted) until one comes back.
    async fn handle_disruption(
        &mut self,
        zones: &HashMap<String, Vec<Option<String>>>,
        nodes: &[Arc<Node>],
        now: Timestamp,
    ) {
        let threshold = self.config.unhealthy_zone_threshold;
        let mut new_states = HashMap::new();
        let mut all_are_fully_disrupted = true;
        for (zone, ready) in zones {
            let statuses: Vec<Option<&str>> = ready.iter().map(Option::as_deref).collect();
            let (_, state) = zone_state(&statuses, threshold);
            all_are_fully_disrupted &= state == ZoneState::FullDisruption;
            new_states.insert(zone.clone(), state);
            self.zone_states.entry(zone.clone()).or_insert(ZoneState::Initial);
        }
        self.zone_states.retain(|zone, _| zones.contains_key(zone));
        let all_were_fully_disrupted = self.zone_states.values().all(|s| *s == ZoneState::FullDisruption);
        if all_are_fully_disrupted && all_were_fully_disrupted {
            return;
        }
        if all_are_fully_disrupted {
            tracing::info!("every node is not ready: entering master disruption mode, no NoExecute taints");
            for node in nodes {
                self.mark_reachable(node).await;
            }
            for zone in self.zone_states.keys() {
                if let Some(queue) = self.tainters.get_mut(zone) {
                    queue.set_rate(0.0);
                }
            }
            self.zone_states.values_mut().for_each(|s| *s = ZoneState::FullDisruption);
            return;
        }
        if all_were_fully_disrupted {
            tracing::info!("some nodes are ready again: leaving master disruption mode");
            for health in self.health.values_mut() {
                health.probe = now;
                health.ready_transition = now;
            }
        }
        let zones_now: Vec<String> = self.zone_states.keys().cloned().collect();
        for zone in zones_now {
            let Some(state) = new_states.get(&zone).copied() else { continue };
            if !all_were_fully_disrupted && self.zone_states.get(&zone) == Some(&state) {
                continue;
            }
            let size = zones.get(&zone).map_or(0, Vec::len);
            let rate = match state {
                ZoneState::PartialDisruption if size > self.config.large_cluster_threshold => {
                    self.config.secondary_eviction_limiter_qps
                }
                ZoneState::PartialDisruption => 0.0,
                _ => self.config.eviction_limiter_qps,
            };
            if let Some(queue) = self.tainters.get_mut(&zone) {
                queue.set_rate(rate);
            }
            self.zone_states.insert(zone, state);
        }
    }
}
