//! The scheduler's watches (retried with back-off, each feeding the one
//! loop), and what the loop does with the objects that are not pods or nodes.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
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
        watch(Api::<Pod>::all(client.clone()), &config, |e| Input::Pod(Box::new(e))),
        watch(Api::<Node>::all(client.clone()), &config, |e| Input::Node(Box::new(e))),
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
