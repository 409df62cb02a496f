//! A runtime whose only working call is `exec_sync`, answering from a script,
//! so that probe workers can be driven in paused time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::runtime::{Result, Runtime, RuntimeError, api};

/// Each exec of a command (by its first word) answers with the command's next scripted reply
/// (the last one repeats; unscripted commands exit 0); calls are recorded.
#[derive(Debug, Default)]
pub struct ScriptedRuntime {
    replies: Mutex<HashMap<String, VecDeque<Reply>>>,
    calls: Mutex<Vec<(Instant, Vec<String>)>>,
}

#[derive(Debug, Clone)]
pub enum Reply {
    Exit(i32, &'static str),
    Error(&'static str),
}

impl ScriptedRuntime {
    /// Replaces the script of `command`.
    pub fn script(&self, command: &str, replies: impl IntoIterator<Item = Reply>) {
        self.replies.lock().unwrap().insert(command.into(), replies.into_iter().collect());
    }

    /// When each exec of `command` ran, relative to `start`, in whole seconds.
    pub fn call_times(&self, command: &str, start: Instant) -> Vec<u64> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(_, c)| c.first().map(String::as_str) == Some(command))
            .map(|(at, _)| (*at - start).as_secs())
            .collect()
    }

    pub fn commands(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().iter().map(|(_, command)| command.clone()).collect()
    }
}

fn unimplemented<T>(operation: &'static str) -> Result<T> {
    Err(RuntimeError::Unimplemented { operation })
}

#[async_trait::async_trait]
impl Runtime for ScriptedRuntime {
    async fn version(&self) -> Result<api::VersionResponse> {
        unimplemented("Version")
    }
    async fn status(&self) -> Result<api::RuntimeStatus> {
        unimplemented("Status")
    }
    async fn run_pod_sandbox(&self, _config: api::PodSandboxConfig) -> Result<String> {
        unimplemented("RunPodSandbox")
    }
    async fn stop_pod_sandbox(&self, _id: &str) -> Result<()> {
        unimplemented("StopPodSandbox")
    }
    async fn remove_pod_sandbox(&self, _id: &str) -> Result<()> {
        unimplemented("RemovePodSandbox")
    }
    async fn pod_sandbox_status(&self, _id: &str) -> Result<Option<api::PodSandboxStatus>> {
        unimplemented("PodSandboxStatus")
    }
    async fn list_pod_sandboxes(&self, _filter: Option<api::PodSandboxFilter>) -> Result<Vec<api::PodSandbox>> {
        unimplemented("ListPodSandbox")
    }
    async fn create_container(
        &self,
        _sandbox_id: &str,
        _config: api::ContainerConfig,
        _sandbox: &api::PodSandboxConfig,
    ) -> Result<String> {
        unimplemented("CreateContainer")
    }
    async fn start_container(&self, _id: &str) -> Result<()> {
        unimplemented("StartContainer")
    }
    async fn stop_container(&self, _id: &str, _timeout: Duration) -> Result<()> {
        unimplemented("StopContainer")
    }
    async fn remove_container(&self, _id: &str) -> Result<()> {
        unimplemented("RemoveContainer")
    }
    async fn list_containers(&self, _filter: Option<api::ContainerFilter>) -> Result<Vec<api::Container>> {
        unimplemented("ListContainers")
    }
    async fn container_status(&self, _id: &str) -> Result<Option<api::ContainerStatus>> {
        unimplemented("ContainerStatus")
    }
    async fn reopen_container_log(&self, _id: &str) -> Result<()> {
        unimplemented("ReopenContainerLog")
    }
    async fn exec_sync(&self, _id: &str, command: Vec<String>, _timeout: Duration) -> Result<api::ExecSyncResponse> {
        let key = command.first().cloned().unwrap_or_default();
        self.calls.lock().unwrap().push((Instant::now(), command));
        let reply = {
            let mut all = self.replies.lock().unwrap();
            let replies = all.entry(key).or_default();
            if replies.len() > 1 { replies.pop_front() } else { replies.front().cloned() }
        };
        match reply.unwrap_or(Reply::Exit(0, "")) {
            Reply::Exit(exit_code, output) => {
                Ok(api::ExecSyncResponse { stdout: output.as_bytes().to_vec(), stderr: Vec::new(), exit_code })
            }
            Reply::Error(message) => Err(RuntimeError::Failed { operation: "ExecSync", message: message.into() }),
        }
    }
    async fn exec(&self, _request: api::ExecRequest) -> Result<String> {
        unimplemented("Exec")
    }
    async fn attach(&self, _request: api::AttachRequest) -> Result<String> {
        unimplemented("Attach")
    }
    async fn port_forward(&self, _request: api::PortForwardRequest) -> Result<String> {
        unimplemented("PortForward")
    }
    async fn container_stats(&self, _id: &str) -> Result<Option<api::ContainerStats>> {
        unimplemented("ContainerStats")
    }
    async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>> {
        unimplemented("ListContainerStats")
    }
    async fn image_status(&self, _image: &str) -> Result<Option<api::Image>> {
        unimplemented("ImageStatus")
    }
    async fn list_images(&self) -> Result<Vec<api::Image>> {
        unimplemented("ListImages")
    }
    async fn pull_image(&self, _image: &str, _sandbox: &api::PodSandboxConfig) -> Result<String> {
        unimplemented("PullImage")
    }
    async fn remove_image(&self, _image: &str) -> Result<()> {
        unimplemented("RemoveImage")
    }
    async fn image_fs_info(&self) -> Result<Vec<api::FilesystemUsage>> {
        unimplemented("ImageFsInfo")
    }
}
