//! The scheduler's watches (retried with back-off, each feeding the one
//! loop), and what the loop does with the objects that are not pods or nodes.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, NodeStatus, PersistentVolume, PersistentVolumeClaim, Pod, PodStatus,
    ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::State;
use crate::framework::OwnerSelector;
use crate::framework::budgets::DisruptionBudget;
use crate::framework::owners::{REPLICA_SET, REPLICATION_CONTROLLER, SERVICE, STATEFUL_SET};
use crate::queue::QueuedPod;

/// Kinds the scheduler watches (it schedules once each has been listed).
pub(super) const WATCHED_KINDS: usize = 11;

/// What the loop reacts to.
pub(super) enum Input {
    Pod(Box<Event<Pod>>),
    Node(Box<Event<Node>>),
    Namespace(Box<Event<Namespace>>),
    Claim(Box<Event<PersistentVolumeClaim>>),
    Volume(Box<Event<PersistentVolume>>),
    Class(Box<Event<StorageClass>>),
    /// Services, replication controllers, replica sets and stateful sets: only their selectors.
    Owner((&'static str, &'static str), Box<Event<OwnerSelector>>),
    /// PodDisruptionBudgets, for preemption.
    Budget(Box<Event<PodDisruptionBudget>>),
    Bound {
        pod: QueuedPod,
        node: String,
        result: Result<(), String>,
    },
}

/// Starts a watch of every kind the scheduler needs, sending to `inputs`.
pub(super) fn spawn(client: &kube::Client, inputs: &mpsc::Sender<Input>) -> Vec<JoinHandle<()>> {
    let config = watcher::Config::default();
    let streams = [
        watch(Api::<Pod>::all(client.clone()), &config, |e| Input::Pod(Box::new(e.modify(slim)))),
        watch(Api::<Node>::all(client.clone()), &config, |e| Input::Node(Box::new(e.modify(slim_node)))),
        watch(Api::<Namespace>::all(client.clone()), &config, |e| Input::Namespace(Box::new(e))),
        watch(Api::<PersistentVolumeClaim>::all(client.clone()), &config, |e| Input::Claim(Box::new(e))),
        watch(Api::<PersistentVolume>::all(client.clone()), &config, |e| Input::Volume(Box::new(e))),
        watch(Api::<StorageClass>::all(client.clone()), &config, |e| Input::Class(Box::new(e))),
        watch(Api::<Service>::all(client.clone()), &config, |e| {
            owner(e, SERVICE, |s| {
                let selector = s.spec.as_ref().and_then(|s| s.selector.clone());
                selector.map(|labels| LabelSelector { match_labels: Some(labels), match_expressions: None })
            })
        }),
        watch(Api::<ReplicationController>::all(client.clone()), &config, |e| {
            owner(e, REPLICATION_CONTROLLER, |rc| {
                let selector = rc.spec.as_ref().and_then(|s| s.selector.clone());
                Some(LabelSelector { match_labels: selector, match_expressions: None })
            })
        }),
        watch(Api::<ReplicaSet>::all(client.clone()), &config, |e| {
            owner(e, REPLICA_SET, |rs| rs.spec.as_ref().map(|s| s.selector.clone()))
        }),
        watch(Api::<StatefulSet>::all(client.clone()), &config, |e| {
            owner(e, STATEFUL_SET, |ss| ss.spec.as_ref().map(|s| s.selector.clone()))
        }),
        watch(Api::<PodDisruptionBudget>::all(client.clone()), &config, |e| Input::Budget(Box::new(e))),
    ];
    debug_assert_eq!(streams.len(), WATCHED_KINDS);
    streams
        .into_iter()
        .map(|mut stream| {
            let inputs = inputs.clone();
            tokio::spawn(async move {
                while let Some(input) = stream.next().await {
                    if inputs.send(input).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Drops what no plugin reads from a pod, so that tens of thousands fit in
/// little memory: managed fields, annotations, most of the status, and the
/// containers' environment, commands, mounts and probes.
pub(crate) fn slim(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    pod.metadata.annotations = None;
    if let Some(spec) = pod.spec.as_mut() {
        let containers = spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten());
        for container in containers {
            *container = Container {
                name: std::mem::take(&mut container.name),
                image: container.image.take(),
                resources: container.resources.take(),
                ports: container.ports.take(),
                restart_policy: container.restart_policy.take(),
                ..Container::default()
            };
        }
        spec.ephemeral_containers = None;
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| v.persistent_volume_claim.is_some());
        }
    }
    if let Some(status) = pod.status.as_mut() {
        *status = PodStatus {
            phase: status.phase.take(),
            conditions: status.conditions.take().map(|c| c.into_iter().filter(|c| c.type_ == "PodScheduled").collect()),
            nominated_node_name: status.nominated_node_name.take(),
            start_time: status.start_time.take(),
            ..PodStatus::default()
        };
    }
}

/// Keeps of a node what the plugins read: name, labels, spec (taints,
/// unschedulable) and capacity (not its images, conditions or addresses).
pub(crate) fn slim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(status) = node.status.as_mut() {
        *status = NodeStatus {
            allocatable: status.allocatable.take(),
            capacity: status.capacity.take(),
            ..NodeStatus::default()
        };
    }
}

/// A watch of every object of a kind, retried with back-off, as inputs.
fn watch<K>(
    api: Api<K>,
    config: &watcher::Config,
    wrap: fn(Event<K>) -> Input,
) -> Pin<Box<dyn Stream<Item = Input> + Send>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    Box::pin(watcher::watcher(api, config.clone()).default_backoff().filter_map(move |event| async move {
        match event {
            Ok(event) => Some(wrap(event)),
            Err(error) => {
                tracing::debug!(%error, "scheduler watch error (retrying)");
                None
            }
        }
    }))
}

/// An event of an object that groups pods, reduced to its selector.
fn owner<K: kube::Resource>(
    event: Event<K>,
    kind: (&'static str, &'static str),
    selector: fn(&K) -> Option<LabelSelector>,
) -> Input {
    let reduce = |object: K| {
        let meta: &ObjectMeta = object.meta();
        OwnerSelector {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            selector: selector(&object),
        }
    };
    let event = match event {
        Event::Init => Event::Init,
        Event::InitApply(object) => Event::InitApply(reduce(object)),
        Event::InitDone => Event::InitDone,
        Event::Apply(object) => Event::Apply(reduce(object)),
        Event::Delete(object) => Event::Delete(reduce(object)),
    };
    Input::Owner(kind, Box::new(event))
}

impl State {
    /// Brings the snapshot and the queue up to date with one input.
    pub(super) fn apply(&mut self, input: Input) {
        match input {
            Input::Pod(event) => self.pod_event(*event),
            Input::Node(event) => self.node_event(*event),
            Input::Namespace(event) => self.namespace_event(*event),
            Input::Claim(event) => self.storage_event("claims", *event, |v, c| {
                let key =
                    (c.metadata.namespace.clone().unwrap_or_default(), c.metadata.name.clone().unwrap_or_default());
                (&mut v.claims, key)
            }),
            Input::Volume(event) => {
                if let Event::Apply(pv) = event.as_ref()
                    && pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some()
                {
                    self.snapshot.volumes.assumed.remove(pv.metadata.name.as_deref().unwrap_or_default());
                }
                self.storage_event("volumes", *event, |v, pv| {
                    (&mut v.volumes, pv.metadata.name.clone().unwrap_or_default())
                })
            }
            Input::Class(event) => self
                .storage_event("classes", *event, |v, c| (&mut v.classes, c.metadata.name.clone().unwrap_or_default())),
            Input::Owner(kind, event) => self.owner_event(kind, *event),
            Input::Budget(event) => self.budget_event(*event),
            Input::Bound { pod, node, result } => self.bound(pod, node, result),
        }
    }

    /// Claims, volumes and classes: kept in the snapshot; a change may let waiting pods fit.
    fn storage_event<T, K>(
        &mut self,
        kind: &'static str,
        event: Event<T>,
        slot: impl for<'v> Fn(&'v mut crate::framework::Volumes, &T) -> (&'v mut HashMap<K, Arc<T>>, K),
    ) where
        K: std::hash::Hash + Eq + Clone,
    {
        let is_init = matches!(event, Event::Init | Event::InitDone);
        if is_init {
            if matches!(event, Event::InitDone) {
                self.synced.insert(kind);
            }
            return;
        }
        match event {
            Event::Apply(object) | Event::InitApply(object) => {
                let (map, key) = slot(&mut self.snapshot.volumes, &object);
                map.insert(key, Arc::new(object));
            }
            Event::Delete(object) => {
                let (map, key) = slot(&mut self.snapshot.volumes, &object);
                map.remove(&key);
            }
            Event::Init | Event::InitDone => {}
        }
        self.queue.move_all_unschedulable();
    }

    fn namespace_event(&mut self, event: Event<Namespace>) {
        let name = |n: &Namespace| n.metadata.name.clone().unwrap_or_default();
        if self.relist("namespaces", &event, name).is_some() {
            return;
        }
        match event {
            Event::Apply(ns) | Event::InitApply(ns) => {
                self.snapshot.namespace_labels.insert(name(&ns), ns.metadata.labels.clone().unwrap_or_default());
            }
            Event::Delete(ns) => {
                self.snapshot.namespace_labels.remove(&name(&ns));
            }
            Event::Init | Event::InitDone => {}
        }
    }

    /// Selectors of services and owners, for PodTopologySpread's default
    /// constraints (upstream does not retry waiting pods when they change).
    fn owner_event(&mut self, kind: (&'static str, &'static str), event: Event<OwnerSelector>) {
        if let Some(seen) = self.relist(kind.1, &event, OwnerSelector::key) {
            let seen: HashSet<String> = seen.into_iter().collect();
            self.snapshot.owners.retain(kind, |key| seen.contains(key));
        }
        match event {
            Event::InitApply(o) | Event::Apply(o) => self.snapshot.owners.set(o),
            Event::Delete(o) => self.snapshot.owners.remove(kind, &o.namespace, &o.name),
            Event::Init | Event::InitDone => {}
        }
    }

    /// Budgets only weigh on the choice of victims: no pod is retried for them.
    fn budget_event(&mut self, event: Event<PodDisruptionBudget>) {
        let key = |b: &PodDisruptionBudget| {
            format!(
                "{}/{}",
                b.metadata.namespace.as_deref().unwrap_or_default(),
                b.metadata.name.as_deref().unwrap_or_default()
            )
        };
        if let Some(seen) = self.relist("budgets", &event, key) {
            let seen: HashSet<String> = seen.into_iter().collect();
            self.snapshot.budgets.retain(|k, _| seen.contains(k));
        }
        match event {
            Event::InitApply(b) | Event::Apply(b) => {
                self.snapshot.budgets.insert(key(&b), DisruptionBudget::new(&b));
            }
            Event::Delete(b) => {
                self.snapshot.budgets.remove(&key(&b));
            }
            Event::Init | Event::InitDone => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::PodInfo;

    #[test]
    fn a_slim_pod_asks_the_same_of_a_node() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "p", "namespace": "default", "labels": { "app": "web" },
                "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{...}" } },
            "spec": {
                "initContainers": [{ "name": "sidecar", "image": "proxy", "restartPolicy": "Always",
                    "resources": { "requests": { "cpu": "100m" } }, "ports": [{ "containerPort": 80, "hostPort": 8080 }] }],
                "containers": [{ "name": "app", "image": "app:v1", "command": ["serve"], "env": [{ "name": "A", "value": "1" }],
                    "resources": { "requests": { "cpu": "1", "memory": "1Gi" } } }],
                "overhead": { "cpu": "10m" },
                "volumes": [{ "name": "data", "persistentVolumeClaim": { "claimName": "data" } },
                    { "name": "config", "configMap": { "name": "config" } }],
            },
            "status": { "phase": "Pending", "nominatedNodeName": "n1", "podIPs": [{ "ip": "10.0.0.1" }],
                "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable" },
                    { "type": "Ready", "status": "False" }] },
        }))
        .expect("a pod");
        let before = PodInfo::new(Arc::new(pod.clone()));
        slim(&mut pod);
        let after = PodInfo::new(Arc::new(pod.clone()));
        assert_eq!((&before.requests, &before.non_zero_requests), (&after.requests, &after.non_zero_requests));
        assert_eq!(before.host_ports(), after.host_ports());
        assert_eq!(before.labels, after.labels);
        let spec = pod.spec.as_ref().expect("spec");
        assert!(spec.containers[0].env.is_none() && spec.containers[0].command.is_none());
        assert_eq!(spec.volumes.as_ref().map(Vec::len), Some(1), "only claims matter");
        let status = pod.status.as_ref().expect("status");
        assert_eq!(status.nominated_node_name.as_deref(), Some("n1"));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(1));
        assert!(status.pod_ips.is_none() && pod.metadata.annotations.is_none());
    }
}
