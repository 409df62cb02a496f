//! Unknown fields: 400 under fieldValidation=Strict (what kubectl sends),
//! a Warning header and the field dropped under Warn, and server-side dry runs write nothing.

use std::sync::Arc;

use http_body_util::BodyExt;
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tower::ServiceExt;

async fn send(server: &ApiServer, method: &str, path: &str, body: Option<Value>) -> (u16, Vec<String>, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let response = server.router().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let warnings =
        response.headers().get_all("warning").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, warnings, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn deployment(typo: bool) -> Value {
    let mut container = json!({ "name": "app", "image": "nginx:1.27" });
    if typo {
        container["imagePullPolicyy"] = json!("Always");
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
        "spec": { "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [container] } } },
    })
}

#[tokio::test]
async fn strict_field_validation_refuses_unknown_fields_with_upstreams_message() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let (status, _, body) = send(
        &server,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
        Some(deployment(true)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolicyy\""
    );
}

#[tokio::test]
async fn warn_field_validation_drops_unknown_fields_with_a_warning() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let (status, warnings, body) = send(
        &server,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Warn",
        Some(deployment(true)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"""#]);
    assert!(body.pointer("/spec/template/spec/containers/0/imagePullPolicyy").is_none());
}

#[tokio::test]
async fn server_side_dry_runs_write_nothing() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let (status, _, body) =
        send(&server, "POST", "/apis/apps/v1/namespaces/default/deployments?dryRun=All", Some(deployment(false))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body.pointer("/spec/replicas"), Some(&json!(1)), "defaults applied");
    let (status, _, _) = send(&server, "GET", "/apis/apps/v1/namespaces/default/deployments/web", None).await;
    assert_eq!(status, 404, "nothing was stored");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let big = json!({ "metadata": { "name": "big" }, "data": { "k": "x".repeat(4 * 1024 * 1024) } });
    let (status, _, body) = send(&server, "POST", "/api/v1/namespaces/default/configmaps", Some(big)).await;
    assert_eq!((status, body["reason"].as_str()), (413, Some("RequestEntityTooLarge")), "{body}");
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .expect("request");
    let response = server.router().oneshot(request).await.expect("response");
    assert_eq!(response.status().as_u16(), 400);
    let wrong_kind = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "x" } });
    let (status, _, body) = send(&server, "POST", "/api/v1/namespaces/default/configmaps", Some(wrong_kind)).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn yaml_bodies_are_read_and_bad_yaml_is_a_400() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let post = |body: &'static str| {
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/yaml")
            .body(axum::body::Body::from(body))
            .expect("request")
    };
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: \"1\"\n";
    let response = server.router().oneshot(post(yaml)).await.expect("response");
    assert_eq!(response.status().as_u16(), 201);
    let (status, _, body) = send(&server, "GET", "/api/v1/namespaces/default/configmaps/from-yaml", None).await;
    assert_eq!((status, &body["data"]["a"]), (200, &json!("1")), "{body}");
    let response = server.router().oneshot(post("metadata: [unclosed\n")).await.expect("response");
    assert_eq!(response.status().as_u16(), 400);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let status: Value = serde_json::from_slice(&bytes).expect("a Status");
    assert_eq!(status["reason"], "BadRequest", "{status}");
}
