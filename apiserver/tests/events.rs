//! events.k8s.io/v1 Events are a view of the core/v1 Events (one storage,
//! as in kube-apiserver): written through either API, read through both.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;

fn event(name: &str) -> Event {
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": "default" },
        "eventTime": "2026-11-23T22:00:00.000000Z",
        "reportingController": "skiff.dev/scheduler", "reportingInstance": "skiff-node-1",
        "action": "Binding", "reason": "Scheduled", "type": "Normal",
        "note": "Successfully assigned default/web to node-1",
        "regarding": { "apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web" },
    }))
    .expect("event")
}

#[tokio::test]
async fn events_written_through_either_api_are_read_through_both() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client, "default");

    let mut watch = events.watch(&WatchParams::default(), "0").await.expect("watch").boxed();
    let created = events.create(&PostParams::default(), &event("scheduled")).await.expect("create");
    assert_eq!(created.note.as_deref(), Some("Successfully assigned default/web to node-1"));

    let as_core = core.get("scheduled").await.expect("the core view");
    assert_eq!(as_core.message.as_deref(), Some("Successfully assigned default/web to node-1"));
    assert_eq!(as_core.involved_object.name.as_deref(), Some("web"));
    assert_eq!(as_core.reporting_component.as_deref(), Some("skiff.dev/scheduler"));
    assert_eq!(as_core.metadata.resource_version, created.metadata.resource_version);

    let by_regarding = events.list(&ListParams::default().fields("regarding.name=web")).await.expect("list");
    assert_eq!(by_regarding.items.len(), 1);
    let by_involved = core.list(&ListParams::default().fields("involvedObject.name=web")).await.expect("list");
    assert_eq!(by_involved.items.len(), 1);
    let by_source = core.list(&ListParams::default().fields("source=skiff.dev/scheduler")).await.expect("list");
    assert_eq!(by_source.items.len(), 1, "source falls back to the reporting controller");

    // A core event shows up converted in the events.k8s.io watch.
    let legacy: CoreEvent = serde_json::from_value(json!({
        "metadata": { "name": "legacy" },
        "involvedObject": { "kind": "Pod", "namespace": "default", "name": "web" },
        "reason": "Pulled", "message": "Container image already present", "type": "Normal",
        "source": { "component": "kubelet" }, "count": 3,
    }))
    .expect("core event");
    core.create(&PostParams::default(), &legacy).await.expect("create a core event");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), watch.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(e)))) => seen.push(e),
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
    let converted = &seen[1];
    assert_eq!(converted.note.as_deref(), Some("Container image already present"));
    assert_eq!(converted.deprecated_count, Some(3));
    assert_eq!(converted.deprecated_source.as_ref().and_then(|s| s.component.as_deref()), Some("kubelet"));
    assert_eq!(converted.regarding.as_ref().and_then(|r| r.name.as_deref()), Some("web"));
}

#[tokio::test]
async fn events_k8s_io_applies_the_strict_rules() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let events: Api<Event> = Api::namespaced(client, "default");
    let mut bad = event("bad");
    bad.event_time = None;
    bad.type_ = Some("Fatal".into());
    bad.deprecated_count = Some(2);
    let error = match events.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected a 422, got {other:?}"),
    };
    assert_eq!(error.code, 422);
    assert_eq!(
        error.message,
        "Event.events.k8s.io \"bad\" is invalid: [eventTime: Required value, type: Invalid value: \"\": has invalid value: Fatal, count: Invalid value: \"\": needs to be unset]"
    );
}
