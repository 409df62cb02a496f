//! A namespace's life as kube-apiserver runs it: DELETE starts termination,
//! nothing new may be created in a terminating namespace, spec.finalizers
//! change only through `namespaces/{name}/finalize`, and the namespace goes
//! once they and metadata.finalizers are empty.

use std::sync::Arc;

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::Status;
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tower::ServiceExt;

async fn start() -> (ApiServer, kube::Client) {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = server.client();
    (server, client)
}

fn api_error(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A raw request through the router: the status code and the JSON body.
async fn send(server: &ApiServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let response = server.router().oneshot(request).await.expect("response");
    let code = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn create_namespace(namespaces: &Api<Namespace>, name: &str, metadata: Value) -> Namespace {
    let mut meta = json!({ "name": name });
    if let (Value::Object(meta), Value::Object(extra)) = (&mut meta, metadata) {
        meta.extend(extra);
    }
    let namespace: Namespace = serde_json::from_value(json!({ "metadata": meta })).expect("namespace");
    namespaces.create(&PostParams::default(), &namespace).await.expect("create the namespace")
}

fn spec_finalizers(namespace: &Namespace) -> Vec<String> {
    namespace.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default()
}

#[tokio::test]
async fn a_plain_update_keeps_spec_finalizers_and_finalize_replaces_them() {
    let (server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client);
    let created = create_namespace(&namespaces, "team", json!({})).await;
    assert_eq!(spec_finalizers(&created), ["kubernetes"]);

    let mut edited = created.clone();
    edited.spec.get_or_insert_default().finalizers = Some(vec![]);
    edited.metadata.labels = Some([("tier".to_owned(), "gold".to_owned())].into());
    let updated = namespaces.replace("team", &PostParams::default(), &edited).await.expect("update");
    assert_eq!(spec_finalizers(&updated), ["kubernetes"], "a plain update keeps spec.finalizers");
    assert_eq!(updated.metadata.labels.as_ref().and_then(|l| l.get("tier")).map(String::as_str), Some("gold"));

    let mut finalized = updated.clone();
    finalized.spec.get_or_insert_default().finalizers = Some(vec!["example.com/other".to_owned()]);
    finalized.status.get_or_insert_default().phase = Some("Terminating".to_owned());
    let stored =
        namespaces.replace_subresource("finalize", "team", &PostParams::default(), &finalized).await.expect("finalize");
    assert_eq!(spec_finalizers(&stored), ["example.com/other"]);
    assert_eq!(stored.status.and_then(|s| s.phase).as_deref(), Some("Active"), "finalize keeps the status");

    let stale = api_error(
        namespaces
            .replace_subresource("finalize", "team", &PostParams::default(), &finalized)
            .await
            .expect_err("stale"),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    let (code, _) = send(&server, "GET", "/api/v1/namespaces/team/finalize", None).await;
    assert_eq!(code, 405, "finalize only takes a PUT");
    let bad = json!({ "metadata": { "name": "team" }, "spec": { "finalizers": ["not a name"] } });
    let (code, body) = send(&server, "PUT", "/api/v1/namespaces/team/finalize", Some(bad)).await;
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")), "{body}");
}

#[tokio::test]
async fn a_terminating_namespace_refuses_new_content_and_goes_when_finalized() {
    let (server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    create_namespace(&namespaces, "doomed", json!({})).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let map: ConfigMap = serde_json::from_value(json!({ "metadata": { "name": "kept" } })).expect("map");
    maps.create(&PostParams::default(), &map).await.expect("create before the deletion");

    let deleted = namespaces.delete("doomed", &DeleteParams::default()).await.expect("delete");
    let terminating = deleted.left().expect("the namespace is answered while it terminates");
    assert_eq!(terminating.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Terminating"));
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert!(terminating.metadata.deletion_grace_period_seconds.is_none());

    let refused = api_error(maps.create(&PostParams::default(), &map).await.expect_err("terminating"));
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        refused.message,
        "configmaps \"kept\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    let (code, body) = send(
        &server,
        "POST",
        "/api/v1/namespaces/doomed/configmaps",
        Some(json!({ "metadata": { "generateName": "gen-" } })),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "configmaps is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    assert_eq!(
        body["details"],
        json!({ "kind": "configmaps", "causes": [{
            "reason": "NamespaceTerminating", "message": "namespace doomed is being terminated", "field": "metadata.namespace",
        }] })
    );

    let again = namespaces.delete("doomed", &DeleteParams::default()).await.expect("delete again");
    let again = again.left().expect("still there");
    assert_eq!(again.metadata.resource_version, terminating.metadata.resource_version, "nothing changed");

    let mut finalized = again.clone();
    finalized.spec.get_or_insert_default().finalizers = Some(vec![]);
    namespaces.replace_subresource("finalize", "doomed", &PostParams::default(), &finalized).await.expect("finalize");
    assert!(namespaces.get_opt("doomed").await.expect("get").is_none(), "finalized: the namespace is removed");
}

#[tokio::test]
async fn metadata_finalizers_hold_a_finalized_namespace() {
    let (_server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client);
    create_namespace(&namespaces, "held", json!({ "finalizers": ["example.com/hold"] })).await;
    let deleted = namespaces.delete("held", &DeleteParams::foreground()).await.expect("delete");
    let terminating = deleted.left().expect("terminating");
    assert_eq!(
        terminating.metadata.finalizers.as_deref(),
        Some(&["example.com/hold".to_owned(), "foregroundDeletion".to_owned()][..])
    );
    let mut finalized = terminating.clone();
    finalized.spec.get_or_insert_default().finalizers = Some(vec![]);
    namespaces.replace_subresource("finalize", "held", &PostParams::default(), &finalized).await.expect("finalize");
    let held = namespaces.get("held").await.expect("metadata.finalizers hold it");
    assert!(spec_finalizers(&held).is_empty());
    let release = json!({ "metadata": { "finalizers": null } });
    namespaces.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.expect("release");
    assert!(namespaces.get_opt("held").await.expect("get").is_none());
}

#[tokio::test]
async fn immortal_namespaces_may_not_be_deleted_and_bindings_count_as_creates() {
    let (_server, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["default", "kube-system", "kube-public"] {
        let refused = api_error(namespaces.delete(name, &DeleteParams::default()).await.expect_err("immortal"));
        assert_eq!(refused.code, 403);
        assert_eq!(refused.message, format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"));
    }

    create_namespace(&namespaces, "leaving", json!({})).await;
    let pods: Api<Pod> = Api::namespaced(client, "leaving");
    let pod = json!({ "metadata": { "name": "p" }, "spec": { "containers": [{ "name": "c", "image": "nginx" }] } });
    pods.create(&PostParams::default(), &serde_json::from_value(pod).expect("pod")).await.expect("create");
    namespaces.delete("leaving", &DeleteParams::default()).await.expect("delete the namespace");
    let binding = json!({ "apiVersion": "v1", "kind": "Binding", "metadata": { "name": "p" }, "target": { "kind": "Node", "name": "n1" } });
    let refused = api_error(
        pods.create_subresource::<Value, Value>("binding", "p", &PostParams::default(), &binding)
            .await
            .expect_err("binding in a terminating namespace"),
    );
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.message,
        "pods \"p\" is forbidden: unable to create new content in namespace leaving because it is being terminated"
    );
}
