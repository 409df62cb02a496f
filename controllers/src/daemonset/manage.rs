//! One pod per eligible node (upstream's manage, podsShouldBeOnNode and
//! syncNodes): start pods where they are missing, delete them where they do
//! not belong, replace failed ones (with a back-off per node), prune extras.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};

use super::{Shared, placement, util};
use crate::replicaset::api_message;
use crate::{Error, pods};

/// At most this many pods are created or deleted in one sync (upstream's BurstReplicas).
pub const BURST_REPLICAS: usize = 250;

/// A DaemonSet's pods by the node they are for (`getNodesToDaemonPods`); pods that
/// finished and are being deleted are left out unless `with_deleted_terminal`.
pub fn by_node(owned: &[Arc<Pod>], with_deleted_terminal: bool) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut map: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in owned {
        let terminal = matches!(pods::phase(pod), "Succeeded" | "Failed");
        if !with_deleted_terminal && terminal && pods::is_terminating(pod) {
            continue;
        }
        if let Some(node) = placement::target_node(pod) {
            map.entry(node).or_default().push(Arc::clone(pod));
        }
    }
    map
}

/// What one node needs (upstream's podsShouldBeOnNode, before the failed-pod back-off).
#[derive(Debug, Default, PartialEq)]
pub struct NodeWork {
    pub create: bool,
    pub delete: Vec<Arc<Pod>>,
    /// Failed pods to delete (subject to the back-off).
    pub failed: Vec<Arc<Pod>>,
    /// Succeeded pods to delete.
    pub succeeded: Vec<Arc<Pod>>,
}

/// The rollout state `node_work` needs besides the pods.
pub struct Current<'a> {
    pub hash: &'a str,
    pub generation: Option<i64>,
    pub surge: bool,
    pub min_ready: i32,
    pub now: Timestamp,
}

/// The work on one node given (shouldRun, shouldContinueRunning) and its pods.
pub fn node_work(run: (bool, bool), daemon_pods: Option<&Vec<Arc<Pod>>>, current: &Current<'_>) -> NodeWork {
    let (should_run, should_continue) = run;
    let mut work = NodeWork::default();
    match daemon_pods {
        None if should_run => work.create = true,
        None => {}
        Some(daemon_pods) if should_continue => {
            let mut running = Vec::new();
            for pod in daemon_pods.iter().filter(|p| !pods::is_terminating(p)) {
                match pods::phase(pod) {
                    "Failed" => work.failed.push(Arc::clone(pod)),
                    "Succeeded" => work.succeeded.push(Arc::clone(pod)),
                    _ => running.push(Arc::clone(pod)),
                }
            }
            running.sort_by(|a, b| util::by_age(a, b));
            if !current.surge {
                work.delete.extend(running.into_iter().skip(1));
                return work;
            }
            if running.len() <= 1 {
                work.create = running.is_empty() && should_run;
                return work;
            }
            // Surging: keep the oldest new pod, and the oldest old one until the new one is available.
            let (mut oldest_new, mut oldest_old) = (None, None);
            for pod in running {
                let slot = match util::is_updated(&pod, current.hash, current.generation) {
                    true => &mut oldest_new,
                    false => &mut oldest_old,
                };
                match slot {
                    None => *slot = Some(pod),
                    Some(_) => work.delete.push(pod),
                }
            }
            if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                && (!pods::is_ready(&old) || pods::is_available(&new, current.min_ready, current.now))
            {
                work.delete.push(old);
            }
        }
        Some(daemon_pods) => {
            work.delete.extend(daemon_pods.iter().filter(|p| !pods::is_terminating(p)).cloned());
        }
    }
    work
}

/// The back-off between deletions of failed pods on one node (upstream's failedPodsBackoff:
/// 1 s doubling to 15 min, forgotten after twice the maximum).
#[derive(Debug, Default)]
pub struct FailedBackoff {
    entries: Mutex<HashMap<String, (Duration, Timestamp)>>,
}

impl FailedBackoff {
    const INITIAL: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(15 * 60);

    /// The remaining delay when `key` is still backing off at `now`.
    pub fn waiting(&self, key: &str, now: Timestamp) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (delay, since) = entries.get(key)?;
        let elapsed = now.duration_since(*since);
        let delay_signed = SignedDuration::try_from(*delay).ok()?;
        (elapsed < delay_signed).then(|| Duration::try_from(delay_signed - elapsed).unwrap_or(*delay))
    }

    /// Records a deletion at `now`, doubling the delay.
    pub fn next(&self, key: &str, now: Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let expired = |since: &Timestamp| {
            now.duration_since(*since) > SignedDuration::try_from(Self::MAX * 2).unwrap_or(SignedDuration::MAX)
        };
        let delay = match entries.get(key) {
            Some((delay, since)) if !expired(since) => (*delay * 2).min(Self::MAX),
            _ => Self::INITIAL,
        };
        entries.insert(key.to_owned(), (delay, now));
    }
}

/// Works out every node's pods and applies it; returns when to look again for a
/// failed pod still backing off.
pub async fn manage(
    shared: &Shared,
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    owned: &[Arc<Pod>],
    current: &Current<'_>,
) -> Result<Option<Duration>, Error> {
    let template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    let by_node = by_node(owned, false);
    let reference = ds.object_ref(&());
    let namespace = ds.namespace().unwrap_or_default();
    let mut create_on = Vec::new();
    let mut delete = Vec::new();
    let mut retry = None;
    for node in nodes {
        let name = node.name_any();
        let work = node_work(placement::should_run(&template, node), by_node.get(&name), current);
        if work.create {
            create_on.push(name.clone());
        }
        delete.extend(work.delete);
        for pod in work.failed {
            let key = format!(
                "{}/{}/{name}",
                ds.uid().unwrap_or_default(),
                ds.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0)
            );
            if let Some(wait) = shared.failed_backoff.waiting(&key, current.now) {
                tracing::debug!(pod = %pod.name_any(), node = %name, ?wait, "deleting a failed pod is backing off");
                retry = Some(retry.map_or(wait, |r: Duration| r.min(wait)));
                continue;
            }
            shared.failed_backoff.next(&key, current.now);
            let message =
                format!("Found failed daemon pod {namespace}/{} on node {name}, will try to kill it", pod.name_any());
            shared.events.warning(&reference, "FailedDaemonPod", message).await;
            delete.push(pod);
        }
        for pod in work.succeeded {
            let message = format!(
                "Found succeeded daemon pod {namespace}/{} on node {name}, will try to delete it",
                pod.name_any()
            );
            shared.events.normal(&reference, "SucceededDaemonPod", message).await;
            delete.push(pod);
        }
    }
    // Unscheduled pods for nodes that are gone: nothing else would ever delete them.
    for (node, node_pods) in &by_node {
        if !nodes.iter().any(|n| n.name_any() == *node) {
            delete.extend(node_pods.iter().filter(|p| !pods::is_assigned(p)).cloned());
        }
    }
    sync_nodes(shared, ds, &delete, &create_on, current).await?;
    Ok(retry)
}

/// Deletes `delete` and creates a pod on each of `create_on`, in slow-start batches,
/// recording expectations (upstream's syncNodes).
pub async fn sync_nodes(
    shared: &Shared,
    ds: &DaemonSet,
    delete: &[Arc<Pod>],
    create_on: &[String],
    current: &Current<'_>,
) -> Result<(), Error> {
    let key = super::key_of(ds);
    let namespace = ds.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &namespace);
    let reference = ds.object_ref(&());
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let template = util::pod_template(&template, current.generation, current.hash);
    let mut failures = Vec::new();
    let create_on = &create_on[..create_on.len().min(BURST_REPLICAS)];
    let (mut done, mut batch) = (0, 1);
    while done < create_on.len() {
        let end = (done + batch).min(create_on.len());
        let creations = create_on[done..end].iter().map(|node| {
            let mut pod = crate::replicaset::pod_from_template(&template, ds);
            if let Some(spec) = pod.spec.as_mut() {
                spec.affinity = Some(placement::bind_to_node(spec.affinity.take(), node));
            }
            let api = api.clone();
            async move { api.create(&PostParams::default(), &pod).await }
        });
        let mut failed = false;
        for result in futures::future::join_all(creations).await {
            match result {
                Ok(created) => {
                    let name = created.name_any();
                    shared.expectations.created(&key, &name);
                    shared.events.normal(&reference, "SuccessfulCreate", format!("Created pod: {name}")).await;
                }
                Err(error) => {
                    let message = format!("Error creating: {}", api_message(&error));
                    shared.events.warning(&reference, "FailedCreate", message.clone()).await;
                    failures.push(message);
                    failed = true;
                }
            }
        }
        if failed {
            break;
        }
        done = end;
        batch *= 2;
    }
    let delete = &delete[..delete.len().min(BURST_REPLICAS)];
    let deletions = delete.iter().map(|pod| {
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        let (api, name) = (api.clone(), pod.name_any());
        async move { api.delete(&name, &params).await }
    });
    for (pod, result) in delete.iter().zip(futures::future::join_all(deletions).await) {
        let name = pod.name_any();
        match result {
            Ok(_) => {
                shared.expectations.deleted(&key, pod.metadata.uid.as_deref().unwrap_or_default());
                shared.events.normal(&reference, "SuccessfulDelete", format!("Deleted pod: {name}")).await;
            }
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(error) => {
                let message = format!("Error deleting: {}", api_message(&error));
                shared.events.warning(&reference, "FailedDelete", message.clone()).await;
                failures.push(message);
            }
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(Error::Invalid(failures.join("; "))),
    }
}
