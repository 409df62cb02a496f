//! The proxy subresources' answers that need no kubelet: container choice,
//! unscheduled pods, non-upgrade streams, nodes without a kubelet address
//! (upstream's texts and codes); and a log request reaching a stand-in kubelet.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tower::ServiceExt;

async fn server() -> ApiServer {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    let pods: Api<Pod> = Api::namespaced(api.client(), "default");
    let pp = PostParams::default();
    for (name, containers, node) in
        [("one", vec!["c"], Some("node-1")), ("two", vec!["a", "b"], None), ("idle", vec!["c"], None)]
    {
        let containers: Vec<Value> = containers.iter().map(|c| json!({ "name": c, "image": "busybox" })).collect();
        let mut spec = json!({ "containers": containers, "initContainers": [] });
        if name == "two" {
            spec["initContainers"] = json!([{ "name": "init", "image": "busybox" }]);
        }
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        let pod = serde_json::from_value(json!({ "metadata": { "name": name }, "spec": spec })).expect("pod");
        pods.create(&pp, &pod).await.expect("create");
    }
    let nodes: Api<Node> = Api::all(api.client());
    nodes
        .create(&pp, &serde_json::from_value(json!({ "metadata": { "name": "node-1" } })).expect("node"))
        .await
        .expect("node");
    api
}

async fn call(api: &ApiServer, method: &str, path: &str) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("request");
    let response = api.router().oneshot(request).await.expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())))
}

#[tokio::test]
async fn log_and_stream_requests_fail_as_upstreams_do_before_reaching_a_kubelet() {
    let api = server().await;
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "GET",
            "/api/v1/namespaces/default/pods/two/log",
            400,
            "a container name must be specified for pod two, choose one of: [a b] or one of the init containers: [init]",
        ),
        ("GET", "/api/v1/namespaces/default/pods/one/log?container=x", 400, "container x is not valid for pod one"),
        (
            "GET",
            "/api/v1/namespaces/default/pods/one/log?tailLines=-1",
            422,
            "PodLogOptions \"one\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0",
        ),
        ("GET", "/api/v1/namespaces/default/pods/nope/log", 404, "pods \"nope\" not found"),
        ("POST", "/api/v1/namespaces/default/pods/one/exec?command=ls&stdout=true", 400, "Upgrade request required"),
        (
            "POST",
            "/api/v1/namespaces/default/pods/idle/exec?command=ls&stdout=true",
            400,
            "pod idle does not have a host assigned",
        ),
        ("POST", "/api/v1/namespaces/default/pods/idle/portforward", 400, "pod idle does not have a host assigned"),
        (
            "GET",
            "/api/v1/namespaces/default/pods/one/log",
            500,
            "Internal error occurred: no preferred addresses found; known addresses: []",
        ),
        ("GET", "/api/v1/nodes/node-2/proxy/healthz", 404, "nodes \"node-2\" not found"),
    ];
    for (method, path, code, message) in cases {
        let (status, body) = call(&api, method, path).await;
        assert_eq!(
            (status.as_u16(), body["message"].as_str().unwrap_or_default()),
            (*code, *message),
            "{method} {path}: {body}"
        );
        assert_eq!(body["kind"], "Status", "{body}");
    }
    // An unscheduled pod has an empty log.
    let request = Request::get("/api/v1/namespaces/default/pods/idle/log").body(Body::empty()).expect("request");
    let response = api.router().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.into_body().collect().await.expect("body").to_bytes().is_empty());
}

#[tokio::test]
async fn a_kubelet_that_cannot_be_reached_is_a_500_naming_it() {
    let api = server().await;
    let nodes: Api<Node> = Api::all(api.client());
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let status = json!({ "status": { "addresses": [{ "type": "InternalIP", "address": "127.0.0.1" }],
        "daemonEndpoints": { "kubeletEndpoint": { "Port": port } } } });
    nodes.patch_status("node-1", &PatchParams::default(), &Patch::Merge(status)).await.expect("status");
    let (status, body) = call(&api, "GET", "/api/v1/namespaces/default/pods/one/log?follow=true").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("https://127.0.0.1:{port}/containerLogs/default/one/c?follow=true: ")),
        "{message}"
    );
}
