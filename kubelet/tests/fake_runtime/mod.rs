//! A tiny test-only `Runtime`: it stands in for the container runtime only
//! to report a version, a status, images and container stats (the
//! simulated and CRI runtimes are tested on their own); every other call
//! is unimplemented.

#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use skiff_kubelet::runtime::{Result, RuntimeError, api};

#[derive(Debug, Default)]
pub struct FakeRuntime {
    pub network_ready: Mutex<bool>,
    pub images: Mutex<Vec<api::Image>>,
    pub stats: Mutex<Vec<api::ContainerStats>>,
    pub containers: Mutex<Vec<api::Container>>,
    pub sandboxes: Mutex<Vec<api::PodSandbox>>,
}

impl FakeRuntime {
    pub fn ready() -> Self {
        let runtime = Self::default();
        *runtime.network_ready.lock().expect("lock") = true;
        runtime
    }

    pub fn set_network_ready(&self, ready: bool) {
        *self.network_ready.lock().expect("lock") = ready;
    }
}

fn unimplemented<T>(operation: &'static str) -> Result<T> {
    Err(RuntimeError::Unimplemented { operation })
}

#[async_trait::async_trait]
impl skiff_kubelet::Runtime for FakeRuntime {
    async fn version(&self) -> Result<api::VersionResponse> {
        Ok(api::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "containerd".into(),
            runtime_version: "1.6.20~ds1".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        let network = *self.network_ready.lock().expect("lock");
        let condition = |kind: &str, status: bool, reason: &str, message: &str| api::RuntimeCondition {
            r#type: kind.into(),
            status,
            reason: reason.into(),
            message: message.into(),
        };
        let network = if network {
            condition("NetworkReady", true, "", "")
        } else {
            condition(
                "NetworkReady",
                false,
                "NetworkPluginNotReady",
                "Network plugin returns error: cni plugin not initialized",
            )
        };
        Ok(api::RuntimeStatus { conditions: vec![condition("RuntimeReady", true, "", ""), network] })
    }

    async fn run_pod_sandbox(&self, _: api::PodSandboxConfig) -> Result<String> {
        unimplemented("RunPodSandbox")
    }
    async fn stop_pod_sandbox(&self, _: &str) -> Result<()> {
        unimplemented("StopPodSandbox")
    }
    async fn remove_pod_sandbox(&self, _: &str) -> Result<()> {
        unimplemented("RemovePodSandbox")
    }
    async fn pod_sandbox_status(&self, _: &str) -> Result<Option<api::PodSandboxStatus>> {
        unimplemented("PodSandboxStatus")
    }
    async fn list_pod_sandboxes(&self, _: Option<api::PodSandboxFilter>) -> Result<Vec<api::PodSandbox>> {
        Ok(self.sandboxes.lock().expect("lock").clone())
    }
    async fn create_container(&self, _: &str, _: api::ContainerConfig, _: &api::PodSandboxConfig) -> Result<String> {
        unimplemented("CreateContainer")
    }
    async fn start_container(&self, _: &str) -> Result<()> {
        unimplemented("StartContainer")
    }
    async fn stop_container(&self, _: &str, _: Duration) -> Result<()> {
        unimplemented("StopContainer")
    }
    async fn remove_container(&self, _: &str) -> Result<()> {
        unimplemented("RemoveContainer")
    }
    async fn list_containers(&self, _: Option<api::ContainerFilter>) -> Result<Vec<api::Container>> {
        Ok(self.containers.lock().expect("lock").clone())
    }
    async fn container_status(&self, _: &str) -> Result<Option<api::ContainerStatus>> {
        unimplemented("ContainerStatus")
    }
    async fn reopen_container_log(&self, _: &str) -> Result<()> {
        unimplemented("ReopenContainerLog")
    }
    async fn exec_sync(&self, _: &str, _: Vec<String>, _: Duration) -> Result<api::ExecSyncResponse> {
        unimplemented("ExecSync")
    }
    async fn exec(&self, _: api::ExecRequest) -> Result<String> {
        unimplemented("Exec")
    }
    async fn attach(&self, _: api::AttachRequest) -> Result<String> {
        unimplemented("Attach")
    }
    async fn port_forward(&self, _: api::PortForwardRequest) -> Result<String> {
        unimplemented("PortForward")
    }
    async fn container_stats(&self, id: &str) -> Result<Option<api::ContainerStats>> {
        let stats = self.stats.lock().expect("lock");
        Ok(stats.iter().find(|s| s.attributes.as_ref().is_some_and(|a| a.id == id)).cloned())
    }
    async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>> {
        Ok(self.stats.lock().expect("lock").clone())
    }
    async fn image_status(&self, _: &str) -> Result<Option<api::Image>> {
        unimplemented("ImageStatus")
    }
    async fn list_images(&self) -> Result<Vec<api::Image>> {
        Ok(self.images.lock().expect("lock").clone())
    }
    async fn pull_image(&self, _: &str, _: &api::PodSandboxConfig) -> Result<String> {
        unimplemented("PullImage")
    }
    async fn remove_image(&self, _: &str) -> Result<()> {
        unimplemented("RemoveImage")
    }
    async fn image_fs_info(&self) -> Result<Vec<api::FilesystemUsage>> {
        Ok(vec![api::FilesystemUsage {
            timestamp: 0,
            fs_id: Some(api::FilesystemIdentifier { mountpoint: "/".into() }),
            used_bytes: Some(api::UInt64Value { value: 4096 }),
            inodes_used: Some(api::UInt64Value { value: 3 }),
        }])
    }
}
