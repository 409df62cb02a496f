//! One sync of a StatefulSet (upstream's defaultStatefulSetControl): pick the
//! current and update revisions, bring the replicas in `[start, start+replicas)`
//! into being, replace failed ones, delete the condemned (ordinals beyond),
//! then roll pods onto the update revision from the highest ordinal down to
//! the partition. OrderedReady does each step one pod at a time and stops at
//! the first pod that is not Running, Ready and available; Parallel does them
//! all at once, in slow-start batches.

use std::cmp::Reverse;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;

use super::identity::{self, Versions, is_healthy};
use super::pod_control;
use super::revisions::{self, Revisions};
use super::{Shared, status};
use crate::{Error, pods};

/// At most this many pods are worked on at once in Parallel mode (upstream's MaxBatchSize).
pub const MAX_BATCH_SIZE: usize = 500;

/// Syncs the set's pods and revisions and writes its status; returns the status.
pub async fn update(
    shared: &Shared,
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    sorted: &[Arc<ControllerRevision>],
) -> Result<StatefulSetStatus, Error> {
    let api: Api<ControllerRevision> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    let revisions = match revisions::current_and_update(&api, set, sorted).await {
        Ok(revisions) => revisions,
        Err(error) => {
            revisions::truncate(&api, set, pods, sorted, None).await?;
            return Err(error.into());
        }
    };
    let (mut status, synced) = sync_pods(shared, set, pods, &revisions).await;
    let written = status::write(&shared.ctx.client, set, &mut status).await;
    let truncated = revisions::truncate(&api, set, pods, sorted, Some(&revisions)).await;
    synced?;
    written?;
    truncated?;
    Ok(status)
}

/// The step a pass over pods takes on each.
enum Step<'a> {
    Replica,
    FixClaims,
    Condemned { first_unhealthy: Option<&'a str> },
}

struct Sync<'a> {
    shared: &'a Shared,
    set: &'a StatefulSet,
    update_set: &'a StatefulSet,
    monotonic: bool,
    min_ready: i32,
    now: Timestamp,
}

/// Upstream's updateStatefulSet: the status of the pods, and whether the work failed.
async fn sync_pods(
    shared: &Shared,
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    revisions: &Revisions,
) -> (StatefulSetStatus, Result<(), Error>) {
    let current_set = revisions::apply(set, &revisions.current);
    let update_set = revisions::apply(set, &revisions.update);
    let (current_name, update_name) = (revisions.current.name_any(), revisions.update.name_any());
    let spec = set.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = shared.ctx.clock.now();
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current_name.clone()),
        update_revision: Some(update_name.clone()),
        collision_count: Some(revisions.collision_count),
        ..StatefulSetStatus::default()
    };
    status::count(&mut status, pods.iter().map(AsRef::as_ref), min_ready, now);

    let start = identity::start_ordinal(set);
    let mut slots: Vec<Option<Arc<Pod>>> = vec![None; usize::try_from(identity::replicas(set)).unwrap_or(0)];
    let mut condemned = Vec::new();
    for pod in pods {
        let Some(ordinal) = identity::ordinal(pod) else { continue };
        if identity::in_range(set, pod) {
            slots[usize::try_from(ordinal - start).unwrap_or(0)] = Some(Arc::clone(pod));
        } else {
            condemned.push(Arc::clone(pod));
        }
    }
    let versions = Versions {
        current_set: &current_set,
        update_set: &update_set,
        current_revision: &current_name,
        update_revision: &update_name,
        current_replicas: set.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0),
    };
    let ordinal_at = |index: usize| start.saturating_add(i32::try_from(index).unwrap_or(i32::MAX));
    let replicas: Vec<Arc<Pod>> = slots
        .into_iter()
        .enumerate()
        .map(|(index, pod)| pod.unwrap_or_else(|| Arc::new(versions.pod(ordinal_at(index)))))
        .collect();
    condemned.sort_by_key(|p| Reverse(identity::ordinal(p)));
    let first_unhealthy = replicas
        .iter()
        .find(|p| !is_healthy(p))
        .or_else(|| condemned.iter().rev().find(|p| !is_healthy(p)))
        .map(|p| p.name_any());
    if let Some(name) = &first_unhealthy {
        tracing::debug!(pod = %name, "first unhealthy pod");
    }
    if set.metadata.deletion_timestamp.is_some() {
        return (status, Ok(()));
    }
    let sync = Sync {
        shared,
        set,
        update_set: &update_set,
        monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
        min_ready,
        now,
    };
    let recount = |status: &mut StatefulSetStatus| {
        status::count(status, replicas.iter().chain(condemned.iter()).map(AsRef::as_ref), min_ready, now);
    };
    let passes = [
        (&replicas, Step::Replica),
        (&condemned, Step::FixClaims),
        (&condemned, Step::Condemned { first_unhealthy: first_unhealthy.as_deref() }),
    ];
    for (pods, step) in passes {
        match sync.run_for_all(pods, &step).await {
            Ok(false) => {}
            Ok(true) => {
                recount(&mut status);
                return (status, Ok(()));
            }
            Err(error) => {
                recount(&mut status);
                return (status, Err(error));
            }
        }
    }
    recount(&mut status);
    let strategy = spec.update_strategy.unwrap_or_default();
    if strategy.type_.as_deref() == Some("OnDelete") {
        return (status, Ok(()));
    }
    // Upstream's rolling update without maxUnavailable (its feature gate is off by default).
    let partition = strategy.rolling_update.and_then(|r| r.partition).unwrap_or(0);
    let update_min = usize::try_from(partition).unwrap_or(0);
    for target in (update_min..replicas.len()).rev() {
        let pod = &replicas[target];
        if identity::revision_of(pod) != update_name && !pods::is_terminating(pod) {
            tracing::debug!(pod = %pod.name_any(), "terminating pod for update");
            let deleted = pod_control::delete_pod(shared, set, pod).await;
            status.current_replicas = status.current_replicas.map(|n| n - 1);
            return (status, deleted);
        }
        if !is_healthy(pod) {
            tracing::debug!(pod = %pod.name_any(), "waiting for pod to update");
            return (status, Ok(()));
        }
    }
    (status, Ok(()))
}

impl Sync<'_> {
    /// Runs `step` on each pod: in order, stopping at the first that says so
    /// (OrderedReady), or on all in slow-start batches (Parallel). True: stop this sync.
    async fn run_for_all(&self, pods: &[Arc<Pod>], step: &Step<'_>) -> Result<bool, Error> {
        if self.monotonic {
            for pod in pods {
                if self.step(step, pod).await? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        let (mut done, mut batch) = (0, 1);
        while done < pods.len() {
            let end = (done + batch).min(pods.len());
            let results = futures::future::join_all(pods[done..end].iter().map(|p| self.step(step, p))).await;
            if let Some(error) = results.into_iter().find_map(Result::err) {
                return Err(error);
            }
            done = end;
            batch = (batch * 2).min(MAX_BATCH_SIZE);
        }
        Ok(false)
    }

    async fn step(&self, step: &Step<'_>, pod: &Pod) -> Result<bool, Error> {
        match step {
            Step::Replica => self.process_replica(pod).await,
            Step::FixClaims => {
                if !pod_control::claims_match_policy(self.shared, self.update_set, pod) {
                    pod_control::update_claims_for_policy(self.shared, self.update_set, pod).await?;
                }
                Ok(false)
            }
            Step::Condemned { first_unhealthy } => self.process_condemned(pod, *first_unhealthy).await,
        }
    }

    /// Upstream's processReplica. True: this sync can go no further.
    async fn process_replica(&self, pod: &Pod) -> Result<bool, Error> {
        if identity::is_finished(pod) {
            if !pods::is_terminating(pod) {
                pod_control::delete_pod(self.shared, self.set, pod).await?;
            }
            return Ok(true);
        }
        if !identity::is_created(pod) {
            if pod_control::claim_is_stale(self.shared, self.set, pod) {
                tracing::debug!(pod = %pod.name_any(), "waiting for a stale claim to be deleted");
                return Ok(true);
            }
            pod_control::create_pod(self.shared, self.set, pod).await?;
            return Ok(self.monotonic);
        }
        if identity::is_pending(pod) {
            pod_control::create_claims(self.shared, self.set, pod).await?;
            if !pod_control::claims_match_policy(self.shared, self.set, pod) {
                pod_control::update_claims_for_policy(self.shared, self.set, pod).await?;
            }
        }
        if self.monotonic {
            if pods::is_terminating(pod) {
                tracing::debug!(pod = %pod.name_any(), "waiting for pod to terminate");
                return Ok(true);
            }
            if !identity::is_running_and_ready(pod) {
                tracing::debug!(pod = %pod.name_any(), "waiting for pod to be Running and Ready");
                return Ok(true);
            }
            if !pods::is_available(pod, self.min_ready, self.now) {
                tracing::debug!(pod = %pod.name_any(), "waiting for pod to be available");
                return Ok(true);
            }
        }
        let retention = pod_control::claims_match_policy(self.shared, self.update_set, pod);
        if identity::identity_matches(self.set, pod) && identity::storage_matches(self.set, pod) && retention {
            return Ok(false);
        }
        pod_control::update_pod(self.shared, self.update_set, pod).await?;
        Ok(false)
    }

    /// Upstream's processCondemned: deletes one pod beyond the replicas. True: stop here.
    async fn process_condemned(&self, pod: &Pod, first_unhealthy: Option<&str>) -> Result<bool, Error> {
        if pods::is_terminating(pod) {
            return Ok(self.monotonic);
        }
        let first = first_unhealthy == pod.metadata.name.as_deref();
        if self.monotonic && !first {
            if !identity::is_running_and_ready(pod) {
                tracing::debug!(pod = ?first_unhealthy, "waiting for pod to be Running and Ready before scaling down");
                return Ok(true);
            }
            if !pods::is_available(pod, self.min_ready, self.now) {
                tracing::debug!(pod = ?first_unhealthy, "waiting for pod to be available before scaling down");
                return Ok(true);
            }
        }
        tracing::debug!(pod = %pod.name_any(), "terminating pod for scale down");
        pod_control::delete_pod(self.shared, self.set, pod).await?;
        Ok(true)
    }
}
