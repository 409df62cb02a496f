//! `/metrics` counts requests with kube-apiserver's metric names and labels.

use std::sync::Arc;

use http_body_util::BodyExt;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;
use tower::ServiceExt;

async fn get(server: &ApiServer, path: &str) -> (u16, String) {
    let request = http::Request::get(path).body(axum::body::Body::empty()).expect("request");
    let response = server.router().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn requests_are_counted_by_verb_resource_scope_and_code() {
    let server = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start");
    assert_eq!(get(&server, "/api/v1/namespaces/default/pods").await.0, 200);
    assert_eq!(get(&server, "/api/v1/namespaces/default/pods/missing").await.0, 404);
    let (status, metrics) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"apiserver_request_total{verb="LIST",group="",version="v1",resource="pods",subresource="",scope="namespace",component="apiserver",code="200"} 1"#,
        r#"apiserver_request_total{verb="GET",group="",version="v1",resource="pods",subresource="",scope="resource",component="apiserver",code="404"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line} in\n{metrics}");
    }
    assert!(metrics.contains("apiserver_request_duration_seconds_bucket{"));
    assert!(metrics.contains(r#"etcd_request_duration_seconds_count{operation="get",type="pods"} 1"#));
}
