//! Printers of the workload kinds: deployments, replica sets, replication controllers, stateful sets,
//! daemon sets, jobs, cron jobs, controller revisions and pod templates.

use jiff::Timestamp;
use serde_json::Value;

use super::access::{condition, count, get, has, int, list, name, object, opt_bool, opt_int, opt_str, string, time};
use super::duration::{between, human_duration, since};
use super::labels::{format_label_selector, format_labels, selector_string};

fn age(o: &Value, now: Timestamp) -> Value {
    since(time(o, &["metadata", "creationTimestamp"]), now).into()
}

/// layoutContainerCells: container names and images, each comma-joined.
pub(super) fn containers(o: &Value, spec_path: &[&str]) -> (String, String) {
    let mut path = spec_path.to_vec();
    path.push("containers");
    let items = list(o, &path);
    let names: Vec<&str> = items.iter().map(|c| string(c, &["name"])).collect();
    let images: Vec<&str> = items.iter().map(|c| string(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// `spec.replicas`, defaulted to 1 as the v1 defaulting does when it is unset.
fn desired_replicas(o: &Value) -> i64 {
    opt_int(o, &["spec", "replicas"]).unwrap_or(1)
}

pub(super) fn deployment(o: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec"]);
    let selector = selector_string(get(o, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".into());
    vec![
        name(o).into(),
        format!("{}/{}", int(o, &["status", "readyReplicas"]), desired_replicas(o)).into(),
        int(o, &["status", "updatedReplicas"]).into(),
        int(o, &["status", "availableReplicas"]).into(),
        age(o, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

pub(super) fn replica_set(o: &Value, now: Timestamp) -> Vec<Value> {
    replica_row(o, now, format_label_selector(get(o, &["spec", "selector"])))
}

pub(super) fn replication_controller(o: &Value, now: Timestamp) -> Vec<Value> {
    replica_row(o, now, format_labels(object(o, &["spec", "selector"])))
}

/// The row of a ReplicaSet or ReplicationController; only how the selector prints differs.
fn replica_row(o: &Value, now: Timestamp, selector: String) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec"]);
    vec![
        name(o).into(),
        desired_replicas(o).into(),
        int(o, &["status", "replicas"]).into(),
        int(o, &["status", "readyReplicas"]).into(),
        age(o, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

pub(super) fn stateful_set(o: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec"]);
    vec![
        name(o).into(),
        format!("{}/{}", int(o, &["status", "readyReplicas"]), desired_replicas(o)).into(),
        age(o, now),
        names.into(),
        images.into(),
    ]
}

pub(super) fn daemon_set(o: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec"]);
    vec![
        name(o).into(),
        int(o, &["status", "desiredNumberScheduled"]).into(),
        int(o, &["status", "currentNumberScheduled"]).into(),
        int(o, &["status", "numberReady"]).into(),
        int(o, &["status", "updatedNumberScheduled"]).into(),
        int(o, &["status", "numberAvailable"]).into(),
        format_labels(object(o, &["spec", "template", "spec", "nodeSelector"])).into(),
        age(o, now),
        names.into(),
        images.into(),
        format_label_selector(get(o, &["spec", "selector"])).into(),
    ]
}

/// hasJobCondition: the first condition of the type decides.
fn job_condition(o: &Value, kind: &str) -> bool {
    condition(o, &["status", "conditions"], kind).is_some_and(|c| string(c, &["status"]) == "True")
}

/// The STATUS of a job as v1.30-v1.33 print it (SuccessCriteriaMet only arrived in v1.34).
fn job_status(o: &Value) -> &'static str {
    if job_condition(o, "Complete") {
        "Complete"
    } else if job_condition(o, "Failed") {
        "Failed"
    } else if has(o, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else if job_condition(o, "Suspended") {
        "Suspended"
    } else if job_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

pub(super) fn job(o: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(o, &["status", "succeeded"]);
    let completions = match opt_int(o, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = opt_int(o, &["spec", "parallelism"]).unwrap_or(1);
            if parallelism > 1 { format!("{succeeded}/1 of {parallelism}") } else { format!("{succeeded}/1") }
        }
    };
    let duration = match (time(o, &["status", "startTime"]), time(o, &["status", "completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(between(start, now)),
        (Some(start), Some(end)) => human_duration(between(start, end)),
    };
    let (names, images) = containers(o, &["spec", "template", "spec"]);
    vec![
        name(o).into(),
        job_status(o).into(),
        completions.into(),
        duration.into(),
        age(o, now),
        names.into(),
        images.into(),
        format_label_selector(get(o, &["spec", "selector"])).into(),
    ]
}

pub(super) fn cron_job(o: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match time(o, &["status", "lastScheduleTime"]) {
        Some(t) => since(Some(t), now),
        None if has(o, &["status", "lastScheduleTime"]) => "<unknown>".into(),
        None => "<none>".into(),
    };
    // batch/v1 defaults suspend to false.
    let suspend = match opt_bool(o, &["spec", "suspend"]) {
        Some(true) => "True",
        Some(false) | None => "False",
    };
    let (names, images) = containers(o, &["spec", "jobTemplate", "spec", "template", "spec"]);
    vec![
        name(o).into(),
        string(o, &["spec", "schedule"]).into(),
        opt_str(o, &["spec", "timeZone"]).unwrap_or("<none>").into(),
        suspend.into(),
        count(o, &["status", "active"]).into(),
        last_schedule.into(),
        age(o, now),
        names.into(),
        images.into(),
        format_label_selector(get(o, &["spec", "jobTemplate", "spec", "selector"])).into(),
    ]
}

/// "kind.group/name" of the controlling owner, "<none>" without one.
fn controller_name(o: &Value) -> String {
    let Some(owner) = list(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| get(r, &["controller"]).and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".into();
    };
    let api_version = string(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = string(owner, &["kind"]);
    let owner_name = string(owner, &["name"]);
    match (group, kind) {
        ("", "") => owner_name.to_string(),
        ("", kind) => format!("{}/{owner_name}", kind.to_lowercase()),
        (group, kind) => format!("{}.{}/{owner_name}", kind.to_lowercase(), group.to_lowercase()),
    }
}

pub(super) fn controller_revision(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(o).into(), controller_name(o).into(), int(o, &["revision"]).into(), age(o, now)]
}

pub(super) fn pod_template(o: &Value, _now: Timestamp) -> Vec<Value> {
    let (names, images) = containers(o, &["template", "spec"]);
    vec![
        name(o).into(),
        names.into(),
        images.into(),
        format_labels(object(o, &["template", "metadata", "labels"])).into(),
    ]
}
