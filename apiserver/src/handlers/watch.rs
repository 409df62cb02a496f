//! WATCH: newline-delimited JSON events over a chunked response, resumed
//! from a resourceVersion, filtered by selectors, with bookmarks.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use skiff_store::{EventKind, Revision};
use tokio::sync::mpsc;

use super::read::Filter;
use super::{Request, as_table};
use crate::object::parse_resource_version;
use crate::registry::Resource;
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use crate::storage::decode;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// The longest a watch runs without `timeoutSeconds` (kube-apiserver picks 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({ "type": kind, "object": object }).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(resource: &Resource, revision: Revision) -> Bytes {
    let object = json!({
        "kind": resource.kind,
        "apiVersion": resource.api_version(),
        "metadata": { "resourceVersion": revision.to_string() },
    });
    event_line("BOOKMARK", &object)
}

/// Starts a watch; the response streams until the timeout or the client leaves.
pub async fn watch(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = target.resource.clone();
    if !resource.supports("watch") {
        return Err(ApiError::method_not_allowed());
    }
    let filter = Filter::from_request(request)?;
    let table = as_table::requested(request)?;
    let bookmarks = request.query.flag("allowWatchBookmarks");
    let timeout = match request.query.get("timeoutSeconds") {
        Some(t) => {
            Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?)
        }
        None => DEFAULT_TIMEOUT,
    };
    let namespace = target.ns().map(str::to_owned);
    let (initial, after) = match request.query.get("resourceVersion") {
        None | Some("0") => {
            let page = state.objects.list(&resource, namespace.as_deref(), None, None, None).await?;
            (page.items, page.revision)
        }
        Some(rv) => (Vec::new(), parse_resource_version(rv)?),
    };
    let backend = state.objects.backend().clone();
    let mut closing = state.closing.subscribe();
    if *closing.borrow() {
        return Err(ApiError::new(503, "ServiceUnavailable", "the server is shutting down"));
    }
    let (lines, receiver) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        // With a Table requested, each event's object is a one-row Table; the first has the headers.
        let mut headers = true;
        let mut shape = |object: Value| match table {
            Some(include) => {
                let metadata =
                    json!({ "resourceVersion": crate::object::resource_version(&object).unwrap_or_default() });
                let shaped = as_table::table(&resource, &[object], include, metadata, headers);
                headers = false;
                shaped
            }
            None => object,
        };
        let send_events = async {
            for object in initial.iter().filter(|o| filter.matches(o)) {
                lines.send(event_line("ADDED", &shape(object.clone()))).await.ok()?;
            }
            let mut events = match backend.watch(&resource.prefix(namespace.as_deref()), after).await {
                Ok(events) => events,
                Err(error) => {
                    lines.send(event_line("ERROR", &ApiError::from(error).status())).await.ok()?;
                    return None::<()>;
                }
            };
            let mut last = after;
            let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
            ticker.tick().await;
            loop {
                tokio::select! {
                    event = events.next() => {
                        let event = match event? {
                            Ok(event) => event,
                            Err(error) => {
                                lines.send(event_line("ERROR", &ApiError::from(error).status())).await.ok()?;
                                return None;
                            }
                        };
                        last = event.revision();
                        if let Some((kind, object)) = to_watch_event(&event, &filter) {
                            lines.send(event_line(kind, &shape(object))).await.ok()?;
                        }
                    }
                    _ = ticker.tick(), if bookmarks => {
                        lines.send(bookmark(&resource, last)).await.ok()?;
                    }
                    _ = lines.closed() => return None,
                    // The only change is to `true`: the server is shutting down.
                    _ = closing.changed() => return None,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, send_events).await;
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|line| (Ok::<_, Infallible>(line), receiver))
    });
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

/// The watch event a store event becomes for this watcher, if any: objects
/// entering or leaving the selection are ADDED or DELETED.
fn to_watch_event(event: &skiff_store::Event, filter: &Filter) -> Option<(&'static str, Value)> {
    let decode_ok = |kv| decode(kv).ok();
    let selected = |object: &Value| filter.matches(object);
    let old = event.prev.as_ref().and_then(decode_ok).filter(|o| selected(o));
    match event.kind {
        EventKind::Put => {
            let new = decode_ok(&event.kv)?;
            match (old.is_some(), selected(&new)) {
                (false, true) => Some(("ADDED", new)),
                (true, true) => Some(("MODIFIED", new)),
                (true, false) => Some(("DELETED", new)),
                (false, false) => None,
            }
        }
        EventKind::Delete => {
            let mut object = old?;
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("resourceVersion".into(), json!(event.revision().to_string()));
            }
            Some(("DELETED", object))
        }
    }
}
