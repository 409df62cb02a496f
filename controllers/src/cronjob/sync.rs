//! One CronJob's reconcile (upstream's `sync`, `syncCronJob` and
//! `cleanupFinishedJobs`): reconcile the active list with the Jobs that
//! exist, trim finished Jobs to the history limits, start the Job that is
//! due (if the policies allow), and write the status once.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::schedule::{Schedule, load_location};
use super::times::{self, History, Missed};
use super::{Error, State};
use crate::clock::api_time;
use crate::ownership::{controller_of, controller_ref, is_controlled_by};

/// The annotation carrying the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Whether the Job has a Complete or Failed condition that is True, and which.
fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == "True").find_map(|c| match c.type_.as_str() {
        "Complete" => Some("Complete"),
        "Failed" => Some("Failed"),
        _ => None,
    })
}

fn in_active_list(cj: &CronJob, uid: &str) -> bool {
    active(cj).iter().any(|r| r.uid.as_deref() == Some(uid))
}

fn active(cj: &CronJob) -> &[ObjectReference] {
    cj.status.as_ref().and_then(|s| s.active.as_deref()).unwrap_or_default()
}

fn delete_from_active_list(cj: &mut CronJob, uid: &str) {
    let status = cj.status.get_or_insert_with(CronJobStatus::default);
    if let Some(list) = status.active.as_mut() {
        list.retain(|r| r.uid.as_deref() != Some(uid));
    }
}

fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference { api_version: Some("batch/v1".into()), kind: Some("Job".into()), ..job.object_ref(&()) }
}

/// Reconciles one CronJob and writes its status if it changed.
pub(super) async fn sync(state: &State, shared: &CronJob) -> Result<Action, Error> {
    state.jobs.wait_until_ready().await.map_err(|e| Error::Sync(e.to_string()))?;
    let namespace = shared.namespace().unwrap_or_default();
    let name = shared.name_any();
    // Jobs whose controller is a CronJob of this name (upstream matches by name).
    let jobs: Vec<Arc<Job>> = state
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.kind == "CronJob" && r.name == name))
        .collect();
    let mut cj = shared.clone();
    let cleaned = cleanup_finished_jobs(state, &mut cj, &jobs).await;
    let (requeue, synced, result) = sync_cronjob(state, &mut cj, &jobs).await;
    if cleaned || synced {
        let api: Api<CronJob> = Api::namespaced(state.client.clone(), &namespace);
        api.replace_status(&name, &PostParams::default(), &cj).await?;
    }
    result?;
    Ok(match requeue {
        Some(after) => Action::requeue(after.max(Duration::from_millis(100))),
        None => Action::await_change(),
    })
}

/// upstream's syncCronJob: returns when to look again, whether the status changed, and any error.
async fn sync_cronjob(
    state: &State,
    cj: &mut CronJob,
    jobs: &[Arc<Job>],
) -> (Option<Duration>, bool, Result<(), Error>) {
    let mut changed = false;
    match reconcile_active(state, cj, jobs, &mut changed).await {
        Ok(()) => {}
        Err(error) => return (None, changed, Err(error)),
    }
    match start_due_job(state, cj, &mut changed).await {
        Ok(requeue) => (requeue, changed, Ok(())),
        Err(error) => (None, changed, Err(error)),
    }
}

/// Brings `status.active` and `lastSuccessfulTime` in line with the Jobs that exist.
async fn reconcile_active(state: &State, cj: &mut CronJob, jobs: &[Arc<Job>], changed: &mut bool) -> Result<(), Error> {
    let regarding = cj.object_ref(&());
    let namespace = cj.namespace().unwrap_or_default();
    for job in jobs {
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let found = in_active_list(cj, &uid);
        let job_finished = finished(job);
        if !found && job_finished.is_none() {
            let api: Api<CronJob> = Api::namespaced(state.client.clone(), &namespace);
            if let Some(fresh) = api.get_opt(&cj.name_any()).await?
                && in_active_list(&fresh, &uid)
            {
                *cj = fresh;
                continue;
            }
            let message = format!("Saw a job that the controller did not create or forgot: {}", job.name_any());
            state.events.warning(&regarding, "UnexpectedJob", message).await;
        } else if let (true, Some(status)) = (found, job_finished) {
            delete_from_active_list(cj, &uid);
            let message = format!("Saw completed job: {}, status: {status}", job.name_any());
            state.events.normal(&regarding, "SawCompletedJob", message).await;
            *changed = true;
        } else if job_finished == Some("Complete") {
            // A Job needs not be active to count: any that completed sets the time.
            let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
            let status = cj.status.get_or_insert_with(CronJobStatus::default);
            if let Some(completed) = completed
                && status.last_successful_time.as_ref().is_none_or(|last| completed.0 > last.0)
            {
                status.last_successful_time = Some(completed);
                *changed = true;
            }
        }
    }
    // Forget active Jobs that are gone (checked live, the cache may lag).
    let jobs_api: Api<Job> = Api::namespaced(state.client.clone(), &namespace);
    for reference in active(cj).to_vec() {
        let uid = reference.uid.clone().unwrap_or_default();
        if jobs.iter().any(|j| j.metadata.uid.as_deref() == Some(uid.as_str())) {
            continue;
        }
        let name = reference.name.clone().unwrap_or_default();
        if jobs_api.get_opt(&name).await?.is_none() {
            let message = format!("Active job went missing: {name}");
            state.events.normal(&regarding, "MissingJob", message).await;
            delete_from_active_list(cj, &uid);
            *changed = true;
        }
    }
    Ok(())
}

/// Starts the Job due now, if any and if the policies allow; returns when to look again.
async fn start_due_job(state: &State, cj: &mut CronJob, changed: &mut bool) -> Result<Option<Duration>, Error> {
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let regarding = cj.object_ref(&());
    let spec = cj.spec.clone().unwrap_or_default();
    let zone = match spec.time_zone.as_deref() {
        Some(name) => match load_location(name) {
            Some(zone) => Some(zone),
            None => {
                let message = format!("invalid timeZone: {name:?}: unknown time zone {name}");
                state.events.warning(&regarding, "UnknownTimeZone", message).await;
                return Ok(None);
            }
        },
        None => None,
    };
    if spec.suspend == Some(true) {
        return Ok(None);
    }
    let formatted = if spec.schedule.contains("TZ") {
        let message = format!(
            "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
            spec.schedule
        );
        state.events.warning(&regarding, "UnsupportedSchedule", message).await;
        spec.schedule.clone()
    } else if let Some(name) = spec.time_zone.as_deref() {
        format!("TZ={name} {}", spec.schedule)
    } else {
        spec.schedule.clone()
    };
    let schedule = match Schedule::parse(&formatted, &state.local) {
        Ok(schedule) => schedule,
        Err(error) => {
            let message = format!("unparseable schedule: {:?} : {error}", spec.schedule);
            state.events.warning(&regarding, "UnparseableSchedule", message).await;
            return Ok(None);
        }
    };
    let now = state.clock.now();
    let history = History {
        created: cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0),
        last_schedule: cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0),
        starting_deadline_seconds: spec.starting_deadline_seconds,
    };
    let requeue = |cj: &CronJob| {
        let history = History { last_schedule: last_schedule(cj), ..history };
        times::until_next(&history, now, &schedule).and_then(|d| Duration::try_from(d).ok())
    };
    let scheduled = match times::to_start(&history, now, &schedule) {
        Ok(Some((at, missed))) => {
            if missed == Missed::Many {
                let message =
                    "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";
                state.events.warning(&regarding, "TooManyMissedTimes", message.to_owned()).await;
            }
            at
        }
        Ok(None) => return Ok(requeue(cj)),
        Err(error) => {
            let message = format!("invalid schedule: {} : {error}", spec.schedule);
            state.events.warning(&regarding, "InvalidSchedule", message).await;
            return Ok(None);
        }
    };
    let too_late = spec.starting_deadline_seconds.is_some_and(|s| scheduled + jiff::SignedDuration::from_secs(s) < now);
    if too_late {
        let message = format!("Missed scheduled time to start a job: {}", times::rfc1123z(scheduled));
        state.events.warning(&regarding, "MissSchedule", message).await;
        return Ok(requeue(cj));
    }
    let job_name = times::job_name(&cj.name_any(), scheduled);
    let processed =
        active(cj).iter().any(|r| r.name.as_deref() == Some(job_name.as_str())) || last_schedule(cj) == Some(scheduled);
    if processed {
        return Ok(requeue(cj));
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
    if policy == "Forbid" && !active(cj).is_empty() {
        let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
        state.events.normal(&regarding, "JobAlreadyActive", message.to_owned()).await;
        return Ok(requeue(cj));
    }
    let namespace = cj.namespace().unwrap_or_default();
    let jobs_api: Api<Job> = Api::namespaced(state.client.clone(), &namespace);
    if policy == "Replace" {
        for reference in active(cj).to_vec() {
            let name = reference.name.clone().unwrap_or_default();
            let job = match jobs_api.get(&name).await {
                Ok(job) => job,
                Err(error) => {
                    state.events.warning(&regarding, "FailedGet", format!("Get job: {error}")).await;
                    return Err(error.into());
                }
            };
            if !delete_job(state, cj, &job).await {
                return Err(Error::Sync(format!("could not replace job {namespace}/{name}")));
            }
            *changed = true;
        }
    }
    let zone_for_annotation = zone.unwrap_or(jiff::tz::TimeZone::UTC);
    let request = job_from_template(cj, &job_name, scheduled, &zone_for_annotation);
    let created = match jobs_api.create(&PostParams::default(), &request).await {
        Ok(job) => {
            state.events.normal(&regarding, "SuccessfulCreate", format!("Created job {}", job.name_any())).await;
            job
        }
        Err(kube::Error::Api(status)) if status.code == 409 && status.reason == "AlreadyExists" => {
            // Created before, but the status was not written: adopt it into the active list.
            let job = jobs_api.get(&job_name).await?;
            let uid = cj.metadata.uid.clone().unwrap_or_default();
            if !is_controlled_by(&job.metadata, &uid) || in_active_list(cj, job.metadata.uid.as_deref().unwrap_or("")) {
                return Ok(None);
            }
            tracing::info!(job = job_name, "job already exists");
            job
        }
        Err(kube::Error::Api(status)) if is_namespace_terminating(&status) => {
            return Err(kube::Error::Api(status).into());
        }
        Err(error) => {
            state.events.warning(&regarding, "FailedCreate", format!("Error creating job: {error}")).await;
            return Err(error.into());
        }
    };
    let status = cj.status.get_or_insert_with(CronJobStatus::default);
    status.active.get_or_insert_with(Vec::new).push(job_reference(&created));
    status.last_schedule_time = Some(api_time(scheduled));
    *changed = true;
    Ok(requeue(cj))
}

fn last_schedule(cj: &CronJob) -> Option<Timestamp> {
    cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0)
}

fn is_namespace_terminating(status: &kube::core::Status) -> bool {
    status.code == 403 && status.message.contains("because it is being terminated")
}

/// upstream's getJobFromTemplate2: the template's labels and annotations (plus the
/// scheduled time), the deterministic name and the CronJob as controller.
fn job_from_template(cj: &CronJob, name: &str, scheduled: Timestamp, zone: &jiff::tz::TimeZone) -> Job {
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(), times::scheduled_timestamp(scheduled, zone));
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: cj.namespace(),
            labels: template_meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.unwrap_or_default()),
        status: None,
    }
}

/// upstream's cleanupFinishedJobs: deletes the oldest finished Jobs beyond the history limits.
async fn cleanup_finished_jobs(state: &State, cj: &mut CronJob, jobs: &[Arc<Job>]) -> bool {
    let spec = cj.spec.clone().unwrap_or_default();
    if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none() {
        return false;
    }
    let successful: Vec<&Job> = jobs.iter().map(AsRef::as_ref).filter(|j| finished(j) == Some("Complete")).collect();
    let failed: Vec<&Job> = jobs.iter().map(AsRef::as_ref).filter(|j| finished(j) == Some("Failed")).collect();
    let mut changed = false;
    if let Some(limit) = spec.successful_jobs_history_limit {
        changed |= remove_oldest(state, cj, successful, limit).await;
    }
    if let Some(limit) = spec.failed_jobs_history_limit {
        changed |= remove_oldest(state, cj, failed, limit).await;
    }
    changed
}

async fn remove_oldest(state: &State, cj: &mut CronJob, mut jobs: Vec<&Job>, limit: i32) -> bool {
    let excess = jobs.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
    if excess == 0 {
        return false;
    }
    jobs.sort_by(|a, b| by_start_time(a, b));
    let mut changed = false;
    for job in jobs.into_iter().take(excess) {
        changed |= delete_job(state, cj, job).await;
    }
    changed
}

/// Oldest start time first, Jobs without one last, names breaking ties (upstream's byJobStartTime).
fn by_start_time(a: &Job, b: &Job) -> std::cmp::Ordering {
    let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    match (start(a), start(b)) {
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (x, y) if x == y => a.name_any().cmp(&b.name_any()),
        (x, y) => x.cmp(&y),
    }
}

/// Deletes a Job (background propagation) and drops it from the active list.
async fn delete_job(state: &State, cj: &mut CronJob, job: &Job) -> bool {
    let regarding = cj.object_ref(&());
    let api: Api<Job> = Api::namespaced(state.client.clone(), &job.namespace().unwrap_or_default());
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
    if let Err(error) = api.delete(&job.name_any(), &params).await {
        state.events.warning(&regarding, "FailedDelete", format!("Deleted job: {error}")).await;
        tracing::warn!(%error, job = job.name_any(), "deleting a job of the cronjob failed");
        return false;
    }
    delete_from_active_list(cj, job.metadata.uid.as_deref().unwrap_or_default());
    state.events.normal(&regarding, "SuccessfulDelete", format!("Deleted job {}", job.name_any())).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, start: Option<&str>) -> Job {
        let mut value = serde_json::json!({ "metadata": { "name": name } });
        if let Some(start) = start {
            value["status"] = serde_json::json!({ "startTime": start });
        }
        serde_json::from_value(value).expect("a job")
    }

    #[test]
    fn history_is_trimmed_oldest_start_first_and_unstarted_last() {
        let mut jobs = [
            job("c", None),
            job("b", Some("2024-01-01T10:00:00Z")),
            job("a", Some("2024-01-01T10:00:00Z")),
            job("d", Some("2024-01-01T09:00:00Z")),
        ];
        jobs.sort_by(by_start_time);
        let names: Vec<String> = jobs.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["d", "a", "b", "c"]);
    }
}
