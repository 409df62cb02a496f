//! Creating and deleting a Job's pods (upstream's `manageJob`,
//! `deleteJobPods`, `deleteActivePods` and the pod template it stamps):
//! keep `min(parallelism, completions - succeeded)` pods active, respect the
//! failure back-off, give Indexed pods their index, delete everything when
//! suspended.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use jiff::SignedDuration;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::backoff::remaining_for_index;
use super::indexes::{self, COMPLETION_INDEX_ANNOTATION, COMPLETION_INDEX_ENV, Intervals, first_pending, valid_index};
use super::podutil::{TRACKING_FINALIZER, deletion_order, has_tracking_finalizer, is_terminating, uid};
use super::status::Spec;
use super::sync::SyncCtx;
use super::{Error, Result, State};
use crate::ownership::controller_ref;
use crate::pods;

/// At most this many pods are created or deleted in one sync.
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// The first batch of creations; each successful batch doubles the next (slow start).
const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;
/// A sync delayed by the failure back-off waits at least this long (upstream's syncJobBatchPeriod).
const SYNC_JOB_BATCH_PERIOD: SignedDuration = SignedDuration::from_secs(1);

/// Creates or deletes pods towards the wanted number of active ones; returns the active count.
pub(super) async fn manage_job(state: &State, ctx: &mut SyncCtx) -> (i32, Result<()>) {
    let raw = ctx.job.spec.clone().unwrap_or_default();
    let spec = Spec::of(&raw);
    let mut active = ctx.active.len() as i32;
    if spec.suspended {
        let to_delete = pods_for_removal(&spec, &ctx.active, ctx.active.len());
        let (ready, deleted, result) = delete_job_pods(state, ctx, &to_delete).await;
        ctx.terminating += deleted;
        ctx.ready -= ready;
        return (active - deleted, result);
    }
    let want = match spec.completions {
        // Without completions: parallelism until the first success, then let the rest finish.
        None if ctx.succeeded > 0 => active,
        None => spec.parallelism,
        Some(completions) => (completions - ctx.succeeded).clamp(0, spec.parallelism),
    };
    let remove_at_least = (active - want).max(0) as usize;
    let mut to_delete = pods_for_removal(&spec, &ctx.active, remove_at_least);
    to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
    if !to_delete.is_empty() {
        // Deletion takes precedence over creation in one sync.
        let (ready, deleted, result) = delete_job_pods(state, ctx, &to_delete).await;
        ctx.terminating += deleted;
        ctx.ready -= ready;
        return (active - deleted, result);
    }
    let terminating = if spec.only_replace_failed() { ctx.terminating } else { 0 };
    let missing = want - terminating - active;
    if missing <= 0 {
        return (active, Ok(()));
    }
    let now = state.clock.now();
    if spec.backoff_limit_per_index().is_none() {
        let remaining = ctx.new_backoff.remaining(now);
        if remaining > SignedDuration::ZERO {
            ctx.requeue_after(remaining.max(SYNC_JOB_BATCH_PERIOD));
            return (active, Ok(()));
        }
    }
    let mut count = (missing as usize).min(MAX_POD_CREATE_DELETE_PER_SYNC);
    let mut indexes = Vec::new();
    if spec.indexed {
        indexes = first_pending(&taken_indexes(ctx, &spec), count, spec.completions_or_zero());
        if spec.backoff_limit_per_index().is_some() {
            let waits: Vec<(i32, SignedDuration)> = indexes
                .iter()
                .map(|i| (*i, remaining_for_index(ctx.delayed_deletion.get(i).map(AsRef::as_ref), now)))
                .collect();
            indexes = waits.iter().filter(|(_, wait)| wait.is_zero()).map(|(i, _)| *i).collect();
            if indexes.is_empty() {
                if let Some(wait) = waits.iter().map(|(_, w)| *w).min() {
                    ctx.requeue_after(wait.max(SYNC_JOB_BATCH_PERIOD));
                }
                return (active, Ok(()));
            }
        }
        count = indexes.len();
    }
    let template = pod_template(&spec);
    let mut to_create: Vec<Option<i32>> =
        if spec.indexed { indexes.into_iter().map(Some).collect() } else { vec![None; count] };
    let mut batch = SLOW_START_INITIAL_BATCH_SIZE.min(to_create.len());
    let mut result = Ok(());
    while !to_create.is_empty() {
        let this: Vec<Option<i32>> = to_create.drain(..batch.min(to_create.len())).collect();
        let outcomes = join_all(this.iter().map(|index| create_pod(state, ctx, &spec, &template, *index))).await;
        let mut failed = false;
        for outcome in outcomes {
            match outcome {
                Ok(()) => active += 1,
                Err(error) => {
                    failed = true;
                    result = Err(error);
                }
            }
        }
        if failed {
            // Slow start: the rest is retried on a later sync.
            break;
        }
        batch = (batch * 2).min(to_create.len().max(1));
    }
    (active, result)
}

/// Indexes not to start now: succeeded, active, failed and (replacing only failed pods) terminating.
fn taken_indexes(ctx: &SyncCtx, spec: &Spec) -> Intervals {
    let mut taken = ctx.succeeded_indexes.with_indexes(indexes::indexes_of(ctx.active.iter().map(AsRef::as_ref)));
    if spec.only_replace_failed() {
        taken =
            taken.with_indexes(indexes::indexes_of(ctx.pods.iter().filter(|p| is_terminating(p)).map(AsRef::as_ref)));
    }
    if let Some(failed) = &ctx.failed_indexes {
        taken = taken.merge(failed);
    }
    taken
}

/// Active pods to delete: for Indexed Jobs first those without a valid index or repeating
/// one, then the cheapest to lose (upstream's activePodsForRemoval).
fn pods_for_removal(spec: &Spec, active: &[Arc<Pod>], at_least: usize) -> Vec<Arc<Pod>> {
    let (mut remove, mut left): (Vec<Arc<Pod>>, Vec<Arc<Pod>>) = (Vec::new(), Vec::new());
    if spec.indexed {
        let mut by_index: BTreeMap<i32, Vec<Arc<Pod>>> = BTreeMap::new();
        for pod in active {
            match valid_index(pod, spec.completions_or_zero()) {
                Some(index) => by_index.entry(index).or_default().push(pod.clone()),
                None => remove.push(pod.clone()),
            }
        }
        for (_, mut same) in by_index {
            same.sort_by(|a, b| deletion_order(a, b));
            if let Some(keep) = same.pop() {
                left.push(keep);
            }
            remove.extend(same);
        }
    } else {
        left = active.to_vec();
    }
    if remove.len() < at_least {
        left.sort_by(|a, b| deletion_order(a, b));
        let more = at_least - remove.len();
        remove.extend(left.into_iter().take(more));
    }
    remove
}

/// The pod template with the tracking finalizer and, for Indexed Jobs, the index variable.
fn pod_template(spec: &Spec) -> PodTemplateSpec {
    let mut template = spec.raw.template.clone();
    if spec.indexed
        && let Some(pod_spec) = template.spec.as_mut()
    {
        let containers = pod_spec.init_containers.iter_mut().flatten().chain(pod_spec.containers.iter_mut());
        containers.for_each(add_completion_index_env);
    }
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_owned());
    }
    template
}

/// JOB_COMPLETION_INDEX from the pod's completion-index label (upstream with PodIndexLabel).
fn add_completion_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: COMPLETION_INDEX_ENV.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"),
            }),
            ..EnvVarSource::default()
        }),
    });
}

/// Creates one pod from the template (upstream's GetPodFromTemplate and CreatePodsWithGenerateName).
async fn create_pod(
    state: &State,
    ctx: &SyncCtx,
    spec: &Spec<'_>,
    template: &PodTemplateSpec,
    index: Option<i32>,
) -> Result<()> {
    let job = &ctx.job;
    let namespace = job.namespace().unwrap_or_default();
    let meta = template.metadata.clone().unwrap_or_default();
    let mut pod_spec = template.spec.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    let mut generate_name = format!("{}-", job.name_any());
    if let Some(index) = index {
        annotations.insert(COMPLETION_INDEX_ANNOTATION.to_owned(), index.to_string());
        labels.insert(COMPLETION_INDEX_ANNOTATION.to_owned(), index.to_string());
        pod_spec.hostname = Some(format!("{}-{index}", job.name_any()));
        generate_name = indexes::generate_name_with_index(&job.name_any(), index);
        if spec.backoff_limit_per_index().is_some() {
            let replaced = ctx.delayed_deletion.get(&index);
            let (counted, ignored) = new_index_failure_counts(spec, replaced.map(AsRef::as_ref));
            annotations.insert(indexes::INDEX_FAILURE_COUNT_ANNOTATION.to_owned(), counted.to_string());
            if ignored > 0 {
                annotations.insert(indexes::INDEX_IGNORED_FAILURE_COUNT_ANNOTATION.to_owned(), ignored.to_string());
            }
        }
    }
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: Some(namespace.clone()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(job)]),
            ..ObjectMeta::default()
        },
        spec: Some(pod_spec),
        status: None,
    };
    let regarding = job.object_ref(&());
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    match api.create(&PostParams::default(), &pod).await {
        Ok(created) => {
            state.expectations.created(&ctx.key, &created.name_any());
            state.events.normal(&regarding, "SuccessfulCreate", format!("Created pod: {}", created.name_any())).await;
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 403 && status.message.contains("being terminated") => {
            // The namespace is going away: every creation would fail.
            Ok(())
        }
        Err(error) => {
            state.events.warning(&regarding, "FailedCreate", format!("Error creating: {error}")).await;
            Err(error.into())
        }
    }
}

/// The failure counts a replacement pod of an index starts with.
fn new_index_failure_counts(spec: &Spec, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else { return (0, 0) };
    let counted = indexes::index_failure_count(pod);
    let ignored = indexes::index_absolute_failure_count(pod) - counted;
    let verdict = super::policy::match_pod_failure_policy(spec.raw.pod_failure_policy.as_ref(), pod);
    if verdict.count { (counted + 1, ignored) } else { (counted, ignored + 1) }
}

/// Deletes pods the Job no longer wants: their finalizer first (they are not counted), then
/// the pod. Returns how many were deleted, how many of those were ready, and any error.
async fn delete_job_pods(state: &State, ctx: &SyncCtx, pods: &[Arc<Pod>]) -> (i32, i32, Result<()>) {
    let namespace = ctx.job.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    let outcomes = join_all(pods.iter().map(|pod| {
        let api = api.clone();
        async move {
            if has_tracking_finalizer(pod) {
                match remove_finalizer(&api, &pod.name_any()).await {
                    Ok(()) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => return Ok(pods::is_ready(pod)),
                    Err(error) => return Err(Error::Sync(format!("removing completion finalizer: {error}"))),
                }
            }
            delete_pod(state, &ctx.job, &api, pod).await?;
            state.expectations.deleted(&ctx.key, uid(pod));
            Ok::<bool, Error>(pods::is_ready(pod))
        }
    }))
    .await;
    tally(outcomes)
}

/// Deletes the active pods of a Job that finished, keeping their finalizers (counted later).
pub(super) async fn delete_active_pods(state: &State, job: &Job, pods: &[Arc<Pod>]) -> (i32, i32, Result<()>) {
    let namespace = job.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    let outcomes = join_all(pods.iter().map(|pod| {
        let api = api.clone();
        async move {
            delete_pod(state, job, &api, pod).await?;
            Ok::<bool, Error>(pods::is_ready(pod))
        }
    }))
    .await;
    tally(outcomes)
}

fn tally(outcomes: Vec<Result<bool>>) -> (i32, i32, Result<()>) {
    let (mut ready, mut deleted, mut result) = (0, 0, Ok(()));
    for outcome in outcomes {
        match outcome {
            Ok(was_ready) => {
                deleted += 1;
                ready += i32::from(was_ready);
            }
            Err(error) => result = Err(error),
        }
    }
    (ready, deleted, result)
}

/// Deletes a pod with upstream's events; one already gone counts as deleted.
async fn delete_pod(state: &State, job: &Job, api: &Api<Pod>, pod: &Pod) -> Result<()> {
    let regarding = job.object_ref(&());
    match api.delete(&pod.name_any(), &DeleteParams::default()).await {
        Ok(_) => {
            state.events.normal(&regarding, "SuccessfulDelete", format!("Deleted pod: {}", pod.name_any())).await;
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => {
            state.events.warning(&regarding, "FailedDelete", format!("Error deleting: {error}")).await;
            Err(error.into())
        }
    }
}

/// Removes the tracking finalizer, leaving any other finalizer.
pub(super) async fn remove_finalizer(api: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
    let patch = json!({ "metadata": { "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER] } });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch)).await.map(|_| ())
}
