//! The API server in process, driven by kube-rs through `ApiServer::client`
//! (no socket, no TLS), on the memory and SQLite backends.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::Status;
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::{Backend, MemoryBackend, SqliteBackend, SqliteConfig};

async fn server(backend: Arc<dyn Backend>) -> kube::Client {
    ApiServer::start(backend).await.expect("start the API server").client()
}

fn config_map(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name, "labels": { "app": "web" } }, "data": data }))
        .expect("config map")
}

fn api_error(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn crud_round_trip(client: kube::Client) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms.create(&PostParams::default(), &config_map("web", json!({"a": "1"}))).await.expect("create");
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some());
    assert_eq!(meta.namespace.as_deref(), Some("default"));

    let again = api_error(cms.create(&PostParams::default(), &config_map("web", json!({}))).await.expect_err("exists"));
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(again.message, "configmaps \"web\" already exists");

    let fetched = cms.get("web").await.expect("get");
    assert_eq!(fetched.data.as_ref().and_then(|d| d.get("a")).map(String::as_str), Some("1"));

    let patched = cms
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({ "data": { "b": "2" } })))
        .await
        .expect("merge patch");
    assert_eq!(patched.data.as_ref().map(|d| d.len()), Some(2));
    assert_ne!(patched.metadata.resource_version, created.metadata.resource_version);

    let mut stale = created.clone();
    stale.data = Some([("c".to_owned(), "3".to_owned())].into());
    let conflict = api_error(cms.replace("web", &PostParams::default(), &stale).await.expect_err("stale"));
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on configmaps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let json_patched = cms
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(json!([{ "op": "remove", "path": "/data/a" }])).expect("patch")),
        )
        .await
        .expect("json patch");
    assert_eq!(json_patched.data.as_ref().map(|d| d.contains_key("a")), Some(false));

    cms.delete("web", &DeleteParams::default()).await.expect("delete");
    let gone = api_error(cms.get("web").await.expect_err("deleted"));
    assert_eq!(
        (gone.code, gone.reason.as_str(), gone.message.as_str()),
        (404, "NotFound", "configmaps \"web\" not found")
    );
}

async fn lists_page_with_continue_tokens(client: kube::Client) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..25 {
        cms.create(&PostParams::default(), &config_map(&format!("cm-{i:02}"), json!({}))).await.expect("create");
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(10);
    loop {
        let page = cms.list(&params).await.expect("list page");
        names.extend(page.items.iter().filter_map(|cm| cm.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names.len(), 25);
    let selected =
        cms.list(&ListParams::default().labels("app=web").fields("metadata.name=cm-03")).await.expect("list");
    assert_eq!(selected.items.len(), 1);
    let bad =
        api_error(cms.list(&ListParams::default().fields("spec.nodeName=x")).await.expect_err("unsupported field"));
    assert_eq!((bad.code, bad.message.as_str()), (400, "field label not supported: spec.nodeName"));
}

async fn watch_reports_adds_modifications_and_deletes(client: kube::Client) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start = cms.list(&ListParams::default()).await.expect("list").metadata.resource_version.expect("rv");
    let mut events = cms.watch(&WatchParams::default().timeout(30), &start).await.expect("watch").boxed();
    cms.create(&PostParams::default(), &config_map("watched", json!({}))).await.expect("create");
    cms.patch("watched", &PatchParams::default(), &Patch::Merge(json!({ "data": { "x": "y" } }))).await.expect("patch");
    cms.delete("watched", &DeleteParams::default()).await.expect("delete");
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(20), events.try_next())
            .await
            .expect("an event within the deadline")
            .expect("watch stream")
            .expect("stream open");
        kinds.push(match event {
            WatchEvent::Added(cm) => format!("ADDED {}", cm.metadata.name.unwrap_or_default()),
            WatchEvent::Modified(cm) => format!("MODIFIED {}", cm.metadata.name.unwrap_or_default()),
            WatchEvent::Deleted(cm) => format!("DELETED {}", cm.metadata.name.unwrap_or_default()),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(kinds, ["ADDED watched", "MODIFIED watched", "DELETED watched"]);
}

async fn initial_namespaces_exist_and_missing_ones_refuse_content(client: kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let pods: Api<Pod> = Api::namespaced(client, "nowhere");
    let pod: Pod = serde_json::from_value(
        json!({ "metadata": { "name": "p" }, "spec": { "containers": [{ "name": "c", "image": "busybox" }] } }),
    )
    .expect("pod");
    let missing = api_error(pods.create(&PostParams::default(), &pod).await.expect_err("no namespace"));
    assert_eq!((missing.code, missing.message.as_str()), (404, "namespaces \"nowhere\" not found"));
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::server(std::sync::Arc::new(super::MemoryBackend::new())).await).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let dir = tempfile::tempdir().expect("temp dir");
                let backend = super::SqliteBackend::open(super::SqliteConfig::new(dir.path().join("state.db"))).expect("open");
                super::$test(super::server(std::sync::Arc::new(backend)).await).await;
            })*
        }
        /// A real etcd per test (skipped only when etcd is missing and CI is unset).
        mod etcd {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                if !skiff_store::testing::require_etcd() {
                    return;
                }
                let etcd = skiff_store::testing::EtcdServer::start().expect("start etcd");
                let config = skiff_store::EtcdConfig::new(vec![etcd.endpoint()]);
                let backend = skiff_store::EtcdBackend::connect(config).await.expect("connect");
                super::$test(super::server(std::sync::Arc::new(backend)).await).await;
            })*
        }
    };
}

on_every_backend!(
    crud_round_trip,
    lists_page_with_continue_tokens,
    watch_reports_adds_modifications_and_deletes,
    initial_namespaces_exist_and_missing_ones_refuse_content,
);

#[tokio::test]
async fn a_continue_token_from_before_compaction_is_gone() {
    let backend = Arc::new(MemoryBackend::new());
    let client = ApiServer::start(backend.clone()).await.expect("start").client();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..5 {
        cms.create(&PostParams::default(), &config_map(&format!("c{i}"), json!({}))).await.expect("create");
    }
    let first = cms.list(&ListParams::default().limit(2)).await.expect("first page");
    let token = first.metadata.continue_.clone().expect("a continue token");
    let current = backend.current_revision().await.expect("revision");
    // A write after the first page, then compaction past the page's revision.
    cms.create(&PostParams::default(), &config_map("later", json!({}))).await.expect("create");
    backend.compact(current + 1).await.expect("compact");
    let gone = api_error(cms.list(&ListParams::default().limit(2).continue_token(&token)).await.expect_err("expired"));
    assert_eq!((gone.code, gone.reason.as_str()), (410, "Expired"));
    assert!(
        gone.message.starts_with("The provided continue parameter is too old to display a consistent list result."),
        "{}",
        gone.message
    );
}

#[tokio::test]
async fn finalizers_hold_a_deleted_object_until_the_last_one_is_removed() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let held: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "held", "finalizers": ["example.com/hold"] } }))
            .expect("cm");
    cms.create(&PostParams::default(), &held).await.expect("create");
    cms.delete("held", &DeleteParams::default()).await.expect("delete");
    let marked = cms.get("held").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some(), "marked for deletion");
    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({ "metadata": { "finalizers": null } })))
        .await
        .expect("remove the finalizer");
    assert_eq!(api_error(cms.get("held").await.expect_err("gone")).code, 404);
}

#[tokio::test]
async fn scheduled_pods_are_deleted_gracefully_and_unscheduled_ones_at_once() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for (name, node) in [("bound", Some("node-1")), ("pending", None)] {
        let mut spec = json!({ "containers": [{ "name": "c", "image": "busybox" }] });
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        let pod: Pod = serde_json::from_value(json!({ "metadata": { "name": name }, "spec": spec })).expect("pod");
        pods.create(&PostParams::default(), &pod).await.expect("create");
        pods.delete(name, &DeleteParams::default()).await.expect("delete");
    }
    let bound = pods.get("bound").await.expect("a bound pod waits for its kubelet");
    assert!(bound.metadata.deletion_timestamp.is_some());
    assert_eq!(bound.metadata.deletion_grace_period_seconds, Some(30));
    assert_eq!(api_error(pods.get("pending").await.expect_err("gone at once")).code, 404);
}

#[tokio::test]
async fn a_secrets_string_data_is_stored_as_data_and_not_kept() {
    let client = server(Arc::new(MemoryBackend::new())).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let secret = serde_json::from_value(json!({
        "metadata": { "name": "creds" },
        "data": { "user": "YWRtaW4=", "password": "b2xk" },
        "stringData": { "password": "s3cret" },
    }))
    .expect("secret");
    let created = secrets.create(&PostParams::default(), &secret).await.expect("create");
    assert!(created.string_data.is_none());
    let data = created.data.expect("data");
    assert_eq!(data["user"].0, b"admin");
    assert_eq!(data["password"].0, b"s3cret");
    let patch = json!({ "stringData": { "token": "abc" } });
    let patched = secrets.patch("creds", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    assert!(patched.string_data.is_none());
    let data = patched.data.expect("data");
    assert_eq!((data["token"].0.as_slice(), data["user"].0.as_slice()), (b"abc".as_slice(), b"admin".as_slice()));
}
