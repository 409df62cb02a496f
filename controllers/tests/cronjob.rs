//! The CronJob controller on a live cluster driven by a fake clock: Jobs at
//! the scheduled times, history trimming, the Forbid and Replace concurrency
//! policies, and too many missed schedules.

mod common;

use std::sync::Arc;

use common::{Cluster, wait_for};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::{Value, json};
use skiff_controllers::clock::{Clock, FakeClock};

const NS: &str = "default";

/// A CronJob running `schedule` in UTC whose pods exit with 0 (`finishing`) or run forever.
fn cronjob(name: &str, schedule: &str, extra: Value, finishing: bool) -> Value {
    let annotations = if finishing {
        json!({ "simulation.skiff.dev/exit-code": "0", "simulation.skiff.dev/run-seconds": "0.1" })
    } else {
        json!({})
    };
    let mut object = json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": { "name": name },
        "spec": {
            "schedule": schedule, "timeZone": "UTC",
            "jobTemplate": {
                "metadata": { "labels": { "team": "data" }, "annotations": { "owner": "ops" } },
                "spec": { "template": {
                    "metadata": { "annotations": annotations },
                    "spec": { "restartPolicy": "Never", "containers": [{ "name": "main", "image": "busybox" }] } } } },
        },
    });
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        object["spec"][key] = value;
    }
    object
}

/// A cluster whose controllers read `clock`.
async fn cluster(clock: &FakeClock, controllers: &[&str]) -> Cluster {
    Cluster::start_with_clock(controllers, 1, Some(Arc::new(clock.clone()) as Arc<dyn Clock>)).await
}

/// The first whole minute after `t`.
fn next_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second((t.as_second() / 60 + 1) * 60).expect("a time")
}

fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second() / 60)
}

async fn jobs(cluster: &Cluster) -> Vec<Job> {
    cluster.api::<Job>(NS).list(&ListParams::default()).await.expect("list jobs").items
}

async fn get_cronjob(cluster: &Cluster, name: &str) -> CronJob {
    cluster.api::<CronJob>(NS).get(name).await.expect("get the cronjob")
}

fn active_names(cj: &CronJob) -> Vec<String> {
    let active = cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
    active.into_iter().filter_map(|r| r.name).collect()
}

/// The (reason, message) of the events about an object.
async fn events(cluster: &Cluster, name: &str) -> Vec<(String, String)> {
    let list = cluster.api::<Event>(NS).list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

async fn wait_event(cluster: &Cluster, name: &str, reason: &str, message: &str) {
    wait_for(&format!("event {reason}: {message}"), async || {
        events(cluster, name).await.iter().any(|(r, m)| r == reason && m == message).then_some(())
    })
    .await;
}

async fn wait_job(cluster: &Cluster, name: &str) -> Job {
    wait_for(&format!("job {name}"), async || cluster.api::<Job>(NS).get_opt(name).await.expect("get")).await
}

#[tokio::test]
async fn jobs_start_at_the_scheduled_times_and_finished_ones_are_trimmed() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = cluster(&clock, &["cronjob", "job"]).await;
    let extra = json!({ "successfulJobsHistoryLimit": 2 });
    cluster.create::<CronJob>(Some(NS), cronjob("tick", "* * * * *", extra, true)).await;
    let first = next_minute(clock.now());
    let mut names = Vec::new();
    for minute in 0..3 {
        let scheduled = first + SignedDuration::from_mins(minute);
        clock.set(scheduled + SignedDuration::from_secs(1));
        let name = job_name("tick", scheduled);
        let job = wait_job(&cluster, &name).await;
        if minute == 0 {
            assert_eq!(job.labels().get("team").map(String::as_str), Some("data"));
            assert_eq!(job.annotations().get("owner").map(String::as_str), Some("ops"));
            let stamp = job.annotations().get("batch.kubernetes.io/cronjob-scheduled-timestamp").cloned();
            assert_eq!(stamp, Some(scheduled.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
            let owner = &job.owner_references()[0];
            assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("CronJob", "tick", Some(true)));
            let cj = get_cronjob(&cluster, "tick").await;
            let last = cj.status.as_ref().and_then(|s| s.last_schedule_time.clone()).map(|t| t.0);
            assert_eq!(last, Some(scheduled));
        }
        wait_event(&cluster, "tick", "SuccessfulCreate", &format!("Created job {name}")).await;
        // The Job completes; the CronJob notices and records the success.
        wait_event(&cluster, "tick", "SawCompletedJob", &format!("Saw completed job: {name}, status: Complete")).await;
        names.push(name);
    }
    wait_event(&cluster, "tick", "SuccessfulDelete", &format!("Deleted job {}", names[0])).await;
    let left = wait_for("the history to be trimmed to two", async || {
        let mut left: Vec<String> = jobs(&cluster).await.iter().map(ResourceExt::name_any).collect();
        left.sort();
        (left.len() == 2).then_some(left)
    })
    .await;
    assert_eq!(left, names[1..]);
    let cj = wait_for("the last success", async || {
        let cj = get_cronjob(&cluster, "tick").await;
        let status = cj.status.clone().unwrap_or_default();
        (status.last_successful_time.is_some() && active_names(&cj).is_empty()).then_some(cj)
    })
    .await;
    assert!(cj.status.and_then(|s| s.last_schedule_time).is_some_and(|t| t.0 == first + SignedDuration::from_mins(2)));
}

#[tokio::test]
async fn a_suspended_cronjob_starts_nothing_until_resumed() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = cluster(&clock, &["cronjob"]).await;
    cluster.create::<CronJob>(Some(NS), cronjob("paused", "*/5 * * * *", json!({ "suspend": true }), false)).await;
    // A CronJob on the same schedule shows when the controller has acted on a time.
    cluster.create::<CronJob>(Some(NS), cronjob("witness", "*/5 * * * *", json!({}), false)).await;
    let due = Timestamp::from_second((clock.now().as_second() / 300 + 1) * 300).expect("a time");
    assert!(jobs(&cluster).await.is_empty(), "nothing before the schedule");
    for tick in [due, due + SignedDuration::from_mins(5)] {
        clock.set(tick + SignedDuration::from_secs(1));
        wait_job(&cluster, &job_name("witness", tick)).await;
    }
    assert!(
        jobs(&cluster).await.iter().all(|j| j.name_any().starts_with("witness-")),
        "the suspended CronJob started nothing"
    );
    let resume = json!({ "spec": { "suspend": false } });
    let api = cluster.api::<CronJob>(NS);
    api.patch("paused", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&resume)).await.expect("resume");
    // Only the most recent missed time runs.
    wait_job(&cluster, &job_name("paused", due + SignedDuration::from_mins(5))).await;
    assert_eq!(jobs(&cluster).await.iter().filter(|j| j.name_any().starts_with("paused-")).count(), 1);
}

#[tokio::test]
async fn forbid_skips_a_run_while_the_previous_job_is_active() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = cluster(&clock, &["cronjob"]).await;
    let extra = json!({ "concurrencyPolicy": "Forbid" });
    cluster.create::<CronJob>(Some(NS), cronjob("single", "* * * * *", extra, false)).await;
    let first = next_minute(clock.now());
    clock.set(first + SignedDuration::from_secs(1));
    let running = job_name("single", first);
    wait_job(&cluster, &running).await;
    clock.set(first + SignedDuration::from_secs(61));
    let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
    wait_event(&cluster, "single", "JobAlreadyActive", message).await;
    let names: Vec<String> = jobs(&cluster).await.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, std::slice::from_ref(&running));
    assert_eq!(active_names(&get_cronjob(&cluster, "single").await), [running]);
}

#[tokio::test]
async fn replace_deletes_the_active_job_and_starts_a_new_one() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = cluster(&clock, &["cronjob"]).await;
    let extra = json!({ "concurrencyPolicy": "Replace" });
    cluster.create::<CronJob>(Some(NS), cronjob("fresh", "* * * * *", extra, false)).await;
    let first = next_minute(clock.now());
    clock.set(first + SignedDuration::from_secs(1));
    let old = job_name("fresh", first);
    wait_job(&cluster, &old).await;
    let second = first + SignedDuration::from_mins(1);
    clock.set(second + SignedDuration::from_secs(1));
    let new = job_name("fresh", second);
    wait_job(&cluster, &new).await;
    wait_event(&cluster, "fresh", "SuccessfulDelete", &format!("Deleted job {old}")).await;
    let names: Vec<String> = jobs(&cluster).await.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, std::slice::from_ref(&new));
    let cj = wait_for("the active list to hold the new job only", async || {
        let cj = get_cronjob(&cluster, "fresh").await;
        (active_names(&cj) == [new.clone()]).then_some(cj)
    })
    .await;
    assert_eq!(cj.status.and_then(|s| s.last_schedule_time).map(|t| t.0), Some(second));
}

#[tokio::test]
async fn after_too_many_missed_schedules_only_the_latest_starts_with_a_warning() {
    let clock = FakeClock::new(Timestamp::now());
    let cluster = cluster(&clock, &["cronjob"]).await;
    cluster.create::<CronJob>(Some(NS), cronjob("late", "* * * * *", json!({}), false)).await;
    clock.advance(SignedDuration::from_hours(3));
    let latest = Timestamp::from_second(clock.now().as_second() / 60 * 60).expect("a time");
    wait_job(&cluster, &job_name("late", latest)).await;
    let message = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";
    wait_event(&cluster, "late", "TooManyMissedTimes", message).await;
    assert_eq!(jobs(&cluster).await.len(), 1);
}
