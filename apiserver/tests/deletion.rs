//! Deletion propagation as kube-apiserver decides it: each kind's default
//! garbage-collection policy, `propagationPolicy` and the legacy
//! `orphanDependents`, and the swap of the `orphan` and `foregroundDeletion`
//! finalizers on a repeated delete.

use std::sync::Arc;

use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tower::ServiceExt;

async fn start() -> (ApiServer, kube::Client) {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = server.client();
    (server, client)
}

/// A raw DELETE through the router: the status code and the JSON body.
async fn delete(server: &ApiServer, path: &str, options: Option<Value>) -> (u16, Value) {
    let request = http::Request::builder()
        .method("DELETE")
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(options.map(|o| o.to_string()).unwrap_or_default()))
        .expect("request");
    let response = server.router().oneshot(request).await.expect("response");
    let code = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn job(name: &str) -> Job {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "c", "image": "busybox" }] } } },
    }))
    .expect("job")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name } }, "spec": { "containers": [{ "name": "c", "image": "nginx" }] } },
        },
    }))
    .expect("deployment")
}

fn config_map(name: &str, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name, "finalizers": finalizers } })).expect("config map")
}

fn finalizers(meta: &kube::core::ObjectMeta) -> Vec<String> {
    meta.finalizers.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_v1_job_deleted_without_a_policy_orphans_and_a_deployment_goes_at_once() {
    let (server, client) = start().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &job("pi")).await.expect("create the job");
    let kept = jobs.delete("pi", &DeleteParams::default()).await.expect("delete").left().expect("kept");
    assert_eq!(finalizers(&kept.metadata), ["orphan"]);
    assert!(kept.metadata.deletion_timestamp.is_some());
    assert_eq!(kept.metadata.deletion_grace_period_seconds, Some(0));

    jobs.create(&PostParams::default(), &job("bg")).await.expect("create the job");
    let gone = jobs.delete("bg", &DeleteParams::background()).await.expect("delete");
    assert!(gone.is_right(), "background: removed at once");
    jobs.create(&PostParams::default(), &job("legacy")).await.expect("create the job");
    let (code, body) =
        delete(&server, "/apis/batch/v1/namespaces/default/jobs/legacy", Some(json!({ "orphanDependents": false })))
            .await;
    assert_eq!((code, body["status"].as_str()), (200, Some("Success")), "orphanDependents=false deletes: {body}");

    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let created = deployments.create(&PostParams::default(), &deployment("web")).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let gone = deployments.delete("web", &DeleteParams::default()).await.expect("delete");
    assert!(gone.is_right(), "apps/v1 deletes dependents in the background by default");
    deployments.create(&PostParams::default(), &deployment("fg")).await.expect("create");
    let kept = deployments.delete("fg", &DeleteParams::foreground()).await.expect("delete").left().expect("kept");
    assert_eq!(finalizers(&kept.metadata), ["foregroundDeletion"]);
    assert_eq!(kept.metadata.generation, Some(2), "a deletion counts as a generation");
}

#[tokio::test]
async fn a_repeated_delete_with_another_policy_swaps_the_finalizer() {
    let (_server, client) = start().await;
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    maps.create(&PostParams::default(), &config_map("owner", &["example.com/hold"])).await.expect("create");
    let first = maps.delete("owner", &DeleteParams::foreground()).await.expect("delete").left().expect("held");
    assert_eq!(finalizers(&first.metadata), ["example.com/hold", "foregroundDeletion"]);
    let second = maps.delete("owner", &DeleteParams::orphan()).await.expect("delete").left().expect("held");
    assert_eq!(finalizers(&second.metadata), ["example.com/hold", "orphan"]);
    assert_eq!(second.metadata.deletion_timestamp, first.metadata.deletion_timestamp);
    let third = maps.delete("owner", &DeleteParams::default()).await.expect("delete").left().expect("held");
    assert_eq!(third.metadata.resource_version, second.metadata.resource_version, "no policy: nothing changes");
    let fourth = maps.delete("owner", &DeleteParams::background()).await.expect("delete").left().expect("held");
    assert_eq!(finalizers(&fourth.metadata), ["example.com/hold"]);

    let release = json!({ "metadata": { "finalizers": null } });
    maps.patch("owner", &PatchParams::default(), &Patch::Merge(&release)).await.expect("release");
    assert!(maps.get_opt("owner").await.expect("get").is_none());
}

#[tokio::test]
async fn legacy_orphan_dependents_and_its_conflict_with_a_propagation_policy() {
    let (server, client) = start().await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    maps.create(&PostParams::default(), &config_map("both", &[])).await.expect("create");
    let (code, body) = delete(
        &server,
        "/api/v1/namespaces/default/configmaps/both",
        Some(json!({ "orphanDependents": true, "propagationPolicy": "Background" })),
    )
    .await;
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        body["message"],
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Background\": orphanDependents and deletionPropagation cannot be both set"
    );
    let (code, _) =
        delete(&server, "/api/v1/namespaces/default/configmaps/both?propagationPolicy=Sideways", None).await;
    assert_eq!(code, 422);
    assert!(maps.get_opt("both").await.expect("get").is_some(), "an invalid delete deletes nothing");

    let (code, body) = delete(&server, "/api/v1/namespaces/default/configmaps/both?orphanDependents=true", None).await;
    assert_eq!(code, 200);
    assert_eq!(body["metadata"]["finalizers"], json!(["orphan"]), "{body}");

    maps.create(&PostParams::default(), &config_map("held", &["example.com/hold"])).await.expect("create");
    let (code, body) =
        delete(&server, "/api/v1/namespaces/default/configmaps/held", Some(json!({ "orphanDependents": false }))).await;
    assert_eq!(code, 202, "orphanDependents=false that leaves the object answers Accepted");
    assert_eq!(body["metadata"]["finalizers"], json!(["example.com/hold"]));
}

#[tokio::test]
async fn events_take_no_garbage_collection_finalizers() {
    let (_server, client) = start().await;
    let events: Api<Event> = Api::namespaced(client, "default");
    let event = json!({
        "metadata": { "name": "e1" }, "involvedObject": { "kind": "Pod", "name": "p", "namespace": "default" },
        "reason": "Started", "message": "started",
    });
    events.create(&PostParams::default(), &serde_json::from_value(event).expect("event")).await.expect("create");
    let gone = events.delete("e1", &DeleteParams::foreground()).await.expect("delete");
    assert!(gone.is_right(), "a foreground delete of an event removes it at once");
}
