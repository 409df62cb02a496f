//! The Job controller on a live cluster: pods run to completion, fail, are
//! replaced and counted exactly once; Indexed pods see their index; the
//! failure limits, pod failure policy, suspension, deadline and TTL.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, wait_for};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use skiff_controllers::clock::{Clock, FakeClock};
use skiff_controllers::job::{TRACKING_FINALIZER, set_pod_failure_backoff};

const NS: &str = "default";

/// A Job whose pods (restartPolicy Never) carry `annotations` (the simulated kubelet's exit controls).
fn job(name: &str, spec: Value, annotations: Value) -> Value {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": name },
        "spec": { "template": {
            "metadata": { "annotations": annotations },
            "spec": { "restartPolicy": "Never", "containers": [{ "name": "main", "image": "busybox" }] } } },
    });
    for (key, value) in spec.as_object().cloned().unwrap_or_default() {
        job["spec"][key] = value;
    }
    job
}

fn exits(code: i32) -> Value {
    json!({ "simulation.skiff.dev/exit-code": code.to_string(), "simulation.skiff.dev/run-seconds": "0.1" })
}

async fn pods_of(cluster: &Cluster, job: &str) -> Vec<Pod> {
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    cluster.api::<Pod>(NS).list(&params).await.expect("list pods").items
}

async fn get_job(cluster: &Cluster, name: &str) -> Job {
    cluster.api::<Job>(NS).get(name).await.expect("get the job")
}

fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Waits for a True condition of this type and returns the Job.
async fn wait_condition(cluster: &Cluster, name: &str, type_: &str) -> Job {
    wait_for(&format!("job {name} {type_}"), async || {
        let job = get_job(cluster, name).await;
        condition(&job, type_).filter(|c| c.status == "True").is_some().then_some(job)
    })
    .await
}

/// The events about an object.
async fn event_list(cluster: &Cluster, name: &str) -> Vec<Event> {
    let list = cluster.api::<Event>(NS).list(&ListParams::default()).await.expect("list events");
    list.items.into_iter().filter(|e| e.involved_object.name.as_deref() == Some(name)).collect()
}

/// The (reason, message) of the events about an object.
async fn events(cluster: &Cluster, name: &str) -> Vec<(String, String)> {
    let list = event_list(cluster, name).await;
    list.into_iter().map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default())).collect()
}

async fn wait_event(cluster: &Cluster, name: &str, reason: &str) -> String {
    wait_for(&format!("event {reason} on {name}"), async || {
        events(cluster, name).await.into_iter().find(|(r, _)| r == reason).map(|(_, m)| m)
    })
    .await
}

/// Acts as the kubelet for a running pod: its container exits with `code`.
async fn finish_pod(cluster: &Cluster, pod: &Pod, code: i32) {
    let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    let status = json!({ "status": {
        "phase": phase,
        "conditions": [{ "type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now }],
        "containerStatuses": [{ "name": "main", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": { "terminated": { "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": now, "finishedAt": now } } }],
    } });
    let api = cluster.api::<Pod>(NS);
    api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await.expect("finish the pod");
}

fn is_running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") && pod.metadata.deletion_timestamp.is_none()
}

#[tokio::test]
async fn a_job_with_failures_completes_with_exact_counts_and_bounded_parallelism() {
    set_pod_failure_backoff(Duration::from_millis(100), Duration::from_millis(400));
    let cluster = Cluster::start(&["job"], 2).await;
    cluster.create::<Job>(Some(NS), job("work", json!({ "completions": 5, "parallelism": 2 }), json!({}))).await;
    let mut decided: HashSet<String> = HashSet::new();
    let mut most_active = 0;
    let done = wait_for("the job to complete", async || {
        let pods = pods_of(&cluster, "work").await;
        let active = pods.iter().filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
            !matches!(phase, "Succeeded" | "Failed") && p.metadata.deletion_timestamp.is_none()
        });
        most_active = most_active.max(active.count());
        for pod in pods.iter().filter(|p| is_running(p)) {
            if decided.insert(pod.uid().unwrap_or_default()) {
                // The first two pods fail, the rest succeed.
                finish_pod(&cluster, pod, if decided.len() <= 2 { 1 } else { 0 }).await;
            }
        }
        let job = get_job(&cluster, "work").await;
        condition(&job, "Complete").is_some().then_some(job)
    })
    .await;
    let status = done.status.clone().unwrap_or_default();
    assert_eq!((status.succeeded, status.failed, status.active), (Some(5), Some(2), Some(0)));
    assert!(most_active <= 2, "at most parallelism pods run at once, saw {most_active}");
    assert!(status.completion_time.is_some() && status.start_time.is_some());
    let uncounted = status.uncounted_terminated_pods.unwrap_or_default();
    assert!(uncounted.succeeded.unwrap_or_default().is_empty() && uncounted.failed.unwrap_or_default().is_empty());
    let criteria = condition(&done, "SuccessCriteriaMet").expect("the interim condition");
    assert_eq!(criteria.reason.as_deref(), Some("CompletionsReached"));
    let complete = condition(&done, "Complete").expect("Complete");
    assert_eq!(complete.message.as_deref(), Some("Reached expected number of succeeded pods"));
    // Exactly the pods needed were created, and none keeps the tracking finalizer.
    let pods = wait_for("finalizers removed", async || {
        let pods = pods_of(&cluster, "work").await;
        pods.iter().all(|p| !p.finalizers().iter().any(|f| f == TRACKING_FINALIZER)).then_some(pods)
    })
    .await;
    assert_eq!(pods.len(), 7);
    for pod in &pods {
        assert!(pod.name_any().starts_with("work-"));
        let labels = pod.labels();
        assert_eq!(labels.get("batch.kubernetes.io/job-name").map(String::as_str), Some("work"));
        assert_eq!(labels.get("job-name").map(String::as_str), Some("work"));
        assert_eq!(labels.get("controller-uid"), done.metadata.uid.as_ref());
        let owner = &pod.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
    }
    // One event per pod (an identical event repeated would be one event with a count).
    let created: i32 = event_list(&cluster, "work")
        .await
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
        .inspect(|e| assert!(e.message.as_deref().unwrap_or_default().starts_with("Created pod: work-")))
        .map(|e| e.series.as_ref().and_then(|s| s.count).or(e.count).unwrap_or(1))
        .sum();
    assert_eq!(created, 7);
    assert!(events(&cluster, "work").await.contains(&("Completed".into(), "Job completed".into())));
}

#[tokio::test]
async fn indexed_pods_see_their_index_and_completed_indexes_are_compressed() {
    let cluster = Cluster::start(&["job"], 1).await;
    let spec = json!({ "completions": 3, "parallelism": 3, "completionMode": "Indexed" });
    let mut object = job("idx", spec, exits(0));
    object["spec"]["template"]["spec"]["subdomain"] = json!("workers");
    cluster.create::<Job>(Some(NS), object).await;
    let done = wait_condition(&cluster, "idx", "Complete").await;
    let status = done.status.clone().unwrap_or_default();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    let mut seen = Vec::new();
    for pod in pods_of(&cluster, "idx").await {
        let index =
            pod.annotations().get("batch.kubernetes.io/job-completion-index").cloned().expect("index annotation");
        assert_eq!(pod.labels().get("batch.kubernetes.io/job-completion-index"), Some(&index));
        let spec = pod.spec.clone().expect("a spec");
        assert_eq!(spec.hostname, Some(format!("idx-{index}")));
        assert_eq!(spec.subdomain.as_deref(), Some("workers"));
        assert!(pod.name_any().starts_with(&format!("idx-{index}-")));
        let env = spec.containers[0].env.clone().unwrap_or_default();
        let var = env.iter().find(|e| e.name == "JOB_COMPLETION_INDEX").expect("JOB_COMPLETION_INDEX");
        let field = var.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.clone());
        assert_eq!(field.as_deref(), Some("metadata.labels['batch.kubernetes.io/job-completion-index']"));
        seen.push(index);
    }
    seen.sort();
    assert_eq!(seen, ["0", "1", "2"]);
}

#[tokio::test]
async fn failed_indexes_fail_an_indexed_job_with_backoff_limit_per_index() {
    let cluster = Cluster::start(&["job"], 1).await;
    let spec = json!({ "completions": 5, "parallelism": 5, "completionMode": "Indexed", "backoffLimitPerIndex": 0 });
    cluster.create::<Job>(Some(NS), job("perindex", spec, json!({}))).await;
    let mut decided: HashSet<String> = HashSet::new();
    let failed = wait_for("the job to fail", async || {
        for pod in pods_of(&cluster, "perindex").await.iter().filter(|p| is_running(p)) {
            if decided.insert(pod.uid().unwrap_or_default()) {
                let index = pod.annotations().get("batch.kubernetes.io/job-completion-index").cloned();
                finish_pod(&cluster, pod, if index.as_deref() == Some("3") { 1 } else { 0 }).await;
            }
        }
        let job = get_job(&cluster, "perindex").await;
        condition(&job, "Failed").is_some().then_some(job)
    })
    .await;
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2,4"));
    assert_eq!(status.failed_indexes.as_deref(), Some("3"));
    assert_eq!((status.succeeded, status.failed), (Some(4), Some(1)));
    let condition = condition(&failed, "Failed").expect("Failed");
    assert_eq!(condition.reason.as_deref(), Some("FailedIndexes"));
    assert_eq!(condition.message.as_deref(), Some("Job has failed indexes"));
    assert_eq!(decided.len(), 5, "a failed index is not retried beyond its limit");
}

#[tokio::test]
async fn exceeding_the_backoff_limit_fails_the_job() {
    set_pod_failure_backoff(Duration::from_millis(100), Duration::from_millis(400));
    let cluster = Cluster::start(&["job"], 1).await;
    cluster.create::<Job>(Some(NS), job("flaky", json!({ "backoffLimit": 1 }), exits(1))).await;
    let failed = wait_condition(&cluster, "flaky", "Failed").await;
    let target = condition(&failed, "FailureTarget").expect("the interim FailureTarget condition");
    assert_eq!(target.reason.as_deref(), Some("BackoffLimitExceeded"));
    let condition = condition(&failed, "Failed").expect("Failed");
    assert_eq!(condition.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(condition.message.as_deref(), Some("Job has reached the specified backoff limit"));
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!((status.failed, status.succeeded.unwrap_or(0), status.active), (Some(2), 0, Some(0)));
    assert!(status.completion_time.is_none());
    let message = wait_event(&cluster, "flaky", "BackoffLimitExceeded").await;
    assert_eq!(message, "Job has reached the specified backoff limit");
    assert_eq!(pods_of(&cluster, "flaky").await.len(), 2);
}

#[tokio::test]
async fn a_fail_job_rule_on_an_exit_code_fails_the_job_at_once() {
    let cluster = Cluster::start(&["job"], 1).await;
    let spec = json!({ "backoffLimit": 6, "podFailurePolicy": { "rules": [
        { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }] },
        { "action": "FailJob", "onExitCodes": { "containerName": "main", "operator": "In", "values": [42] } },
    ] } });
    cluster.create::<Job>(Some(NS), job("policy", spec, exits(42))).await;
    let failed = wait_condition(&cluster, "policy", "Failed").await;
    let pod = pods_of(&cluster, "policy").await.pop().expect("the pod");
    let condition = condition(&failed, "Failed").expect("Failed");
    assert_eq!(condition.reason.as_deref(), Some("PodFailurePolicy"));
    let expected = format!(
        "Container main for pod default/{} failed with exit code 42 matching FailJob rule at index 1",
        pod.name_any()
    );
    assert_eq!(condition.message.as_deref(), Some(expected.as_str()));
    assert_eq!(failed.status.as_ref().and_then(|s| s.failed), Some(1));
    assert_eq!(wait_event(&cluster, "policy", "PodFailurePolicy").await, expected);
}

#[tokio::test]
async fn suspending_deletes_the_pods_and_resuming_starts_them_again() {
    let cluster = Cluster::start(&["job"], 1).await;
    cluster
        .create::<Job>(
            Some(NS),
            job("paused", json!({ "suspend": true, "parallelism": 2, "completions": 4 }), json!({})),
        )
        .await;
    let suspended = wait_condition(&cluster, "paused", "Suspended").await;
    let first = condition(&suspended, "Suspended").expect("Suspended");
    assert_eq!((first.reason.as_deref(), first.message.as_deref()), (Some("JobSuspended"), Some("Job suspended")));
    assert!(suspended.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none(), "no start time while suspended");
    assert!(pods_of(&cluster, "paused").await.is_empty());
    assert_eq!(wait_event(&cluster, "paused", "Suspended").await, "Job suspended");

    let jobs = cluster.api::<Job>(NS);
    let resume = json!({ "spec": { "suspend": false } });
    jobs.patch("paused", &PatchParams::default(), &Patch::Merge(&resume)).await.expect("resume");
    let resumed = wait_for("two running pods", async || {
        let running = pods_of(&cluster, "paused").await.into_iter().filter(is_running).count();
        let job = get_job(&cluster, "paused").await;
        let resumed = condition(&job, "Suspended").is_some_and(|c| c.status == "False");
        (running == 2 && resumed).then_some(job)
    })
    .await;
    assert_eq!(condition(&resumed, "Suspended").and_then(|c| c.reason.clone()).as_deref(), Some("JobResumed"));
    assert!(resumed.status.as_ref().and_then(|s| s.start_time.as_ref()).is_some());
    assert_eq!(wait_event(&cluster, "paused", "Resumed").await, "Job resumed");

    let suspend = json!({ "spec": { "suspend": true } });
    jobs.patch("paused", &PatchParams::default(), &Patch::Merge(&suspend)).await.expect("suspend");
    wait_for("the pods to be deleted", async || {
        let job = get_job(&cluster, "paused").await;
        let suspended = condition(&job, "Suspended").is_some_and(|c| c.status == "True");
        let idle = job.status.as_ref().and_then(|s| s.active) == Some(0);
        (suspended && idle && pods_of(&cluster, "paused").await.is_empty()).then_some(())
    })
    .await;
    // Deleted pods of a suspended Job are not failures.
    assert_eq!(get_job(&cluster, "paused").await.status.and_then(|s| s.failed).unwrap_or(0), 0);
    assert!(
        events(&cluster, "paused").await.iter().any(|(r, m)| r == "SuccessfulDelete" && m.starts_with("Deleted pod: "))
    );
}

#[tokio::test]
async fn a_job_active_longer_than_its_deadline_fails_and_its_pods_are_deleted() {
    let cluster = Cluster::start(&["job"], 1).await;
    cluster
        .create::<Job>(Some(NS), job("slow", json!({ "activeDeadlineSeconds": 1, "parallelism": 2 }), json!({})))
        .await;
    let failed = wait_condition(&cluster, "slow", "Failed").await;
    let condition = condition(&failed, "Failed").expect("Failed");
    assert_eq!(condition.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(condition.message.as_deref(), Some("Job was active longer than specified deadline"));
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!((status.active, status.failed), (Some(0), Some(2)));
    assert_eq!(wait_event(&cluster, "slow", "DeadlineExceeded").await, "Job was active longer than specified deadline");
    wait_for("the pods to be gone", async || pods_of(&cluster, "slow").await.is_empty().then_some(())).await;
}

#[tokio::test]
async fn a_finished_job_is_deleted_when_its_ttl_expires_on_the_controllers_clock() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = Cluster::start_with_clock(&["job"], 1, Some(Arc::new(clock.clone()) as Arc<dyn Clock>)).await;
    cluster.create::<Job>(Some(NS), job("short-lived", json!({ "ttlSecondsAfterFinished": 100 }), exits(0))).await;
    let done = wait_condition(&cluster, "short-lived", "Complete").await;
    let finished = condition(&done, "Complete").and_then(|c| c.last_transition_time.clone()).expect("finish time");
    assert!(finished.0.duration_since(clock.now()).abs() <= SignedDuration::from_secs(1), "conditions use the clock");
    clock.advance(SignedDuration::from_secs(50));
    assert!(get_job(&cluster, "short-lived").await.metadata.deletion_timestamp.is_none());
    clock.advance(SignedDuration::from_secs(51));
    wait_for("the job to be deleted", async || {
        match cluster.api::<Job>(NS).get_opt("short-lived").await.expect("get") {
            None => Some(()),
            // Foreground deletion waits for the garbage collector (not running here).
            Some(job) => job.metadata.deletion_timestamp.is_some().then_some(()),
        }
    })
    .await;
}

#[tokio::test]
async fn restarting_the_controller_repeatedly_neither_loses_nor_double_counts_a_pod() {
    let cluster = Cluster::start(&[], 2).await;
    let spec = json!({ "completions": 8, "parallelism": 2 });
    cluster.create::<Job>(Some(NS), job("steady", spec, exits(0))).await;
    let mut restarts = 0;
    let done = loop {
        // Run a controller for a while, then stop it wherever it is (a crash mid-sync).
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let manager = skiff_controllers::ControllerManager::new(cluster.client.clone()).only(&["job"]);
        let running = tokio::spawn(manager.run(async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(if restarts < 8 { 100 } else { 5_000 })).await;
        let _ = stop.send(());
        running.await.expect("the manager stops");
        restarts += 1;
        let job = get_job(&cluster, "steady").await;
        if condition(&job, "Complete").is_some() {
            break job;
        }
        assert!(restarts < 14, "the job did not complete");
    };
    let status = done.status.clone().unwrap_or_default();
    let pods = pods_of(&cluster, "steady").await;
    let succeeded =
        pods.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")).count();
    assert_eq!(status.succeeded, Some(succeeded as i32), "every succeeded pod counted once");
    assert!(succeeded >= 8);
    assert_eq!(status.failed.unwrap_or(0), 0);
    let uncounted = status.uncounted_terminated_pods.unwrap_or_default();
    assert!(uncounted.succeeded.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_success_policy_completes_an_indexed_job_early_and_stops_the_rest() {
    let cluster = Cluster::start(&["job"], 1).await;
    let spec = json!({ "completions": 3, "parallelism": 3, "completionMode": "Indexed",
        "successPolicy": { "rules": [{ "succeededIndexes": "0" }] } });
    cluster.create::<Job>(Some(NS), job("leader", spec, json!({}))).await;
    let mut finished = false;
    let done = wait_for("the job to complete", async || {
        let pods = pods_of(&cluster, "leader").await;
        let leader = pods.iter().find(|p| {
            is_running(p)
                && p.annotations().get("batch.kubernetes.io/job-completion-index").map(String::as_str) == Some("0")
        });
        if let (false, Some(leader), 3) = (finished, leader, pods.iter().filter(|p| is_running(p)).count()) {
            finish_pod(&cluster, leader, 0).await;
            finished = true;
        }
        let job = get_job(&cluster, "leader").await;
        condition(&job, "Complete").is_some().then_some(job)
    })
    .await;
    let criteria = condition(&done, "SuccessCriteriaMet").expect("SuccessCriteriaMet");
    assert_eq!(criteria.reason.as_deref(), Some("SuccessPolicy"));
    assert_eq!(criteria.message.as_deref(), Some("Matched rules at index 0"));
    let complete = condition(&done, "Complete").expect("Complete");
    assert_eq!(complete.reason.as_deref(), Some("SuccessPolicy"));
    let status = done.status.clone().unwrap_or_default();
    assert_eq!((status.completed_indexes.as_deref(), status.succeeded, status.active), (Some("0"), Some(1), Some(0)));
    assert_eq!(status.failed.unwrap_or(0), 0, "pods stopped after success are not failures");
    wait_for("the other pods to be gone", async || (pods_of(&cluster, "leader").await.len() == 1).then_some(())).await;
}
