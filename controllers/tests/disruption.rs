//! The disruption controller on a live cluster: PodDisruptionBudget status
//! for a set of pods (minAvailable against the pods, maxUnavailable against
//! their controller's scale), pending evictions, and the fail-safe.

mod common;

use common::{Cluster, wait_for};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams};
use serde_json::{Value, json};

fn pod(name: &str, app: &str, owner: Option<&ReplicaSet>) -> Value {
    let owners: Vec<Value> = owner
        .iter()
        .map(|rs| {
            json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.metadata.name, "uid": rs.metadata.uid,
                    "controller": true })
        })
        .collect();
    json!({
        "metadata": { "name": name, "labels": { "app": app }, "ownerReferences": owners },
        "spec": { "containers": [{ "name": "c", "image": "nginx" }] },
    })
}

fn replica_set(name: &str, app: &str, replicas: i32) -> Value {
    json!({
        "metadata": { "name": name },
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": app } },
                  "template": { "metadata": { "labels": { "app": app } },
                                "spec": { "containers": [{ "name": "c", "image": "nginx" }] } } },
    })
}

/// (expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed, condition reason).
fn counts(status: &PodDisruptionBudgetStatus) -> (i32, i32, i32, i32, String) {
    let reason = status.conditions.iter().flatten().find(|c| c.type_ == "DisruptionAllowed").map(|c| c.reason.clone());
    (
        status.expected_pods,
        status.current_healthy,
        status.desired_healthy,
        status.disruptions_allowed,
        reason.unwrap_or_default(),
    )
}

async fn wait_for_counts(
    api: &Api<PodDisruptionBudget>,
    name: &str,
    want: (i32, i32, i32, i32, &str),
) -> PodDisruptionBudget {
    let want = (want.0, want.1, want.2, want.3, want.4.to_owned());
    wait_for(&format!("{name}'s status to be {want:?}"), async || {
        let budget = api.get(name).await.ok()?;
        (budget.status.as_ref().map(counts) == Some(want.clone())).then_some(budget)
    })
    .await
}

async fn running(pods: &Api<Pod>, names: &[&str]) {
    for name in names {
        wait_for("the pod ready", async || ready(pods, name).await.then_some(())).await;
    }
}

async fn ready(pods: &Api<Pod>, name: &str) -> bool {
    pods.get(name).await.ok().is_some_and(|p| {
        p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test]
async fn min_available_counts_the_ready_pods_and_evictions_pending_in_disrupted_pods() {
    let cluster = Cluster::start(&["disruption"], 1).await;
    let pods: Api<Pod> = cluster.api("default");
    let budgets: Api<PodDisruptionBudget> = cluster.api("default");
    for name in ["a", "b", "c"] {
        let _: Pod = cluster.create(Some("default"), pod(name, "web", None)).await;
    }
    running(&pods, &["a", "b", "c"]).await;
    let _: PodDisruptionBudget = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "web" },
                "spec": { "minAvailable": 2, "selector": { "matchLabels": { "app": "web" } } },
            }),
        )
        .await;
    let budget = wait_for_counts(&budgets, "web", (3, 3, 2, 1, "SufficientPods")).await;
    let status = budget.status.expect("a status");
    assert_eq!(status.observed_generation, budget.metadata.generation);
    let condition = status.conditions.iter().flatten().find(|c| c.type_ == "DisruptionAllowed").expect("condition");
    assert_eq!(condition.status, "True");

    // An eviction in flight (recorded in disruptedPods) no longer counts; a stale one is dropped.
    let now = jiff::Timestamp::now();
    let old = now - jiff::SignedDuration::from_secs(180);
    let at = |t: jiff::Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({ "status": { "disruptedPods": { "a": at(now), "b": at(old) } } });
    budgets.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("record an eviction");
    let budget = wait_for_counts(&budgets, "web", (3, 2, 2, 0, "InsufficientPods")).await;
    let disrupted = budget.status.and_then(|s| s.disrupted_pods).unwrap_or_default();
    assert_eq!(disrupted.keys().collect::<Vec<_>>(), vec!["a"], "b's entry timed out");

    // A pod goes: still not enough.
    pods.delete("c", &DeleteParams::default()).await.expect("delete c");
    wait_for_counts(&budgets, "web", (2, 1, 2, 0, "InsufficientPods")).await;
}

#[tokio::test]
async fn max_unavailable_is_taken_from_the_controllers_scale_and_a_missing_controller_fails_safe() {
    let cluster = Cluster::start(&["disruption"], 1).await;
    let pods: Api<Pod> = cluster.api("default");
    let budgets: Api<PodDisruptionBudget> = cluster.api("default");
    let rs: ReplicaSet = cluster.create(Some("default"), replica_set("web", "web", 4)).await;
    for name in ["w0", "w1", "w2"] {
        let _: Pod = cluster.create(Some("default"), pod(name, "web", Some(&rs))).await;
    }
    running(&pods, &["w0", "w1", "w2"]).await;
    let _: PodDisruptionBudget = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "web" },
                "spec": { "maxUnavailable": "50%", "selector": { "matchLabels": { "app": "web" } } },
            }),
        )
        .await;
    // 4 replicas expected, 2 may be unavailable: 3 healthy allow 1 disruption.
    wait_for_counts(&budgets, "web", (4, 3, 2, 1, "SufficientPods")).await;

    let mut gone = rs.clone();
    gone.metadata.name = Some("gone".to_owned());
    gone.metadata.uid = Some("no-such-uid".to_owned());
    let _: Pod = cluster.create(Some("default"), pod("orphan", "db", Some(&gone))).await;
    let _: PodDisruptionBudget = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "db" },
                "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "app": "db" } } },
            }),
        )
        .await;
    let failed = wait_for("the db budget to fail safe", async || {
        let budget = budgets.get("db").await.ok()?;
        let status = budget.status?;
        let condition = status.conditions.iter().flatten().find(|c| c.type_ == "DisruptionAllowed")?.clone();
        (condition.reason == "SyncFailed").then_some((status.disruptions_allowed, condition))
    })
    .await;
    assert_eq!(failed.0, 0);
    assert_eq!(failed.1.status, "False");
    assert_eq!(failed.1.message, "found no controllers for pod \"orphan\"");
    let events: Api<Event> = cluster.api("default");
    wait_for("the CalculateExpectedPodCountFailed event", async || {
        let all = events.list(&Default::default()).await.ok()?.items;
        all.iter()
            .any(|e| {
                e.reason.as_deref() == Some("CalculateExpectedPodCountFailed")
                    && e.involved_object.name.as_deref() == Some("db")
                    && e.message.as_deref()
                        == Some(
                            "Failed to calculate the number of expected pods: found no controllers for pod \"orphan\"",
                        )
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn evictions_are_allowed_while_the_budget_has_room_then_refused() {
    let cluster = Cluster::start(&["disruption"], 1).await;
    let pods: Api<Pod> = cluster.api("default");
    let budgets: Api<PodDisruptionBudget> = cluster.api("default");
    for name in ["a", "b", "c"] {
        let _: Pod = cluster.create(Some("default"), pod(name, "web", None)).await;
    }
    running(&pods, &["a", "b", "c"]).await;
    let _: PodDisruptionBudget = cluster
        .create(
            Some("default"),
            json!({
                "metadata": { "name": "web" },
                "spec": { "minAvailable": 2, "selector": { "matchLabels": { "app": "web" } } },
            }),
        )
        .await;
    wait_for_counts(&budgets, "web", (3, 3, 2, 1, "SufficientPods")).await;
    pods.evict("a", &EvictParams::default()).await.expect("the budget allows one eviction");
    wait_for_counts(&budgets, "web", (2, 2, 2, 0, "InsufficientPods")).await;
    match pods.evict("b", &EvictParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!((status.code, status.reason.as_str()), (429, "TooManyRequests")),
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(pods.get("b").await.expect("b").metadata.deletion_timestamp.is_none());
}
