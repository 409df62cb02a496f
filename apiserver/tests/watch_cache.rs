//! The watch cache: many watchers share one store watch per resource, and
//! watches resume from the cache or, for older revisions, from the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::{
    Backend, KeyValue, LeaseId, MemoryBackend, Outcome, RangeRequest, RangeResponse, Result, Revision, WatchStream,
};

/// A memory backend that counts the watches and ranges the API server opens on it.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryBackend,
    watches: AtomicUsize,
    ranges: AtomicUsize,
}

#[async_trait]
impl Backend for Counting {
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision> {
        self.inner.compacted_revision().await
    }
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>> {
        self.inner.get(key, revision).await
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.ranges.fetch_add(1, Ordering::SeqCst);
        self.inner.range(request).await
    }
    async fn count(&self, prefix: &str) -> Result<i64> {
        self.inner.count(prefix).await
    }
    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Outcome<Revision>> {
        self.inner.create(key, value, lease).await
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>> {
        self.inner.update(key, value, expected, lease).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Outcome<(Revision, KeyValue)>> {
        self.inner.delete(key, expected).await
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        self.inner.watch(prefix, after).await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        self.inner.grant_lease(ttl).await
    }
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.inner.revoke_lease(lease).await
    }
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name } })).expect("config map")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_watchers_share_one_store_watch_and_all_see_every_change() {
    let store = Arc::new(Counting::default());
    let client = ApiServer::start(store.clone()).await.expect("start").client();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &config_map("before")).await.expect("create");

    let mut watches = Vec::new();
    for _ in 0..200 {
        watches.push(cms.watch(&WatchParams::default().timeout(60), "0").await.expect("watch").boxed());
    }
    cms.create(&PostParams::default(), &config_map("after")).await.expect("create");
    for watch in &mut watches {
        let mut names = Vec::new();
        while names.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(20), watch.try_next())
                .await
                .expect("an event within the deadline")
                .expect("watch stream")
                .expect("open");
            if let WatchEvent::Added(cm) = event {
                names.push(cm.metadata.name.unwrap_or_default());
            }
        }
        assert_eq!(names, ["before", "after"]);
    }
    assert_eq!(store.watches.load(Ordering::SeqCst), 1, "one store watch for all configmap watchers");

    let ranges_before = store.ranges.load(Ordering::SeqCst);
    let listed = cms.list(&ListParams::default().match_any()).await.expect("list at resourceVersion 0");
    assert_eq!(listed.items.len(), 2);
    assert_eq!(
        store.ranges.load(Ordering::SeqCst),
        ranges_before,
        "a list at resourceVersion 0 is served from the cache"
    );
}

#[tokio::test]
async fn a_watch_from_before_the_cache_replays_from_the_store() {
    let store = Arc::new(MemoryBackend::new());
    let client = ApiServer::start(store.clone()).await.expect("start").client();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = cms.create(&PostParams::default(), &config_map("one")).await.expect("create");
    let from = first.metadata.resource_version.expect("rv");
    cms.create(&PostParams::default(), &config_map("two")).await.expect("create");
    // The cache starts with this watch (after both writes); "two" comes from the store's history.
    let mut events = cms.watch(&WatchParams::default().timeout(30), &from).await.expect("watch").boxed();
    let event = tokio::time::timeout(Duration::from_secs(20), events.try_next())
        .await
        .expect("in time")
        .expect("ok")
        .expect("open");
    match event {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("two")),
        other => panic!("expected ADDED two, got {other:?}"),
    }
}
