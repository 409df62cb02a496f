//! What the scheduler tells users: events (Scheduled, FailedScheduling) and
//! the pod's PodScheduled condition.

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::json;

/// Events' reason for a pod that was bound.
pub const REASON_SCHEDULED: &str = "Scheduled";
/// Events' reason for a pod that fits nowhere (or whose binding failed).
pub const REASON_FAILED: &str = "FailedScheduling";
/// The PodScheduled condition's reason for a pod that fits nowhere.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";

/// Publishes the scheduler's events and pod conditions.
#[derive(Clone)]
pub struct Reporter {
    client: kube::Client,
    recorder: Recorder,
    scheduler_name: String,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").finish_non_exhaustive()
    }
}

impl Reporter {
    pub fn new(client: kube::Client, scheduler_name: &str) -> Self {
        let reporter = kube::runtime::events::Reporter { controller: scheduler_name.to_owned(), instance: None };
        Self { recorder: Recorder::new(client.clone(), reporter), client, scheduler_name: scheduler_name.to_owned() }
    }

    /// An event that is never repeated (Scheduled, Preempted): created directly, without the
    /// recorder's cache of recent events (which would hold one per pod).
    async fn publish_once(&self, pod: &Pod, type_: &str, reason: &str, action: &str, note: String) {
        let reference = pod.object_ref(&());
        let namespace = reference.namespace.clone().unwrap_or_else(|| "default".into());
        let now = jiff::Timestamp::now();
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "name": format!("{}.{:x}", reference.name.as_deref().unwrap_or_default(), now.as_nanosecond()),
                          "namespace": namespace },
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "reportingController": self.scheduler_name, "reportingInstance": self.scheduler_name,
            "action": action, "reason": reason, "type": type_, "note": note, "regarding": reference,
        });
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), &namespace);
        match serde_json::from_value(event) {
            Ok(event) => {
                if let Err(error) = events.create(&Default::default(), &event).await {
                    tracing::debug!(%error, reason, "publishing an event failed");
                }
            }
            Err(error) => tracing::debug!(%error, reason, "building an event failed"),
        }
    }

    async fn publish(&self, pod: &Pod, type_: EventType, reason: &str, action: &str, note: String) {
        let event =
            Event { type_, reason: reason.to_owned(), note: Some(note), action: action.to_owned(), secondary: None };
        if let Err(error) = self.recorder.publish(&event, &pod.object_ref(&())).await {
            tracing::debug!(%error, reason, "publishing an event failed");
        }
    }

    /// `Successfully assigned ns/name to node`.
    pub async fn scheduled(&self, pod: &Pod, node: &str) {
        let note = format!(
            "Successfully assigned {}/{} to {node}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        self.publish_once(pod, "Normal", REASON_SCHEDULED, "Binding", note).await;
    }

    /// Evicts a victim of preemption (DisruptionTarget condition, a Preempted event, delete).
    pub async fn preempt(&self, victim: &Pod, preemptor: &Pod, node: &str) {
        let note = format!("Preempted by pod {} on node {node}", preemptor.metadata.uid.as_deref().unwrap_or_default());
        self.publish_once(victim, "Normal", "Preempted", "Preempting", note).await;
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), victim.metadata.namespace.as_deref().unwrap_or_default());
        let name = victim.metadata.name.as_deref().unwrap_or_default();
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let condition = json!({ "status": { "conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", self.scheduler_name),
            "lastProbeTime": null, "lastTransitionTime": now,
        }] } });
        if let Err(error) = pods.patch_status(name, &PatchParams::default(), &Patch::Strategic(&condition)).await {
            tracing::debug!(%error, pod = name, "marking a preemption victim failed");
        }
        if let Err(error) = pods.delete(name, &Default::default()).await {
            tracing::debug!(%error, pod = name, "deleting a preemption victim failed");
        }
    }

    /// Records the node a preemptor waits for (status.nominatedNodeName).
    pub async fn nominate(&self, pod: &Pod, node: &str) {
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let patch = json!({ "status": { "nominatedNodeName": node } });
        if let Err(error) = pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::debug!(%error, pod = name, "nominating a node failed");
        }
    }

    /// A FailedScheduling event, and PodScheduled=False with the same message
    /// unless the pod already says so.
    pub async fn unschedulable(&self, pod: &Pod, message: String) {
        self.publish(pod, EventType::Warning, REASON_FAILED, "Scheduling", message.clone()).await;
        let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
        let already = conditions.iter().any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(REASON_UNSCHEDULABLE)
                && c.message.as_deref() == Some(message.as_str())
        });
        if already {
            return;
        }
        let transitioned = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False");
        let since = transitioned
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        let patch = json!({ "status": { "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": REASON_UNSCHEDULABLE, "message": message,
            "lastProbeTime": null, "lastTransitionTime": since,
        }] } });
        let pods: Api<Pod> =
            Api::namespaced(self.client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if let Err(error) = pods.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            tracing::debug!(%error, pod = name, "updating PodScheduled failed");
        }
    }
}
