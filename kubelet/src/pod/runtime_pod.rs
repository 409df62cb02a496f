//! What the runtime holds of one pod: its sandboxes and containers (found by
//! the pod UID label), newest first.

use std::collections::HashMap;

use crate::runtime::{Result, Runtime, api, labels};

/// The pod's sandboxes and containers as the runtime reports them.
#[derive(Debug, Clone, Default)]
pub struct RuntimePod {
    /// Newest first.
    pub sandboxes: Vec<api::PodSandboxStatus>,
    /// Newest first.
    pub containers: Vec<api::ContainerStatus>,
    /// The sandbox of each container, by container ID.
    pub sandbox_ids: HashMap<String, String>,
}

/// The CRI label selector of everything made for the pod with `uid`.
pub fn uid_selector(uid: &str) -> HashMap<String, String> {
    HashMap::from([(labels::POD_UID.to_owned(), uid.to_owned())])
}

impl RuntimePod {
    /// Reads the pod's sandboxes and containers with their statuses.
    pub async fn fetch(runtime: &dyn Runtime, uid: &str) -> Result<Self> {
        let sandbox_filter = api::PodSandboxFilter { label_selector: uid_selector(uid), ..Default::default() };
        let container_filter = api::ContainerFilter { label_selector: uid_selector(uid), ..Default::default() };
        let mut sandboxes = Vec::new();
        for sandbox in runtime.list_pod_sandboxes(Some(sandbox_filter)).await? {
            sandboxes.extend(runtime.pod_sandbox_status(&sandbox.id).await?);
        }
        let mut containers = Vec::new();
        let mut sandbox_ids = HashMap::new();
        for container in runtime.list_containers(Some(container_filter)).await? {
            sandbox_ids.insert(container.id.clone(), container.pod_sandbox_id.clone());
            containers.extend(runtime.container_status(&container.id).await?);
        }
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        containers.sort_by_key(|c| std::cmp::Reverse((attempt(c), c.created_at)));
        Ok(Self { sandboxes, containers, sandbox_ids })
    }

    /// The sandbox a container runs in.
    pub fn sandbox_of(&self, container_id: &str) -> Option<&str> {
        self.sandbox_ids.get(container_id).map(String::as_str)
    }

    /// The newest sandbox.
    pub fn sandbox(&self) -> Option<&api::PodSandboxStatus> {
        self.sandboxes.first()
    }

    /// The newest sandbox when it is ready.
    pub fn ready_sandbox(&self) -> Option<&api::PodSandboxStatus> {
        self.sandbox().filter(|s| s.state == api::PodSandboxState::SandboxReady as i32)
    }

    /// The instances of container `name`, newest first.
    pub fn instances<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a api::ContainerStatus> + 'a {
        self.containers.iter().filter(move |c| container_name(c) == name)
    }

    /// The newest instance of container `name`.
    pub fn latest(&self, name: &str) -> Option<&api::ContainerStatus> {
        self.containers.iter().find(|c| container_name(c) == name)
    }

    /// The containers still running (or created, not yet started).
    pub fn running(&self) -> impl Iterator<Item = &api::ContainerStatus> {
        self.containers.iter().filter(|c| is_running(c) || c.state == api::ContainerState::ContainerCreated as i32)
    }
}

/// A container's name (CRI metadata).
pub fn container_name(status: &api::ContainerStatus) -> &str {
    status.metadata.as_ref().map(|m| m.name.as_str()).unwrap_or_default()
}

/// A container's attempt (= its restart count).
pub fn attempt(status: &api::ContainerStatus) -> u32 {
    status.metadata.as_ref().map(|m| m.attempt).unwrap_or(0)
}

pub fn is_running(status: &api::ContainerStatus) -> bool {
    status.state == api::ContainerState::ContainerRunning as i32
}

pub fn is_exited(status: &api::ContainerStatus) -> bool {
    status.state == api::ContainerState::ContainerExited as i32
}
