//! Events as kube-controller-manager publishes them: one reporting component
//! per controller (`replicaset-controller`, `deployment-controller`, ...),
//! upstream's reasons and messages; the same event (object, type, reason
//! and message) repeated within 6 minutes is counted as a series.
//!
//! Written here rather than with kube's `Recorder`, whose series key leaves
//! the message out (every `ScalingReplicaSet` would merge into the first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a published event can still grow into a series (upstream's and kube's 6 minutes).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// (regarding UID, type, reason, message).
type Key = (String, String, String, String);

#[derive(Debug, Clone)]
struct Published {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

/// Publishes one controller's events; failures are logged, never fatal.
#[derive(Clone)]
pub struct Events {
    client: kube::Client,
    component: String,
    published: Arc<Mutex<HashMap<Key, Published>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("component", &self.component).finish_non_exhaustive()
    }
}

fn micro_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Events {
    /// Events reported by `component` (upstream's controller names, e.g. `replicaset-controller`).
    pub fn new(client: kube::Client, component: &str) -> Self {
        Self { client, component: component.to_owned(), published: Arc::default() }
    }

    pub async fn normal(&self, regarding: &ObjectReference, reason: &str, message: String) {
        self.publish(regarding, "Normal", reason, message).await;
    }

    pub async fn warning(&self, regarding: &ObjectReference, reason: &str, message: String) {
        self.publish(regarding, "Warning", reason, message).await;
    }

    async fn publish(&self, regarding: &ObjectReference, type_: &str, reason: &str, message: String) {
        let now = Timestamp::now();
        let key: Key =
            (regarding.uid.clone().unwrap_or_default(), type_.to_owned(), reason.to_owned(), message.clone());
        let repeated = {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            published.retain(|_, p| now.duration_since(p.last) < SERIES_WINDOW);
            published.get_mut(&key).map(|p| {
                p.count += 1;
                p.last = now;
                p.clone()
            })
        };
        let result = match repeated {
            Some(series) => {
                let api: Api<Event> = Api::namespaced(self.client.clone(), &series.namespace);
                let patch = json!({ "series": { "count": series.count, "lastObservedTime": micro_time(now) } });
                api.patch(&series.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop)
            }
            None => self.create(regarding, type_, reason, &message, now, key).await,
        };
        if let Err(error) = result {
            tracing::debug!(%error, reason, "publishing an event failed");
        }
    }

    async fn create(
        &self,
        regarding: &ObjectReference,
        type_: &str,
        reason: &str,
        message: &str,
        now: Timestamp,
        key: Key,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or_default(), now.as_nanosecond());
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "name": name, "namespace": namespace },
            "eventTime": micro_time(now),
            "reportingController": self.component, "reportingInstance": self.component,
            "action": reason, "reason": reason, "type": type_, "note": message, "regarding": regarding,
        });
        let event: Event = serde_json::from_value(event).map_err(kube::Error::SerdeError)?;
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &event).await?;
        let published = Published { namespace, name, count: 1, last: now };
        self.published.lock().unwrap_or_else(|p| p.into_inner()).insert(key, published);
        Ok(())
    }
}
