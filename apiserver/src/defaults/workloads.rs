//! Defaults of the workload kinds: apps/v1 (Deployment, ReplicaSet, StatefulSet, DaemonSet) and
//! batch/v1 (Job, CronJob), including the pod defaults of their templates.

use serde_json::{Value, json};

use super::core_v1::default_persistent_volume_claim;
use super::json::{
    Obj, default_ptr, default_str, each_obj, ensure_obj, get_str, is_empty_map, is_nil, obj_mut, str_is_empty,
    template_labels,
};
use super::pod::{default_embedded_meta, default_pod_template};

/// Dispatches an apps/v1 kind to its defaults.
pub(crate) fn default_apps(kind: &str, object: &mut Obj) {
    let Some(spec) = ensure_obj(object, "spec") else { return };
    match kind {
        "Deployment" => default_deployment(spec),
        "ReplicaSet" => default_ptr(spec, "replicas", json!(1)),
        "StatefulSet" => default_stateful_set(spec),
        "DaemonSet" => default_daemon_set(spec),
        _ => return,
    }
    if let Some(template) = obj_mut(spec, "template") {
        default_pod_template(template);
    }
}

fn default_deployment(spec: &mut Obj) {
    default_ptr(spec, "replicas", json!(1));
    if let Some(strategy) = ensure_obj(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = ensure_obj(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "maxUnavailable", Value::from("25%"));
            default_ptr(rolling, "maxSurge", Value::from("25%"));
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_ptr(spec, "progressDeadlineSeconds", json!(600));
}

fn default_daemon_set(spec: &mut Obj) {
    if let Some(strategy) = ensure_obj(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = ensure_obj(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "maxUnavailable", json!(1));
            default_ptr(rolling, "maxSurge", json!(0));
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
}

/// `SetDefaults_StatefulSet`. Upstream only creates `rollingUpdate` when it also defaults the
/// strategy type, so an explicit `type: RollingUpdate` without `rollingUpdate` stays that way.
fn default_stateful_set(spec: &mut Obj) {
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = ensure_obj(spec, "updateStrategy") {
        if str_is_empty(strategy, "type") {
            strategy.insert("type".into(), Value::from("RollingUpdate"));
            default_ptr(strategy, "rollingUpdate", json!({}));
        }
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = obj_mut(strategy, "rollingUpdate")
        {
            default_ptr(rolling, "partition", json!(0));
        }
    }
    if let Some(policy) = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    default_ptr(spec, "replicas", json!(1));
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    each_obj(spec, "volumeClaimTemplates", |claim| {
        // The apps/v1 conversion always writes the claim's apiVersion and kind.
        claim.insert("apiVersion".into(), Value::from("v1"));
        claim.insert("kind".into(), Value::from("PersistentVolumeClaim"));
        default_embedded_meta(claim);
        default_persistent_volume_claim(claim);
    });
}

/// Dispatches a batch/v1 kind to its defaults.
pub(crate) fn default_batch(kind: &str, object: &mut Obj) {
    match kind {
        "Job" => default_job(object),
        "CronJob" => default_cron_job(object),
        _ => {}
    }
}

/// `SetDefaults_Job`; the Job's labels come from its template's labels when it has none.
fn default_job(job: &mut Obj) {
    let Some(spec) = ensure_obj(job, "spec") else { return };
    if is_nil(spec, "completions") && is_nil(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_ptr(spec, "parallelism", json!(1));
    let backoff = if is_nil(spec, "backoffLimitPerIndex") { 6 } else { i64::from(i32::MAX) };
    default_ptr(spec, "backoffLimit", json!(backoff));
    default_ptr(spec, "completionMode", Value::from("NonIndexed"));
    default_ptr(spec, "suspend", Value::Bool(false));
    let replacement = if is_nil(spec, "podFailurePolicy") { "TerminatingOrFailed" } else { "Failed" };
    default_ptr(spec, "podReplacementPolicy", Value::from(replacement));
    default_ptr(spec, "manualSelector", Value::Bool(false));
    default_job_spec_nested(spec);
    let template_labels = template_labels(spec);
    if let Some(labels) = template_labels
        && let Some(metadata) = ensure_obj(job, "metadata")
        && is_empty_map(metadata, "labels")
    {
        metadata.insert("labels".into(), labels);
    }
}

/// What the generated defaulters do inside any JobSpec (also a CronJob's job template, which does
/// not get `SetDefaults_Job`).
fn default_job_spec_nested(spec: &mut Obj) {
    if let Some(policy) = obj_mut(spec, "podFailurePolicy") {
        each_obj(policy, "rules", |rule| {
            each_obj(rule, "onPodConditions", |pattern| default_str(pattern, "status", "True"));
        });
    }
    if let Some(template) = obj_mut(spec, "template") {
        default_pod_template(template);
    }
}

fn default_cron_job(cron_job: &mut Obj) {
    let Some(spec) = ensure_obj(cron_job, "spec") else { return };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_ptr(spec, "suspend", Value::Bool(false));
    default_ptr(spec, "successfulJobsHistoryLimit", json!(3));
    default_ptr(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job_template) = obj_mut(spec, "jobTemplate") {
        default_embedded_meta(job_template);
        if let Some(job_spec) = obj_mut(job_template, "spec") {
            default_job_spec_nested(job_spec);
        }
    }
}
