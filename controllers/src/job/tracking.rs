//! Counting finished pods exactly once (upstream's
//! `trackJobStatusAndRemoveFinalizers`): a finished pod still carrying the
//! tracking finalizer is first recorded in `status.uncountedTerminatedPods`
//! (or, Indexed, in `completedIndexes`), the status is written, then the
//! finalizer is removed, then the pod moves from the uncounted lists into
//! `succeeded`/`failed`. A restart between two steps resumes from what the
//! status and the finalizers say. The terminal condition is only added once
//! nothing is uncounted and no pod is terminating.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::batch::v1::{Job, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use super::indexes::{completion_index, valid_index};
use super::manage::remove_finalizer;
use super::podutil::{has_tracking_finalizer, is_failed, uid};
use super::policy::match_pod_failure_policy;
use super::status::{self, Spec};
use super::sync::SyncCtx;
use super::{Error, Result, State};
use crate::pods;

/// The uncounted lists stay below this many UIDs (about 20 KB), as upstream.
const MAX_UNCOUNTED_PODS: usize = 500;

fn uncounted(status: &mut JobStatus) -> &mut UncountedTerminatedPods {
    status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default)
}

/// Records finished pods, removes their finalizers, counts them, adds the terminal condition.
pub(super) async fn track_and_remove_finalizers(state: &State, ctx: &mut SyncCtx, mut needs_flush: bool) -> Result<()> {
    let raw = ctx.job.spec.clone().unwrap_or_default();
    let spec = Spec::of(&raw);
    let completions = spec.completions_or_zero();
    if spec.indexed {
        // Completed indexes are added in order.
        ctx.pods.sort_by_key(|p| completion_index(p).unwrap_or(-1));
    }
    let mut with_finalizer: HashSet<String> = ctx
        .pods
        .iter()
        .filter(|p| has_tracking_finalizer(p) && !ctx.expected_removals.contains(uid(p)))
        .map(|p| uid(p).to_owned())
        .collect();
    needs_flush |= clean_uncounted(ctx.status(), &with_finalizer);
    let mut to_remove: Vec<Arc<Pod>> = Vec::new();
    let mut new_indexes: Vec<i32> = Vec::new();
    let mut reached_max = false;
    let only_failed = spec.only_replace_failed();
    let job_terminating = ctx.finished.as_ref().is_some_and(|c| c.type_ != status::SUCCESS_CRITERIA_MET);
    let pods = ctx.pods.clone();
    for pod in &pods {
        let id = uid(pod).to_owned();
        if !has_tracking_finalizer(pod) || ctx.expected_removals.contains(&id) {
            continue;
        }
        let failed = is_failed(pod, only_failed);
        if !can_remove_finalizer(ctx, pod, failed) {
            continue;
        }
        to_remove.push(pod.clone());
        if pods::phase(pod) == "Succeeded" && !ctx.uncounted_failed.contains(&id) {
            if spec.indexed {
                if let Some(index) = valid_index(pod, completions).filter(|i| !ctx.prev_succeeded_indexes.has(*i)) {
                    new_indexes.push(index);
                    needs_flush = true;
                }
            } else if !ctx.uncounted_succeeded.contains(&id) {
                needs_flush = true;
                uncounted(ctx.status()).succeeded.get_or_insert_with(Vec::new).push(id.clone());
            }
        } else if failed || job_terminating {
            // Once the Job is finishing, every pod that did not succeed counts as failed.
            let index_ok = !spec.indexed || valid_index(pod, completions).is_some();
            if !ctx.uncounted_failed.contains(&id) && index_ok {
                let verdict = match_pod_failure_policy(spec.raw.pod_failure_policy.as_ref(), pod);
                if verdict.count {
                    needs_flush = true;
                    uncounted(ctx.status()).failed.get_or_insert_with(Vec::new).push(id.clone());
                }
            }
        }
        let listed = uncounted(ctx.status());
        let total = new_indexes.len()
            + listed.succeeded.as_ref().map_or(0, Vec::len)
            + listed.failed.as_ref().map_or(0, Vec::len);
        if total >= MAX_UNCOUNTED_PODS {
            // The rest waits for the next sync (status and pod events requeue the Job).
            reached_max = true;
            break;
        }
    }
    if spec.indexed {
        new_indexes.sort_unstable();
        ctx.succeeded_indexes = ctx.succeeded_indexes.with_indexes(new_indexes);
        let completed = ctx.succeeded_indexes.to_string();
        let failed_indexes = ctx.failed_indexes.as_ref().map(ToString::to_string);
        let total = ctx.succeeded_indexes.total();
        let job_status = ctx.status();
        if job_status.completed_indexes.as_deref().unwrap_or_default() != completed {
            needs_flush = true;
        }
        job_status.succeeded = Some(total);
        job_status.completed_indexes = Some(completed);
        if job_status.failed_indexes != failed_indexes {
            job_status.failed_indexes = failed_indexes;
            needs_flush = true;
        }
    }
    let now = state.clock.now();
    if let Some(finished) = ctx.finished.clone() {
        if finished.type_ == status::FAILURE_TARGET {
            // The interim condition keeps the failure's reason while finalizers are removed.
            ctx.status().conditions.get_or_insert_with(Vec::new).push(finished.clone());
            needs_flush = true;
            ctx.finished = Some(status::terminal_for(&finished, now));
        } else if finished.type_ == status::SUCCESS_CRITERIA_MET && finished.status == "True" {
            let conditions = ctx.status().conditions.get_or_insert_with(Vec::new);
            if !conditions.iter().any(|c| c.type_ == status::SUCCESS_CRITERIA_MET && c.status == "True") {
                conditions.push(finished.clone());
                needs_flush = true;
            }
            ctx.finished = Some(status::terminal_for(&finished, now));
        }
    }
    needs_flush = flush_and_remove_finalizers(state, ctx, &to_remove, &mut with_finalizer, needs_flush).await?;
    let finished = !reached_max && enact_finished(ctx, now);
    if finished || needs_flush {
        ctx.job = update_status(state, &ctx.job).await?;
        if finished {
            record_finished(state, ctx, &spec).await;
        }
    }
    Ok(())
}

/// Whether the pod's finalizer may go: the Job is being deleted or finishing, the pod
/// succeeded, or it failed (unless kept for its index's replacement).
fn can_remove_finalizer(ctx: &SyncCtx, pod: &Pod, failed: bool) -> bool {
    if ctx.job.metadata.deletion_timestamp.is_some() || ctx.finished.is_some() || pods::phase(pod) == "Succeeded" {
        return true;
    }
    if !failed {
        return false;
    }
    let delayed = completion_index(pod).and_then(|i| ctx.delayed_deletion.get(&i));
    delayed.is_none_or(|p| uid(p) != uid(pod))
}

/// Writes the uncounted pods (and interim conditions), removes the finalizers, counts the
/// pods whose finalizer is gone. Returns whether the status still needs writing.
async fn flush_and_remove_finalizers(
    state: &State,
    ctx: &mut SyncCtx,
    to_remove: &[Arc<Pod>],
    with_finalizer: &mut HashSet<String>,
    mut needs_flush: bool,
) -> Result<bool> {
    if needs_flush {
        ctx.job = update_status(state, &ctx.job)
            .await
            .map_err(|e| Error::Sync(format!("adding uncounted pods to status: {e}")))?;
        state.backoff.update(&ctx.key, ctx.new_backoff);
        needs_flush = false;
    }
    let mut removal_error = None;
    if !to_remove.is_empty() {
        let (removed, error) = remove_finalizers(state, &ctx.key, &ctx.job, to_remove).await;
        for (pod, ok) in to_remove.iter().zip(removed) {
            if ok {
                with_finalizer.remove(uid(pod));
            }
        }
        removal_error = error;
    }
    if clean_uncounted(ctx.status(), with_finalizer) {
        needs_flush = true;
    }
    if let Some(error) = removal_error {
        if needs_flush {
            ctx.job = update_status(state, &ctx.job).await?;
        }
        return Err(error);
    }
    Ok(needs_flush)
}

/// Moves uncounted UIDs whose pod no longer has the finalizer into the counters.
fn clean_uncounted(job_status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let mut changed = false;
    let mut succeeded = job_status.succeeded.unwrap_or(0);
    let mut failed = job_status.failed.unwrap_or(0);
    let lists = uncounted(job_status);
    for (list, counter) in [(&mut lists.succeeded, &mut succeeded), (&mut lists.failed, &mut failed)] {
        let Some(uids) = list.as_mut() else { continue };
        let before = uids.len();
        uids.retain(|uid| with_finalizer.contains(uid));
        if uids.len() != before {
            changed = true;
            *counter += (before - uids.len()) as i32;
        }
    }
    if changed {
        job_status.succeeded = Some(succeeded);
        job_status.failed = Some(failed);
    }
    changed
}

/// Removes the tracking finalizers; per pod whether it is gone (a pod already deleted counts).
async fn remove_finalizers(state: &State, key: &str, job: &Job, pods: &[Arc<Pod>]) -> (Vec<bool>, Option<Error>) {
    {
        let mut removals = state.finalizer_removals.lock().unwrap_or_else(|p| p.into_inner());
        removals.entry(key.to_owned()).or_default().extend(pods.iter().map(|p| uid(p).to_owned()));
    }
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &job.namespace().unwrap_or_default());
    let outcomes =
        join_all(pods.iter().map(|pod| remove_finalizer(&api, pod.metadata.name.as_deref().unwrap_or_default()))).await;
    let mut error = None;
    let mut removed = Vec::with_capacity(pods.len());
    for (pod, outcome) in pods.iter().zip(outcomes) {
        let ok = match outcome {
            Ok(()) => true,
            Err(kube::Error::Api(status)) if status.code == 404 => true,
            Err(e) => {
                error = Some(Error::Sync(format!("removing tracking finalizer: {e}")));
                false
            }
        };
        if !ok {
            let mut removals = state.finalizer_removals.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(expected) = removals.get_mut(key) {
                expected.remove(uid(pod));
            }
        }
        removed.push(ok);
    }
    (removed, error)
}

/// Adds the terminal condition when nothing is left to count and no pod is terminating.
fn enact_finished(ctx: &mut SyncCtx, now: jiff::Timestamp) -> bool {
    let Some(finished) = ctx.finished.clone() else { return false };
    let terminating = ctx.terminating;
    let job_status = ctx.status();
    let lists = uncounted(job_status);
    if lists.succeeded.as_ref().is_some_and(|l| !l.is_empty()) || lists.failed.as_ref().is_some_and(|l| !l.is_empty()) {
        return false;
    }
    if terminating > 0 {
        return false;
    }
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let conditions = job_status.conditions.get_or_insert_with(Vec::new);
    status::ensure(
        conditions,
        &finished.type_,
        &finished.status,
        &text(&finished.reason),
        &text(&finished.message),
        now,
    );
    if finished.type_ == status::COMPLETE {
        job_status.completion_time = finished.last_transition_time.clone();
    }
    true
}

/// The events of a Job that just finished.
async fn record_finished(state: &State, ctx: &SyncCtx, spec: &Spec<'_>) {
    let regarding = ctx.job.object_ref(&());
    let Some(finished) = &ctx.finished else { return };
    if finished.type_ == status::COMPLETE {
        let succeeded = ctx.job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
        if spec.completions.is_some_and(|c| succeeded > c) {
            let message = "Too many succeeded pods running after completion count reached".to_owned();
            state.events.warning(&regarding, "TooManySucceededPods", message).await;
        }
        state.events.normal(&regarding, "Completed", "Job completed".to_owned()).await;
    } else {
        let reason = finished.reason.clone().unwrap_or_default();
        state.events.warning(&regarding, &reason, finished.message.clone().unwrap_or_default()).await;
    }
}

/// Writes the status (PUT, so a stale read conflicts instead of overwriting).
async fn update_status(state: &State, job: &Job) -> Result<Job> {
    let api: Api<Job> = Api::namespaced(state.client.clone(), &job.namespace().unwrap_or_default());
    Ok(api.replace_status(&job.name_any(), &PostParams::default(), job).await?)
}
