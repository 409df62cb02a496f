//! The container runtime the kubelet drives: a CRI-shaped interface with
//! two implementations, CRI over gRPC to containerd ([`cri`]) and an
//! in-memory one without processes ([`simulated`]).
//!
//! The data types are the CRI v1 messages (`k8s_cri::v1`), so both
//! implementations speak exactly what containerd speaks.

pub mod cri;
pub mod simulated;

use std::time::Duration;

pub use k8s_cri::v1 as api;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime cannot be reached (socket missing, connection refused):
    /// the caller retries later; nothing about the pod is known.
    #[error("the container runtime at {endpoint} is unavailable: {message}")]
    Unavailable { endpoint: String, message: String },
    /// The sandbox, container or image named does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The runtime does not implement this call (newer CRI RPCs on containerd 1.6).
    #[error("{operation} is not implemented by the runtime")]
    Unimplemented { operation: &'static str },
    /// The runtime refused or failed the call; `message` is its own words.
    #[error("{operation}: {message}")]
    Failed { operation: &'static str, message: String },
}

/// A `Result` with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A container runtime in the shape of the CRI RuntimeService and
/// ImageService. Every method may be called concurrently. "Not found" is
/// `Err(RuntimeError::NotFound)` except where a method returns `Option`.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + std::fmt::Debug + 'static {
    /// The runtime's name and version (`containerd`, `1.6.20~ds1`) and CRI API version.
    async fn version(&self) -> Result<api::VersionResponse>;
    /// The RuntimeReady and NetworkReady conditions.
    async fn status(&self) -> Result<api::RuntimeStatus>;

    /// Creates and starts a pod sandbox (network namespace, pause process); returns its ID.
    async fn run_pod_sandbox(&self, config: api::PodSandboxConfig) -> Result<String>;
    /// Stops every container of the sandbox and tears its network down; idempotent.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes a sandbox and its containers; idempotent (a missing sandbox is Ok).
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    /// The sandbox's state, IP and (verbose) info; `None` when it does not exist.
    async fn pod_sandbox_status(&self, id: &str) -> Result<Option<api::PodSandboxStatus>>;
    /// The sandboxes matching `filter` (all when `None`).
    async fn list_pod_sandboxes(&self, filter: Option<api::PodSandboxFilter>) -> Result<Vec<api::PodSandbox>>;

    /// Creates a container in a sandbox (`sandbox` is the config the sandbox was run with); returns its ID.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox: &api::PodSandboxConfig,
    ) -> Result<String>;
    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<()>;
    /// Sends SIGTERM (or the image's stop signal), then SIGKILL after `timeout`; idempotent.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container (stopped or not); idempotent.
    async fn remove_container(&self, id: &str) -> Result<()>;
    /// The containers matching `filter` (all when `None`).
    async fn list_containers(&self, filter: Option<api::ContainerFilter>) -> Result<Vec<api::Container>>;
    /// A container's state, exit code, reason, times and log path; `None` when it does not exist.
    async fn container_status(&self, id: &str) -> Result<Option<api::ContainerStatus>>;
    /// Asks the runtime to reopen a container's log file (after rotation).
    async fn reopen_container_log(&self, id: &str) -> Result<()>;

    /// Runs a command in a container and waits for it (exec probes, hooks).
    async fn exec_sync(&self, id: &str, command: Vec<String>, timeout: Duration) -> Result<api::ExecSyncResponse>;
    /// A one-time streaming URL for an interactive exec.
    async fn exec(&self, request: api::ExecRequest) -> Result<String>;
    /// A one-time streaming URL to attach to a container's main process.
    async fn attach(&self, request: api::AttachRequest) -> Result<String>;
    /// A one-time streaming URL to forward ports into a sandbox.
    async fn port_forward(&self, request: api::PortForwardRequest) -> Result<String>;

    /// CPU, memory and filesystem usage of one container; `None` when it does not exist.
    async fn container_stats(&self, id: &str) -> Result<Option<api::ContainerStats>>;
    /// Usage of every container.
    async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>>;

    /// An image present on the node (by reference or ID); `None` when absent.
    async fn image_status(&self, image: &str) -> Result<Option<api::Image>>;
    /// Every image on the node.
    async fn list_images(&self) -> Result<Vec<api::Image>>;
    /// Pulls an image; returns its reference (image ID). Offline this fails with the registry's error.
    async fn pull_image(&self, image: &str, sandbox: &api::PodSandboxConfig) -> Result<String>;
    /// Removes an image; idempotent.
    async fn remove_image(&self, image: &str) -> Result<()>;
    /// Usage of the filesystem images are stored on.
    async fn image_fs_info(&self) -> Result<Vec<api::FilesystemUsage>>;

    /// Whether pods' network exists only inside this runtime (the simulated one): then network
    /// probes and httpGet hooks are answered by [`Runtime::exec_sync`] of
    /// `[<kind>, <host>:<port>]` (kind `httpGet`, `tcpSocket` or `grpc`) and nothing is sent.
    fn simulates_network(&self) -> bool {
        false
    }
}

/// The CRI labels (and annotations) kubelets put on sandboxes and containers, under upstream's names.
pub mod labels {
    /// The pod's name.
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    /// The pod's namespace.
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    /// The pod's UID.
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    /// The container's name (containers only).
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
}
