//! `pods/eviction` deletes a pod only when its PodDisruptionBudget allows a
//! disruption, taking one from the budget; 429 when it allows none.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;

async fn client() -> kube::Client {
    ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client()
}

/// A pod with these labels in this phase, Ready when running.
async fn pod(pods: &Api<Pod>, name: &str, app: &str, phase: &str) {
    let pod = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app": app } },
        "spec": { "containers": [{ "name": "c", "image": "nginx" }] },
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create the pod");
    let ready = if phase == "Running" { "True" } else { "False" };
    let status = json!({ "status": { "phase": phase, "conditions": [{ "type": "Ready", "status": ready }] } });
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("set the pod's status");
}

/// A budget selecting `app`, with the status a disruption controller would have written.
async fn budget(budgets: &Api<PodDisruptionBudget>, name: &str, app: &str, allowed: i32, observed: Option<i64>) {
    let budget = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "minAvailable": 2, "selector": { "matchLabels": { "app": app } } },
    }))
    .expect("budget");
    let created = budgets.create(&PostParams::default(), &budget).await.expect("create the budget");
    let observed = observed.or(created.metadata.generation);
    let status = json!({ "status": { "disruptionsAllowed": allowed, "currentHealthy": 2 + allowed, "desiredHealthy": 2,
                                     "expectedPods": 2 + allowed, "observedGeneration": observed } });
    budgets.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("set the budget's status");
}

fn refusal(result: kube::Result<kube::core::Status>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn causes(status: &kube::core::Status) -> Vec<(String, String)> {
    status.details.iter().flat_map(|d| d.causes.iter()).map(|c| (c.reason.clone(), c.message.clone())).collect()
}

#[tokio::test]
async fn an_eviction_takes_a_disruption_from_the_budget_and_is_refused_when_none_is_left() {
    let client = client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        pod(&pods, name, "web", "Running").await;
    }
    budget(&budgets, "web", "web", 1, None).await;

    let status = pods.evict("a", &EvictParams::default()).await.expect("the first eviction");
    assert_eq!((status.code, status.status), (201, Some(kube::core::response::StatusSummary::Success)));
    assert!(pods.get_opt("a").await.expect("get a").is_none(), "an unscheduled pod goes at once");
    let after = budgets.get("web").await.expect("get the budget").status.expect("a status");
    assert_eq!(after.disruptions_allowed, 0);
    assert!(after.disrupted_pods.unwrap_or_default().contains_key("a"), "a recorded as disrupted");
    let condition = after.conditions.iter().flatten().find(|c| c.type_ == "DisruptionAllowed").expect("condition");
    assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("False", "InsufficientPods"));

    let refused = refusal(pods.evict("b", &EvictParams::default()).await);
    assert_eq!((refused.code, refused.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(refused.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(
        causes(&refused),
        vec![(
            "DisruptionBudget".to_owned(),
            "The disruption budget web needs 2 healthy pods and has 3 currently".to_owned()
        )]
    );
    assert!(pods.get_opt("b").await.expect("get b").is_some(), "b stays");
}

#[tokio::test]
async fn pods_without_budgets_or_that_disrupt_nothing_are_deleted_directly() {
    let client = client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pod(&pods, "free", "other", "Running").await;
    pods.evict("free", &EvictParams::default()).await.expect("no budget");
    assert!(pods.get_opt("free").await.expect("get").is_none());

    budget(&budgets, "web", "web", 0, None).await;
    pod(&pods, "done", "web", "Succeeded").await;
    pod(&pods, "waiting", "web", "Pending").await;
    pods.evict("done", &EvictParams::default()).await.expect("a finished pod");
    pods.evict("waiting", &EvictParams::default()).await.expect("a pending pod");
    assert!(
        pods.get_opt("done").await.expect("get").is_none() && pods.get_opt("waiting").await.expect("get").is_none()
    );
    let untouched = budgets.get("web").await.expect("budget").status.expect("status");
    assert_eq!(untouched.disruptions_allowed, 0);
    assert!(untouched.disrupted_pods.unwrap_or_default().is_empty());

    // Dry runs delete nothing and take nothing from the budget.
    budget(&budgets, "db", "db", 1, None).await;
    pod(&pods, "d", "db", "Running").await;
    let dry =
        EvictParams { post_options: PostParams { dry_run: true, ..PostParams::default() }, ..EvictParams::default() };
    pods.evict("d", &dry).await.expect("a dry run");
    assert!(pods.get_opt("d").await.expect("get").is_some());
    assert_eq!(budgets.get("db").await.expect("budget").status.expect("status").disruptions_allowed, 1);
}

#[tokio::test]
async fn two_budgets_or_an_unprocessed_budget_refuse_the_eviction() {
    let client = client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pod(&pods, "a", "web", "Running").await;
    budget(&budgets, "one", "web", 1, None).await;
    budget(&budgets, "two", "web", 1, None).await;
    let refused = refusal(pods.evict("a", &EvictParams::default()).await);
    assert_eq!(refused.code, 500);
    assert_eq!(
        refused.message,
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );

    pod(&pods, "b", "db", "Running").await;
    budget(&budgets, "db", "db", 1, Some(0)).await;
    let refused = refusal(pods.evict("b", &EvictParams::default()).await);
    assert_eq!(refused.code, 429);
    assert_eq!(
        causes(&refused),
        vec![(
            "DisruptionBudget".to_owned(),
            "The disruption budget db is still being processed by the server.".to_owned()
        )]
    );
    let wrong_name = pods
        .create_subresource::<_, kube::core::Status>(
            "eviction",
            "b",
            &PostParams::default(),
            &json!({ "apiVersion": "policy/v1", "kind": "Eviction", "metadata": { "name": "c" } }),
        )
        .await;
    let wrong_name = refusal(wrong_name);
    assert_eq!(
        (wrong_name.code, wrong_name.message.as_str()),
        (400, "name in URL does not match name in Eviction object")
    );
}

#[tokio::test]
async fn discovery_names_the_eviction_group_so_drain_uses_it() {
    let client = client().await;
    let resources = client.list_core_api_resources("v1").await.expect("discovery");
    let eviction = resources.resources.iter().find(|r| r.name == "pods/eviction").expect("pods/eviction");
    assert_eq!(
        (eviction.group.as_deref(), eviction.version.as_deref(), eviction.kind.as_str()),
        (Some("policy"), Some("v1"), "Eviction")
    );
}
