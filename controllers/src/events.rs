//! Events as kube-controller-manager publishes them: one reporting component
//! per controller (`replicaset-controller`, `deployment-controller`, ...),
//! upstream's reasons and messages, repeated events counted as a series.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Publishes one controller's events; failures are logged, never fatal.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// Events reported by `component` (upstream's controller names, e.g. `replicaset-controller`).
    pub fn new(client: kube::Client, component: &str) -> Self {
        let reporter = Reporter { controller: component.to_owned(), instance: None };
        Self { recorder: Recorder::new(client, reporter) }
    }

    pub async fn normal(&self, regarding: &ObjectReference, reason: &str, message: String) {
        self.publish(regarding, EventType::Normal, reason, message).await;
    }

    pub async fn warning(&self, regarding: &ObjectReference, reason: &str, message: String) {
        self.publish(regarding, EventType::Warning, reason, message).await;
    }

    async fn publish(&self, regarding: &ObjectReference, type_: EventType, reason: &str, message: String) {
        let event =
            Event { type_, reason: reason.to_owned(), note: Some(message), action: reason.to_owned(), secondary: None };
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            tracing::debug!(%error, reason, "publishing an event failed");
        }
    }
}
