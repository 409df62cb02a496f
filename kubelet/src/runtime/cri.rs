//! The CRI runtime: RuntimeService and ImageService over gRPC on a unix
//! socket (containerd's), reconnecting when the runtime restarts.
//!
//! The channel is lazy: it connects on the first call and, when the
//! connection breaks (containerd restarted), reconnects on the next one, so
//! one `CriRuntime` lives as long as the kubelet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Request, Status};

use super::{Result, Runtime, RuntimeError, api};

/// How long a runtime call may take unless it says otherwise (upstream's `--runtime-request-timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// What containerd's CRI says to calls that come before its init is done.
const NOT_INITIALIZED: &str = "server is not initialized yet";
/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Runtime`] that speaks CRI v1 to a runtime's unix socket.
#[derive(Clone)]
pub struct CriRuntime {
    socket: PathBuf,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl std::fmt::Debug for CriRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CriRuntime").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl CriRuntime {
    /// A runtime on the unix socket at `socket`. Nothing is dialled yet: the
    /// first call connects, and calls after a broken connection reconnect.
    /// Must be called inside a Tokio runtime (the channel's worker is spawned on it).
    pub fn connect(socket: impl AsRef<Path>) -> Self {
        let socket = socket.as_ref().to_path_buf();
        let dial = socket.clone();
        // The URI is a placeholder: the connector ignores it and dials the socket.
        let endpoint = Endpoint::from_static("http://[::1]:50051").connect_timeout(CONNECT_TIMEOUT);
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(dial).await?)) }
        }));
        Self {
            socket,
            runtime: RuntimeServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20),
            images: ImageServiceClient::new(channel).max_decoding_message_size(64 << 20),
        }
    }

    /// The socket this runtime talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A sandbox's verbose info (containerd: `info` holds the JSON with its config and runtime spec);
    /// `None` when it does not exist.
    pub async fn pod_sandbox_info(&self, id: &str) -> Result<Option<HashMap<String, String>>> {
        let request = api::PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: true };
        match self.runtime.clone().pod_sandbox_status(request_with(request)).await {
            Ok(response) => Ok(Some(response.into_inner().info)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.error("PodSandboxStatus", status)),
        }
    }

    /// A container's verbose info (containerd: `info` holds the JSON with its pid and runtime spec).
    pub async fn container_info(&self, id: &str) -> Result<Option<HashMap<String, String>>> {
        let request = api::ContainerStatusRequest { container_id: id.into(), verbose: true };
        match self.runtime.clone().container_status(request_with(request)).await {
            Ok(response) => Ok(Some(response.into_inner().info)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.error("ContainerStatus", status)),
        }
    }

    /// Turns a gRPC status into the trait's error.
    fn error(&self, operation: &'static str, status: Status) -> RuntimeError {
        error_from_status(&self.socket, operation, status)
    }

    /// `Ok(None)` for NotFound, the error otherwise.
    fn absent<T>(&self, operation: &'static str, status: Status) -> Result<Option<T>> {
        match status.code() {
            Code::NotFound => Ok(None),
            _ => Err(self.error(operation, status)),
        }
    }

    /// `Ok(())` for NotFound (idempotent stop/remove), the error otherwise.
    fn gone(&self, operation: &'static str, status: Status) -> Result<()> {
        self.absent::<()>(operation, status).map(|_| ())
    }
}

/// A request with the default deadline.
fn request_with<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(REQUEST_TIMEOUT);
    request
}

/// Maps a gRPC status to a [`RuntimeError`]: NotFound, Unimplemented and
/// Unavailable (which is also what a failed connect becomes) keep their
/// meaning; everything else is a failure in the runtime's own words.
pub fn error_from_status(socket: &Path, operation: &'static str, status: Status) -> RuntimeError {
    match status.code() {
        Code::NotFound => RuntimeError::NotFound { what: status.message().to_owned() },
        Code::Unimplemented => RuntimeError::Unimplemented { operation },
        Code::Unavailable => {
            RuntimeError::Unavailable { endpoint: format!("unix://{}", socket.display()), message: describe(&status) }
        }
        // containerd's CRI answers this (as Unknown) between a (re)start and the end of its init.
        Code::Unknown if is_transport_error(&status) || status.message() == NOT_INITIALIZED => {
            RuntimeError::Unavailable { endpoint: format!("unix://{}", socket.display()), message: describe(&status) }
        }
        _ => RuntimeError::Failed { operation, message: status.message().to_owned() },
    }
}

/// Whether a status came from the connection rather than from the runtime
/// (a transport or I/O error somewhere in its source chain).
fn is_transport_error(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if cause.is::<tonic::transport::Error>() || cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The status's message with its source chain (connect errors hide the cause there).
fn describe(status: &Status) -> String {
    let mut message = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

fn seconds(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX)
}

fn image_spec(image: &str) -> Option<api::ImageSpec> {
    Some(api::ImageSpec { image: image.into(), ..Default::default() })
}

#[async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<api::VersionResponse> {
        let request = api::VersionRequest { version: "v1".into() };
        match self.runtime.clone().version(request_with(request)).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.error("Version", status)),
        }
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        match self.runtime.clone().status(request_with(api::StatusRequest { verbose: false })).await {
            Ok(response) => Ok(response.into_inner().status.unwrap_or_default()),
            Err(status) => Err(self.error("Status", status)),
        }
    }

    async fn run_pod_sandbox(&self, config: api::PodSandboxConfig) -> Result<String> {
        let request = api::RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() };
        match self.runtime.clone().run_pod_sandbox(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().pod_sandbox_id),
            Err(status) => Err(self.error("RunPodSandbox", status)),
        }
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let request = api::StopPodSandboxRequest { pod_sandbox_id: id.into() };
        match self.runtime.clone().stop_pod_sandbox(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => self.gone("StopPodSandbox", status),
        }
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let request = api::RemovePodSandboxRequest { pod_sandbox_id: id.into() };
        match self.runtime.clone().remove_pod_sandbox(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => self.gone("RemovePodSandbox", status),
        }
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<Option<api::PodSandboxStatus>> {
        let request = api::PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: false };
        match self.runtime.clone().pod_sandbox_status(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().status),
            Err(status) => self.absent("PodSandboxStatus", status),
        }
    }

    async fn list_pod_sandboxes(&self, filter: Option<api::PodSandboxFilter>) -> Result<Vec<api::PodSandbox>> {
        match self.runtime.clone().list_pod_sandbox(request_with(api::ListPodSandboxRequest { filter })).await {
            Ok(response) => Ok(response.into_inner().items),
            Err(status) => Err(self.error("ListPodSandbox", status)),
        }
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox: &api::PodSandboxConfig,
    ) -> Result<String> {
        let request = api::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.into(),
            config: Some(config),
            sandbox_config: Some(sandbox.clone()),
        };
        match self.runtime.clone().create_container(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().container_id),
            Err(status) => Err(self.error("CreateContainer", status)),
        }
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let request = api::StartContainerRequest { container_id: id.into() };
        match self.runtime.clone().start_container(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => Err(self.error("StartContainer", status)),
        }
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let request = api::StopContainerRequest { container_id: id.into(), timeout: seconds(timeout) };
        let mut request = Request::new(request);
        request.set_timeout(REQUEST_TIMEOUT + timeout);
        match self.runtime.clone().stop_container(request).await {
            Ok(_) => Ok(()),
            Err(status) => self.gone("StopContainer", status),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let request = api::RemoveContainerRequest { container_id: id.into() };
        match self.runtime.clone().remove_container(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => self.gone("RemoveContainer", status),
        }
    }

    async fn list_containers(&self, filter: Option<api::ContainerFilter>) -> Result<Vec<api::Container>> {
        match self.runtime.clone().list_containers(request_with(api::ListContainersRequest { filter })).await {
            Ok(response) => Ok(response.into_inner().containers),
            Err(status) => Err(self.error("ListContainers", status)),
        }
    }

    async fn container_status(&self, id: &str) -> Result<Option<api::ContainerStatus>> {
        let request = api::ContainerStatusRequest { container_id: id.into(), verbose: false };
        match self.runtime.clone().container_status(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().status),
            Err(status) => self.absent("ContainerStatus", status),
        }
    }

    async fn reopen_container_log(&self, id: &str) -> Result<()> {
        let request = api::ReopenContainerLogRequest { container_id: id.into() };
        match self.runtime.clone().reopen_container_log(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => Err(self.error("ReopenContainerLog", status)),
        }
    }

    async fn exec_sync(&self, id: &str, command: Vec<String>, timeout: Duration) -> Result<api::ExecSyncResponse> {
        let request = api::ExecSyncRequest { container_id: id.into(), cmd: command, timeout: seconds(timeout) };
        let mut request = Request::new(request);
        // The runtime enforces `timeout` itself; the deadline only guards against a hung runtime.
        request.set_timeout(REQUEST_TIMEOUT + timeout);
        match self.runtime.clone().exec_sync(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.error("ExecSync", status)),
        }
    }

    async fn exec(&self, request: api::ExecRequest) -> Result<String> {
        match self.runtime.clone().exec(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().url),
            Err(status) => Err(self.error("Exec", status)),
        }
    }

    async fn attach(&self, request: api::AttachRequest) -> Result<String> {
        match self.runtime.clone().attach(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().url),
            Err(status) => Err(self.error("Attach", status)),
        }
    }

    async fn port_forward(&self, request: api::PortForwardRequest) -> Result<String> {
        match self.runtime.clone().port_forward(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().url),
            Err(status) => Err(self.error("PortForward", status)),
        }
    }

    async fn container_stats(&self, id: &str) -> Result<Option<api::ContainerStats>> {
        let request = api::ContainerStatsRequest { container_id: id.into() };
        match self.runtime.clone().container_stats(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().stats),
            Err(status) => self.absent("ContainerStats", status),
        }
    }

    async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>> {
        let request = api::ListContainerStatsRequest { filter: None };
        match self.runtime.clone().list_container_stats(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().stats),
            Err(status) => Err(self.error("ListContainerStats", status)),
        }
    }

    async fn image_status(&self, image: &str) -> Result<Option<api::Image>> {
        let request = api::ImageStatusRequest { image: image_spec(image), verbose: false };
        match self.images.clone().image_status(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().image),
            Err(status) => self.absent("ImageStatus", status),
        }
    }

    async fn list_images(&self) -> Result<Vec<api::Image>> {
        match self.images.clone().list_images(request_with(api::ListImagesRequest { filter: None })).await {
            Ok(response) => Ok(response.into_inner().images),
            Err(status) => Err(self.error("ListImages", status)),
        }
    }

    async fn pull_image(&self, image: &str, sandbox: &api::PodSandboxConfig) -> Result<String> {
        let request =
            api::PullImageRequest { image: image_spec(image), auth: None, sandbox_config: Some(sandbox.clone()) };
        match self.images.clone().pull_image(request_with(request)).await {
            Ok(response) => Ok(response.into_inner().image_ref),
            Err(status) => Err(self.error("PullImage", status)),
        }
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let request = api::RemoveImageRequest { image: image_spec(image) };
        match self.images.clone().remove_image(request_with(request)).await {
            Ok(_) => Ok(()),
            Err(status) => self.gone("RemoveImage", status),
        }
    }

    async fn image_fs_info(&self) -> Result<Vec<api::FilesystemUsage>> {
        match self.images.clone().image_fs_info(request_with(api::ImageFsInfoRequest {})).await {
            Ok(response) => Ok(response.into_inner().image_filesystems),
            Err(status) => Err(self.error("ImageFsInfo", status)),
        }
    }
}
