//! One Job's reconcile (upstream's `syncJob`): gather and claim its pods,
//! count what finished, decide whether the Job failed or succeeded, create or
//! delete pods, then account the finished pods and write the status
//! ([`super::tracking`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::SignedDuration;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::indexes::{self, Intervals, index_absolute_failure_count, index_failure_count, valid_index};
use super::podutil::{self, finished_time, has_tracking_finalizer, is_failed, uid};
use super::policy::{match_pod_failure_policy, match_success_policy};
use super::status::{self, Spec};
use super::{Error, Result, State, key_of, manage, tracking, ttl};
use crate::clock::api_time;
use crate::ownership::{Claim, controller_ref, is_controlled_by, selector};
use crate::pods;

/// Everything one sync works out about a Job (upstream's syncJobCtx).
#[derive(Debug)]
pub(super) struct SyncCtx {
    pub key: String,
    /// The Job as this sync updates it (status written by `tracking`).
    pub job: Job,
    pub pods: Vec<Arc<Pod>>,
    pub active: Vec<Arc<Pod>>,
    /// The condition the Job reached: interim (FailureTarget, SuccessCriteriaMet) or terminal.
    pub finished: Option<JobCondition>,
    pub succeeded: i32,
    pub failed: i32,
    pub prev_succeeded_indexes: Intervals,
    pub succeeded_indexes: Intervals,
    pub failed_indexes: Option<Intervals>,
    pub new_backoff: super::backoff::Record,
    /// Pods whose finalizer removal was sent but not seen yet.
    pub expected_removals: HashSet<String>,
    /// `status.uncountedTerminatedPods` as the sync found it.
    pub uncounted_succeeded: HashSet<String>,
    pub uncounted_failed: HashSet<String>,
    /// Per index, the failed pod kept until its replacement carries its failure count.
    pub delayed_deletion: HashMap<i32, Arc<Pod>>,
    pub terminating: i32,
    pub ready: i32,
    /// When to sync again (deadline, back-off).
    pub requeue: Option<SignedDuration>,
}

impl SyncCtx {
    /// Syncs again after `after` at the latest (never sooner than 10 ms).
    pub fn requeue_after(&mut self, after: SignedDuration) {
        let after = after.max(SignedDuration::from_millis(10));
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    pub fn status(&mut self) -> &mut JobStatus {
        self.job.status.get_or_insert_with(JobStatus::default)
    }
}

/// Reconciles one Job.
pub(super) async fn sync(state: &State, shared: &Job) -> Result<Action> {
    state.pods.wait_until_ready().await.map_err(|e| Error::Sync(e.to_string()))?;
    let namespace = shared.namespace().unwrap_or_default();
    let key = key_of(&namespace, &shared.name_any());
    let Some(raw_spec) = shared.spec.as_ref() else { return Ok(Action::await_change()) };
    if raw_spec.managed_by.as_deref().is_some_and(|m| m != status::MANAGED_BY_JOB_CONTROLLER) {
        return Ok(Action::await_change());
    }
    if status::is_finished(shared) {
        state.backoff.remove(&key);
        return ttl::handle(state, shared).await;
    }
    if raw_spec.completion_mode.as_deref().is_some_and(|m| m != "NonIndexed" && m != "Indexed") {
        let message = "Skipped Job sync because completion mode is unknown".to_owned();
        state.events.warning(&shared.object_ref(&()), "UnknownCompletionMode", message).await;
        return Ok(Action::await_change());
    }
    let now = state.clock.now();
    let mut job = shared.clone();
    let job_status = job.status.get_or_insert_with(JobStatus::default);
    let uncounted = job_status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    let uncounted_succeeded: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
    let uncounted_failed: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();

    let satisfied = expectations_satisfied(state, &key, &namespace);
    let pods = pods_for_job(state, &job, &namespace).await?;
    let active: Vec<Arc<Pod>> = pods.iter().filter(|p| pods::is_active(p)).cloned().collect();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count() as i32;
    let terminating = pods.iter().filter(|p| podutil::is_terminating(p)).count() as i32;
    let expected_removals = expected_finalizer_removals(state, &key, &namespace);
    let mut ctx = SyncCtx {
        key: key.clone(),
        job,
        pods,
        active,
        finished: None,
        succeeded: 0,
        failed: 0,
        prev_succeeded_indexes: Intervals::default(),
        succeeded_indexes: Intervals::default(),
        failed_indexes: None,
        new_backoff: super::backoff::Record::default(),
        expected_removals,
        uncounted_succeeded,
        uncounted_failed,
        delayed_deletion: HashMap::new(),
        terminating,
        ready,
        requeue: None,
    };
    let spec = Spec::of(raw_spec);
    let (new_succeeded, new_failed) = new_finished_pods(&ctx, &spec);
    let counted_failures =
        new_failed.iter().filter(|p| match_pod_failure_policy(spec.raw.pod_failure_policy.as_ref(), p).count).count()
            as i32;
    let job_status = ctx.job.status.clone().unwrap_or_default();
    ctx.succeeded =
        job_status.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + ctx.uncounted_succeeded.len() as i32;
    ctx.failed = job_status.failed.unwrap_or(0) + counted_failures + ctx.uncounted_failed.len() as i32;
    if job_status.start_time.is_none() && !spec.suspended {
        ctx.status().start_time = Some(api_time(now));
    }
    let succeeded_refs: Vec<&Pod> = new_succeeded.iter().map(AsRef::as_ref).collect();
    let failed_refs: Vec<&Pod> = new_failed.iter().map(AsRef::as_ref).collect();
    ctx.new_backoff = state.backoff.next(&key, &succeeded_refs, &failed_refs);

    decide_finished(&mut ctx, &spec, shared, now);

    let mut active_count = ctx.active.len() as i32;
    let mut manage_result = Ok(());
    let mut suspend_changed = false;
    if ctx.finished.is_some() {
        let active_pods = ctx.active.clone();
        let (deleted_ready, deleted, result) = manage::delete_active_pods(state, &ctx.job, &active_pods).await;
        if deleted != active_count || !satisfied {
            // Pods may still be appearing or keep finalizers: finish on a later sync.
            ctx.finished = None;
        }
        active_count -= deleted;
        ctx.terminating += deleted;
        ctx.ready -= deleted_ready;
        manage_result = result;
    } else {
        let mut managed = false;
        if satisfied && ctx.job.metadata.deletion_timestamp.is_none() {
            let (active, result) = manage::manage_job(state, &mut ctx).await;
            active_count = active;
            manage_result = result;
            managed = true;
        }
        let complete = match spec.completions {
            None => ctx.succeeded > 0 && active_count == 0,
            Some(completions) => ctx.succeeded >= completions && active_count == 0,
        };
        if complete {
            ctx.finished = Some(status::completions_reached(now));
        } else if managed {
            suspend_changed = update_suspended_condition(state, &mut ctx, spec.suspended, now).await;
        }
    }
    let old = ctx.job.status.clone().unwrap_or_default();
    let needs_update = suspend_changed
        || old.active.unwrap_or(0) != active_count
        || old.ready != Some(ctx.ready)
        || old.terminating != Some(ctx.terminating);
    let ready = ctx.ready;
    let terminating = ctx.terminating;
    let job_status = ctx.status();
    job_status.active = Some(active_count);
    job_status.ready = Some(ready);
    job_status.terminating = Some(terminating);
    tracking::track_and_remove_finalizers(state, &mut ctx, needs_update).await?;
    manage_result?;
    Ok(match ctx.requeue.and_then(|d| std::time::Duration::try_from(d).ok()) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// The failure or success the Job reached, in upstream's order of precedence.
fn decide_finished(ctx: &mut SyncCtx, spec: &Spec, shared: &Job, now: jiff::Timestamp) {
    ctx.finished = status::true_condition(shared, status::SUCCESS_CRITERIA_MET).cloned();
    if ctx.finished.is_none() {
        if let Some(target) = status::true_condition(shared, status::FAILURE_TARGET) {
            ctx.finished = Some(status::terminal_for(target, now));
        } else if let Some(message) = fail_job_message(ctx, spec) {
            ctx.finished = Some(status::failure_target(status::REASON_POD_FAILURE_POLICY, &message, now));
        }
    }
    if ctx.finished.is_none() {
        let start = ctx.job.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
        let deadline = spec.raw.active_deadline_seconds.filter(|_| !spec.suspended);
        let past_deadline = match (deadline, start) {
            (Some(seconds), Some(start)) => now.duration_since(start) >= SignedDuration::from_secs(seconds),
            _ => false,
        };
        if ctx.failed > spec.backoff_limit || past_backoff_limit_on_failure(ctx, spec) {
            let message = "Job has reached the specified backoff limit";
            ctx.finished = Some(status::failure_target(status::REASON_BACKOFF_LIMIT_EXCEEDED, message, now));
        } else if past_deadline {
            let message = "Job was active longer than specified deadline";
            ctx.finished = Some(status::failure_target(status::REASON_DEADLINE_EXCEEDED, message, now));
        } else if let (Some(seconds), Some(start)) = (deadline, start) {
            ctx.requeue_after(SignedDuration::from_secs(seconds) - now.duration_since(start));
        }
    }
    if !spec.indexed {
        return;
    }
    let completions = spec.completions_or_zero();
    let previous = ctx.job.status.as_ref().and_then(|s| s.completed_indexes.clone()).unwrap_or_default();
    ctx.prev_succeeded_indexes = Intervals::parse(&previous, completions);
    let newly: std::collections::BTreeSet<i32> = ctx
        .pods
        .iter()
        .filter(|p| pods::phase(p) == "Succeeded" && has_tracking_finalizer(p))
        .filter_map(|p| valid_index(p, completions))
        .collect();
    ctx.succeeded_indexes = ctx.prev_succeeded_indexes.with_indexes(newly);
    ctx.succeeded = ctx.succeeded_indexes.total();
    if let Some(limit) = spec.backoff_limit_per_index() {
        let failed_indexes = calculate_failed_indexes(ctx, spec, limit);
        if ctx.finished.is_none() {
            let total = failed_indexes.total();
            if spec.raw.max_failed_indexes.is_some_and(|max| total > max) {
                let message = "Job has exceeded the specified maximal number of failed indexes";
                ctx.finished = Some(status::failure_target(status::REASON_MAX_FAILED_INDEXES_EXCEEDED, message, now));
            } else if total > 0 && total + ctx.succeeded_indexes.total() >= completions {
                let message = "Job has failed indexes";
                ctx.finished = Some(status::failure_target(status::REASON_FAILED_INDEXES, message, now));
            }
        }
        ctx.failed_indexes = Some(failed_indexes);
        ctx.delayed_deletion = pods_with_delayed_deletion(ctx, spec);
    }
    if ctx.finished.is_none()
        && let Some(message) =
            match_success_policy(spec.raw.success_policy.as_ref(), completions, &ctx.succeeded_indexes)
    {
        let condition =
            status::condition(status::SUCCESS_CRITERIA_MET, "True", status::REASON_SUCCESS_POLICY, &message, now);
        ctx.finished = Some(condition);
    }
}

/// Sets the Suspended condition (and events) after a manage pass; resuming resets startTime.
async fn update_suspended_condition(state: &State, ctx: &mut SyncCtx, suspended: bool, now: jiff::Timestamp) -> bool {
    let regarding = ctx.job.object_ref(&());
    let conditions = ctx.status().conditions.get_or_insert_with(Vec::new);
    if suspended {
        let changed = status::ensure(conditions, status::SUSPENDED, "True", "JobSuspended", "Job suspended", now);
        if changed {
            state.events.normal(&regarding, "Suspended", "Job suspended".to_owned()).await;
        }
        changed
    } else {
        let changed = status::ensure(conditions, status::SUSPENDED, "False", "JobResumed", "Job resumed", now);
        if changed {
            state.events.normal(&regarding, "Resumed", "Job resumed".to_owned()).await;
            // activeDeadlineSeconds counts the time the Job is continuously active.
            ctx.status().start_time = Some(api_time(now));
        }
        changed
    }
}

/// Whether the pod cache shows every pod this controller created and deleted for the Job.
fn expectations_satisfied(state: &State, key: &str, namespace: &str) -> bool {
    let live_uids: HashSet<String> = state
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && p.metadata.deletion_timestamp.is_none())
        .map(|p| uid(p).to_owned())
        .collect();
    state.expectations.satisfied(
        key,
        |name| state.pods.get(&ObjectRef::new(name).within(namespace)).is_some(),
        |uid| live_uids.contains(uid),
    )
}

/// The finalizer removals still expected: those whose pod the cache shows with the finalizer.
fn expected_finalizer_removals(state: &State, key: &str, namespace: &str) -> HashSet<String> {
    let mut removals = state.finalizer_removals.lock().unwrap_or_else(|p| p.into_inner());
    let Some(expected) = removals.get_mut(key) else { return HashSet::new() };
    let still: HashSet<String> = state
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && has_tracking_finalizer(p))
        .map(|p| uid(p).to_owned())
        .collect();
    expected.retain(|uid| still.contains(uid));
    expected.clone()
}

/// The Job's pods: its own plus orphans its selector adopts, minus those it releases
/// (upstream's getPodsForJob). Adopted pods count as carrying the tracking finalizer.
async fn pods_for_job(state: &State, job: &Job, namespace: &str) -> Result<Vec<Arc<Pod>>> {
    let label_selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
    let Some(selector) = label_selector.and_then(selector) else {
        return Err(Error::Sync("couldn't convert Job selector".to_owned()));
    };
    let job_uid = job.metadata.uid.clone().unwrap_or_default();
    let candidates: Vec<Arc<Pod>> =
        state.pods.state().into_iter().filter(|p| p.metadata.namespace.as_deref() == Some(namespace)).collect();
    let owned_before: HashSet<String> =
        candidates.iter().filter(|p| is_controlled_by(&p.metadata, &job_uid)).map(|p| uid(p).to_owned()).collect();
    let claim = Claim {
        owner: controller_ref(job),
        selector: &selector,
        owner_deleting: job.metadata.deletion_timestamp.is_some(),
    };
    let api: Api<Pod> = Api::namespaced(state.client.clone(), namespace);
    let claimed = claim.run(&api, candidates).await;
    Ok(claimed
        .into_iter()
        .map(|pod| {
            if owned_before.contains(uid(&pod)) || has_tracking_finalizer(&pod) {
                return pod;
            }
            let mut adopted = (*pod).clone();
            adopted.metadata.finalizers.get_or_insert_with(Vec::new).push(podutil::TRACKING_FINALIZER.to_owned());
            Arc::new(adopted)
        })
        .collect())
}

/// Pods with the finalizer, not counted yet, with a valid index (Indexed), passing `filter`.
pub(super) fn valid_pods<'a>(
    ctx: &'a SyncCtx,
    spec: &'a Spec,
    uncounted: Option<&'a HashSet<String>>,
    filter: impl Fn(&Pod) -> bool + 'a,
) -> impl Iterator<Item = &'a Arc<Pod>> + 'a {
    ctx.pods.iter().filter(move |p| {
        let id = uid(p);
        has_tracking_finalizer(p)
            && !uncounted.is_some_and(|u| u.contains(id))
            && !ctx.expected_removals.contains(id)
            && (!spec.indexed || valid_index(p, spec.completions_or_zero()).is_some())
            && filter(p)
    })
}

/// Pods that succeeded and failed since the status last counted them.
fn new_finished_pods(ctx: &SyncCtx, spec: &Spec) -> (Vec<Arc<Pod>>, Vec<Arc<Pod>>) {
    let only_failed = spec.only_replace_failed();
    let succeeded =
        valid_pods(ctx, spec, Some(&ctx.uncounted_succeeded), |p| pods::phase(p) == "Succeeded").cloned().collect();
    let failed = valid_pods(ctx, spec, Some(&ctx.uncounted_failed), |p| is_failed(p, only_failed)).cloned().collect();
    (succeeded, failed)
}

/// The message of a FailJob rule a failed pod matches.
fn fail_job_message(ctx: &SyncCtx, spec: &Spec) -> Option<String> {
    let policy = spec.raw.pod_failure_policy.as_ref()?;
    let only_failed = spec.only_replace_failed();
    ctx.pods
        .iter()
        .filter(|p| is_failed(p, only_failed))
        .find_map(|p| match_pod_failure_policy(Some(policy), p).fail_job)
}

/// With restartPolicy OnFailure, whether the running pods' container restarts reached backoffLimit.
fn past_backoff_limit_on_failure(ctx: &SyncCtx, spec: &Spec) -> bool {
    let policy = spec.raw.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    if policy != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = ctx
        .pods
        .iter()
        .filter(|p| matches!(pods::phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        .map(|c| c.restart_count)
        .sum();
    if spec.backoff_limit == 0 { restarts > 0 } else { restarts >= spec.backoff_limit }
}

/// Whether a failed pod exhausted its index's backoffLimitPerIndex (or matched FailIndex).
fn is_index_failed(spec: &Spec, pod: &Pod, limit: i32) -> bool {
    if !is_failed(pod, spec.only_replace_failed()) {
        return false;
    }
    let counted = match spec.raw.pod_failure_policy.as_ref() {
        Some(policy) => {
            let verdict = match_pod_failure_policy(Some(policy), pod);
            if verdict.action.as_deref() == Some("FailIndex") {
                return true;
            }
            verdict.count
        }
        None => true,
    };
    counted && index_failure_count(pod) >= limit
}

fn calculate_failed_indexes(ctx: &SyncCtx, spec: &Spec, limit: i32) -> Intervals {
    let completions = spec.completions_or_zero();
    let previous = ctx.job.status.as_ref().and_then(|s| s.failed_indexes.clone()).unwrap_or_default();
    let newly: std::collections::BTreeSet<i32> = ctx
        .pods
        .iter()
        .filter(|p| has_tracking_finalizer(p) && is_index_failed(spec, p, limit))
        .filter_map(|p| valid_index(p, completions))
        .collect();
    Intervals::parse(&previous, completions).with_indexes(newly)
}

/// Per index without an active pod, the latest failed pod: its finalizer stays until the
/// replacement is created with the index's failure count (upstream's getPodsWithDelayedDeletionPerIndex).
fn pods_with_delayed_deletion(ctx: &SyncCtx, spec: &Spec) -> HashMap<i32, Arc<Pod>> {
    let active = indexes::indexes_of(ctx.active.iter().map(AsRef::as_ref));
    let failed_indexes = ctx.failed_indexes.clone().unwrap_or_default();
    let only_failed = spec.only_replace_failed();
    let mut result: HashMap<i32, Arc<Pod>> = HashMap::new();
    for pod in valid_pods(ctx, spec, None, |p| is_failed(p, only_failed)) {
        let Some(index) = valid_index(pod, spec.completions_or_zero()) else { continue };
        if ctx.succeeded_indexes.has(index) || failed_indexes.has(index) || active.contains(&index) {
            continue;
        }
        match result.get(&index) {
            Some(last)
                if index_absolute_failure_count(last) > index_absolute_failure_count(pod)
                    || finished_time(pod) < finished_time(last) => {}
            _ => {
                result.insert(index, pod.clone());
            }
        }
    }
    result
}
