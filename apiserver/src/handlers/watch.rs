//! WATCH: newline-delimited JSON events over a chunked response, served
//! from the watch cache (or, for revisions older than it holds, from the
//! store), filtered by selectors, with bookmarks.

use std::convert::Infallible;
use std::sync::Arc;
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
use crate::watch_cache::{Cache, Replay};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// The longest a watch runs without `timeoutSeconds` (kube-apiserver picks 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Changes taken from the cache at a time.
const BATCH: usize = 256;

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

/// The watch event a change becomes for this watcher, if any: objects
/// entering or leaving the selection are ADDED or DELETED.
fn classify(kind: EventKind, object: &Value, old: Option<&Value>, filter: &Filter) -> Option<&'static str> {
    let was = old.is_some_and(|o| filter.matches(o));
    match kind {
        EventKind::Delete => was.then_some("DELETED"),
        EventKind::Put => match (was, filter.matches(object)) {
            (false, true) => Some("ADDED"),
            (true, true) => Some("MODIFIED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}

/// Everything the streaming task needs.
struct Watch {
    resource: Resource,
    prefix: String,
    filter: Filter,
    table: Option<as_table::IncludeObject>,
    headers_sent: bool,
    bookmarks: bool,
    lines: mpsc::Sender<Bytes>,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Watch {
    /// Sends one event; `None` when the client has gone.
    async fn send(&mut self, kind: &str, object: &Value) -> Option<()> {
        let line = match self.table {
            Some(include) => {
                let metadata =
                    json!({ "resourceVersion": crate::object::resource_version(object).unwrap_or_default() });
                let table = as_table::table(&self.resource, &[object], include, metadata, !self.headers_sent);
                self.headers_sent = true;
                event_line(kind, &table)
            }
            None => event_line(kind, object),
        };
        self.lines.send(line).await.ok()
    }

    async fn send_error(&mut self, error: ApiError) -> Option<()> {
        self.lines.send(event_line("ERROR", &error.status())).await.ok()
    }

    /// Follows the cache from `after`; falls back to the store for revisions the cache no longer holds.
    async fn follow_cache(
        &mut self,
        cache: Arc<Cache>,
        store: Arc<dyn skiff_store::Backend>,
        mut after: Revision,
    ) -> Option<()> {
        let mut revisions = cache.subscribe();
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            revisions.borrow_and_update();
            match cache.changes_after(after, BATCH) {
                Replay::TooOld => return self.follow_store(store, after).await,
                Replay::Changes(changes, reached) => {
                    for change in &changes {
                        let in_scope = self.prefix == cache.prefix()
                            || object_in_prefix(&change.object, &self.prefix, &self.resource);
                        if !in_scope {
                            continue;
                        }
                        if let Some(kind) = classify(change.kind, &change.object, change.old.as_deref(), &self.filter) {
                            self.send(kind, &change.object).await?;
                        }
                    }
                    after = reached;
                    if !changes.is_empty() {
                        continue;
                    }
                }
            }
            tokio::select! {
                changed = revisions.changed() => changed.ok()?,
                _ = ticker.tick(), if self.bookmarks => self.lines.send(bookmark(&self.resource, after)).await.ok()?,
                _ = self.lines.closed() => return None,
                _ = self.closing.changed() => return None,
            }
        }
    }

    /// Follows the store directly from `after` (older than the cache's history).
    async fn follow_store(&mut self, store: Arc<dyn skiff_store::Backend>, after: Revision) -> Option<()> {
        let mut events = match store.watch(&self.prefix, after).await {
            Ok(events) => events,
            Err(error) => return self.send_error(ApiError::from(error)).await,
        };
        let mut last = after;
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                event = events.next() => {
                    let event = match event? {
                        Ok(event) => event,
                        Err(error) => return self.send_error(ApiError::from(error)).await,
                    };
                    last = event.revision();
                    let old = event.prev.as_ref().and_then(|kv| decode(&self.resource, kv).ok());
                    let object = match event.kind {
                        EventKind::Put => decode(&self.resource, &event.kv).ok()?,
                        EventKind::Delete => {
                            let mut object = old.clone()?;
                            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                                meta.insert("resourceVersion".into(), json!(last.to_string()));
                            }
                            object
                        }
                    };
                    if let Some(kind) = classify(event.kind, &object, old.as_ref(), &self.filter) {
                        self.send(kind, &object).await?;
                    }
                }
                _ = ticker.tick(), if self.bookmarks => self.lines.send(bookmark(&self.resource, last)).await.ok()?,
                _ = self.lines.closed() => return None,
                _ = self.closing.changed() => return None,
            }
        }
    }
}

/// Whether a cached object (of the whole resource) belongs under a namespace's prefix.
fn object_in_prefix(object: &Value, prefix: &str, resource: &Resource) -> bool {
    match (crate::object::namespace(object), crate::object::name(object)) {
        (namespace, Some(name)) => resource.key(namespace, name).starts_with(prefix),
        _ => false,
    }
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
    let closing = state.closing.subscribe();
    if *closing.borrow() {
        return Err(ApiError::new(503, "ServiceUnavailable", "the server is shutting down"));
    }
    let prefix = resource.prefix(target.ns());
    let cache = state.caches.get(&resource).await?;
    let (initial, after) = match request.query.get("resourceVersion") {
        None | Some("0") => {
            let (objects, revision) = cache.list(&prefix);
            (objects, revision)
        }
        Some(rv) => (Vec::new(), parse_resource_version(rv)?),
    };
    let store = Arc::clone(state.objects.backend());
    let (lines, receiver) = mpsc::channel::<Bytes>(256);
    let open = state.metrics.watch(resource.group, resource.version, resource.plural);
    let mut watch = Watch { resource, prefix, filter, table, headers_sent: false, bookmarks, lines, closing };
    tokio::spawn(async move {
        let _open = open;
        let stream = async {
            for object in &initial {
                if watch.filter.matches(object) {
                    watch.send("ADDED", object).await?;
                }
            }
            watch.follow_cache(cache, store, after).await
        };
        let _ = tokio::time::timeout(timeout, stream).await;
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|line| (Ok::<_, Infallible>(line), receiver))
    });
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}
