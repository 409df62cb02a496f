//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's log
//! with upstream's query parameters and error texts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use jiff::Timestamp;
use tracing::Instrument;

use super::{Config, containers, text_error};
use crate::logs::{LogOptions, Stream, StreamSelection, read_logs};
use crate::runtime::{Runtime, api};

/// How many chunks may wait for a slow client.
const BUFFERED_CHUNKS: usize = 64;

/// The query of a log request, as the API server sends it.
#[derive(Debug, Default, PartialEq)]
pub struct LogQuery {
    pub previous: bool,
    pub options: LogOptions,
}

fn flag(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// Parses the query (`follow`, `previous`, `timestamps`, `tailLines`,
/// `sinceSeconds`, `sinceTime`, `limitBytes`, `stream`); `now` is for `sinceSeconds`.
pub fn parse_query(query: &str, now: Timestamp) -> Result<LogQuery, String> {
    let mut parsed = LogQuery::default();
    let number = |name: &str, value: &str| value.parse::<i64>().map_err(|_| format!("invalid {name}: {value:?}"));
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "follow" => parsed.options.follow = flag(&value),
            "previous" => parsed.previous = flag(&value),
            "timestamps" => parsed.options.timestamps = flag(&value),
            "tailLines" => parsed.options.tail_lines = Some(number(&name, &value)?.max(0) as u64),
            "limitBytes" => parsed.options.limit_bytes = Some(number(&name, &value)?.max(0) as u64),
            "sinceSeconds" => {
                let seconds = number(&name, &value)?;
                parsed.options.since = now.checked_sub(jiff::SignedDuration::from_secs(seconds)).ok();
            }
            "sinceTime" => {
                parsed.options.since = Some(value.parse().map_err(|_| format!("invalid sinceTime: {value:?}"))?);
            }
            "stream" => {
                parsed.options.streams = match &*value {
                    "Stdout" => StreamSelection::Only(Stream::Stdout),
                    "Stderr" => StreamSelection::Only(Stream::Stderr),
                    _ => StreamSelection::All,
                }
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// Why no container is there: the waiting reason the pod's status gives, or ContainerCreating.
fn waiting_reason(config: &Config, namespace: &str, pod: &str, container: &str) -> String {
    config
        .pod(namespace, pod)
        .and_then(|pod| pod.status)
        .and_then(|status| {
            let statuses = status.container_statuses.into_iter().flatten();
            let all = statuses.chain(status.init_container_statuses.into_iter().flatten());
            all.filter(|s| s.name == container).find_map(|s| s.state?.waiting?.reason)
        })
        .unwrap_or_else(|| "ContainerCreating".to_owned())
}

pub async fn container_logs(
    State(config): State<Arc<Config>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let span = tracing::debug_span!("container_logs", %namespace, %pod, %container);
    async move {
        let query = match parse_query(query.as_deref().unwrap_or_default(), Timestamp::now()) {
            Ok(query) => query,
            Err(message) => return text_error(StatusCode::BAD_REQUEST, message),
        };
        if config.pods.is_some() {
            let Some(known) = config.pod(&namespace, &pod) else {
                return text_error(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"));
            };
            let spec = known.spec.unwrap_or_default();
            let in_spec =
                spec.containers.iter().map(|c| &c.name).chain(spec.init_containers.iter().flatten().map(|c| &c.name));
            if !in_spec.into_iter().any(|name| *name == container) {
                return text_error(StatusCode::NOT_FOUND, format!("container {container:?} not found in pod {pod:?}"));
            }
        }
        let runtime = Arc::clone(&config.runtime);
        let instances = match containers::instances(runtime.as_ref(), &namespace, &pod, &container).await {
            Ok(instances) => instances,
            Err(error) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        };
        let chosen = match (instances.first(), query.previous) {
            (None, _) => {
                let reason = waiting_reason(&config, &namespace, &pod, &container);
                let message = format!("container {container:?} in pod {pod:?} is waiting to start: {reason}");
                return text_error(StatusCode::BAD_REQUEST, message);
            }
            (Some(current), false) => current.clone(),
            (Some(current), true) => {
                let exited = api::ContainerState::ContainerExited as i32;
                let previous = instances
                    .iter()
                    .find(|c| containers::attempt(c) < containers::attempt(current) && c.state == exited);
                match previous {
                    Some(previous) => previous.clone(),
                    None => {
                        let message = format!("previous terminated container {container:?} in pod {pod:?} not found");
                        return text_error(StatusCode::BAD_REQUEST, message);
                    }
                }
            }
        };
        stream_log(runtime, chosen, query.options, &container, &pod).await
    }
    .instrument(span)
    .await
}

async fn stream_log(
    runtime: Arc<dyn Runtime>,
    container: api::Container,
    options: LogOptions,
    name: &str,
    pod: &str,
) -> Response {
    let status = match runtime.container_status(&container.id).await {
        Ok(Some(status)) => status,
        Ok(None) => {
            return text_error(StatusCode::BAD_REQUEST, format!("container {name:?} in pod {pod:?} is not available"));
        }
        Err(error) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    };
    let path = std::path::PathBuf::from(&status.log_path);
    if status.state == api::ContainerState::ContainerCreated as i32 && !path.exists() {
        let message = format!("container {name:?} in pod {pod:?} is waiting to start: ContainerCreating");
        return text_error(StatusCode::BAD_REQUEST, message);
    }
    let file_check = tokio::fs::metadata(&path).await;
    if let Err(error) = file_check {
        return text_error(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to open log file {path:?}: {error}"));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(BUFFERED_CHUNKS);
    let id = container.id.clone();
    tokio::spawn(
        async move {
            let running = || {
                let (runtime, id) = (Arc::clone(&runtime), id.clone());
                async move { still_running(runtime.as_ref(), &id).await }
            };
            if let Err(error) = read_logs(&path, &options, tx, running).await {
                tracing::debug!(%error, "reading the log failed");
            }
        }
        .in_current_span(),
    );
    let chunks = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(futures::StreamExt::map(chunks, Ok::<_, std::convert::Infallible>));
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// Whether a followed container may still write (created or running; unknown counts as gone).
async fn still_running(runtime: &dyn Runtime, id: &str) -> bool {
    let alive = [api::ContainerState::ContainerRunning as i32, api::ContainerState::ContainerCreated as i32];
    match tokio::time::timeout(Duration::from_secs(5), runtime.container_status(id)).await {
        Ok(Ok(Some(status))) => alive.contains(&status.state),
        Ok(Ok(None)) => false,
        // The runtime is briefly unreachable: keep following.
        Ok(Err(_)) | Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_as_upstreams_kubelet_reads_it() {
        let now: Timestamp = "2026-12-03T17:00:00Z".parse().expect("time");
        let query = parse_query(
            "follow=true&previous=1&tailLines=10&limitBytes=5&timestamps=true&sinceSeconds=60&stream=Stderr",
            now,
        )
        .expect("valid");
        assert!(query.previous);
        let o = &query.options;
        assert!(o.follow && o.timestamps);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(10), Some(5)));
        assert_eq!(o.since, Some("2026-12-03T16:59:00Z".parse().expect("time")));
        assert_eq!(o.streams, StreamSelection::Only(Stream::Stderr));
        let since = parse_query("sinceTime=2026-12-03T10:00:00Z", now).expect("valid");
        assert_eq!(since.options.since, Some("2026-12-03T10:00:00Z".parse().expect("time")));
        assert!(parse_query("tailLines=x", now).is_err());
        assert_eq!(parse_query("", now), Ok(LogQuery::default()));
    }
}
