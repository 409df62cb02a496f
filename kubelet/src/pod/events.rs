//! Events as the kubelet records them: core/v1 Events from source
//! `kubelet` on this host, regarding a pod or one of its containers
//! (`spec.containers{name}`), upstream's reasons and messages; a repeat of
//! the same event within 10 minutes bumps its count (as client-go's
//! correlator does).
//!
//! Not shared with `skiff_controllers::events`: that one writes
//! events.k8s.io/v1 series for controllers; the kubelet's are core/v1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, ObjectReference, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a recorded event can still be counted up.
const AGGREGATE_WINDOW: SignedDuration = SignedDuration::from_mins(10);

/// Reasons as upstream's pkg/kubelet/events.
pub mod reason {
    pub const CREATED: &str = "Created";
    pub const STARTED: &str = "Started";
    pub const FAILED: &str = "Failed";
    pub const KILLING: &str = "Killing";
    pub const BACK_OFF: &str = "BackOff";
    pub const PULLING: &str = "Pulling";
    pub const PULLED: &str = "Pulled";
    pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
    pub const FAILED_POST_START_HOOK: &str = "FailedPostStartHook";
    pub const FAILED_PRE_STOP_HOOK: &str = "FailedPreStopHook";
    pub const FAILED_MOUNT: &str = "FailedMount";
    pub const SANDBOX_CHANGED: &str = "SandboxChanged";
    pub const FAILED_CREATE_POD_SANDBOX: &str = "FailedCreatePodSandBox";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
}

type Key = (String, String, String, String, String);

#[derive(Debug, Clone)]
struct Recorded {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

/// Records the kubelet's events; failures are logged, never fatal.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    host: String,
    recorded: Arc<Mutex<HashMap<Key, Recorded>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("host", &self.host).finish_non_exhaustive()
    }
}

fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A reference to `pod`, or to its container at `field_path` (`spec.containers{web}`).
pub fn reference(pod: &Pod, field_path: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path,
    }
}

impl Recorder {
    /// Events from the kubelet on node `host`.
    pub fn new(client: kube::Client, host: &str) -> Self {
        Self { client, host: host.to_owned(), recorded: Arc::default() }
    }

    /// Records a Normal event (in the background: a pod's sync does not wait for the API).
    pub async fn normal(&self, regarding: &ObjectReference, reason: &str, message: impl Into<String>) {
        self.spawn(regarding, "Normal", reason, message.into());
    }

    /// Records a Warning event (in the background).
    pub async fn warning(&self, regarding: &ObjectReference, reason: &str, message: impl Into<String>) {
        self.spawn(regarding, "Warning", reason, message.into());
    }

    fn spawn(&self, regarding: &ObjectReference, type_: &'static str, reason: &str, message: String) {
        let (recorder, regarding, reason) = (self.clone(), regarding.clone(), reason.to_owned());
        tokio::spawn(async move { recorder.record(&regarding, type_, &reason, message).await });
    }

    async fn record(&self, regarding: &ObjectReference, type_: &str, reason: &str, message: String) {
        let now = Timestamp::now();
        let key: Key = (
            regarding.uid.clone().unwrap_or_default(),
            regarding.field_path.clone().unwrap_or_default(),
            type_.to_owned(),
            reason.to_owned(),
            message.clone(),
        );
        let repeated = {
            let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
            recorded.retain(|_, r| now.duration_since(r.last) < AGGREGATE_WINDOW);
            recorded.get_mut(&key).map(|r| {
                r.count += 1;
                r.last = now;
                r.clone()
            })
        };
        let result = match repeated {
            Some(repeat) => {
                let api: Api<Event> = Api::namespaced(self.client.clone(), &repeat.namespace);
                let patch = json!({ "count": repeat.count, "lastTimestamp": time(now) });
                api.patch(&repeat.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop)
            }
            None => self.create(regarding, type_, reason, &message, now, key).await,
        };
        if let Err(error) = result {
            tracing::debug!(%error, reason, "recording an event failed");
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
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": name, "namespace": namespace },
            "involvedObject": regarding, "reason": reason, "message": message, "type": type_,
            "source": { "component": "kubelet", "host": self.host },
            "firstTimestamp": time(now), "lastTimestamp": time(now), "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": self.host,
        });
        let event: Event = serde_json::from_value(event).map_err(kube::Error::SerdeError)?;
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &event).await?;
        let recorded = Recorded { namespace, name, count: 1, last: now };
        self.recorded.lock().unwrap_or_else(|p| p.into_inner()).insert(key, recorded);
        Ok(())
    }
}
