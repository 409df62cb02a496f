//! A runtime without processes: sandboxes get made-up IPs, containers run
//! until stopped (or exit as their pod's simulation annotations say).
//!
//! A container exits with the code in the pod annotation
//! `simulation.skiff.dev/exit-code.<container>` or, failing that,
//! [`EXIT_CODE_ANNOTATION`] (pod annotations reach the runtime as sandbox
//! annotations), after `simulation.skiff.dev/run-seconds[.<container>]`
//! seconds of running. [`EXEC_EXIT_CODE_ANNOTATION`] sets what exec (probes,
//! hooks) returns; by default it succeeds. The pod network is simulated too:
//! httpGet, tcpSocket and grpc probes and httpGet hooks come here as exec
//! (see [`Runtime::simulates_network`]). StartContainer can be made to take
//! a while ([`SimulatedRuntime::with_start_delay`]). Images are all present, or only
//! those given to [`SimulatedRuntime::with_images`]; pulling any other fails
//! as containerd does offline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::Digest;
use tokio::time::Instant;

use super::{Result, Runtime, RuntimeError, api};
use crate::simulated::{EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION};

/// Pod annotation: the exit code of commands exec'd in the pod's containers (probes, hooks).
pub const EXEC_EXIT_CODE_ANNOTATION: &str = "simulation.skiff.dev/exec-exit-code";

/// An in-memory [`Runtime`]; see the module doc.
#[derive(Debug)]
pub struct SimulatedRuntime {
    state: Mutex<State>,
    /// `None`: every image is present.
    images: Option<Vec<String>>,
    /// Pod IPs: the first address and how many there are.
    pod_network: (std::net::Ipv4Addr, u32),
    /// How long StartContainer takes.
    start_delay: Duration,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    sandboxes: HashMap<String, Sandbox>,
    containers: HashMap<String, Container>,
}

#[derive(Debug)]
struct Sandbox {
    config: api::PodSandboxConfig,
    ready: bool,
    created_at: i64,
    ip: String,
}

#[derive(Debug)]
struct Container {
    sandbox_id: String,
    config: api::ContainerConfig,
    log_path: String,
    state: api::ContainerState,
    created_at: i64,
    started_at: i64,
    finished_at: i64,
    exit_code: i32,
    reason: String,
    /// When the container exits by itself, and with which code.
    exit: Option<(Instant, i32)>,
    planned_exit: Option<(Duration, i32)>,
}

fn now_nanos() -> i64 {
    jiff::Timestamp::now().as_nanosecond().try_into().unwrap_or(i64::MAX)
}

/// `busybox` → `docker.io/library/busybox:latest`, as containerd names images.
pub(crate) fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (name, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
        None => (name, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let qualified = if name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    match (tag, digest) {
        (_, Some(digest)) => format!("{qualified}@{digest}"),
        (Some(tag), None) => format!("{qualified}:{tag}"),
        (None, None) => format!("{qualified}:latest"),
    }
}

fn image_id(normalized: &str) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(normalized.as_bytes()))
}

fn image_of(normalized: &str) -> api::Image {
    let id = image_id(normalized);
    let repo = normalized.rsplit_once(':').map(|(repo, _)| repo).unwrap_or(normalized);
    api::Image {
        id: id.clone(),
        repo_tags: vec![normalized.to_owned()],
        repo_digests: vec![format!("{repo}@{id}")],
        size: 1_000_000,
        ..Default::default()
    }
}

/// The annotation `key.<container>` or else `key` of a sandbox.
fn pod_setting<'a>(sandbox: &'a api::PodSandboxConfig, key: &str, container: &str) -> Option<&'a str> {
    sandbox.annotations.get(&format!("{key}.{container}")).or_else(|| sandbox.annotations.get(key)).map(String::as_str)
}

fn not_found(what: &str, id: &str) -> RuntimeError {
    RuntimeError::NotFound { what: format!("{what} {id}") }
}

impl Default for SimulatedRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SimulatedRuntime {
    /// A runtime on which every image is present, giving pods IPs in 10.42.0.0/16.
    pub fn new() -> Self {
        let network = (std::net::Ipv4Addr::new(10, 42, 0, 0), 1 << 16);
        Self { state: Mutex::default(), images: None, pod_network: network, start_delay: Duration::ZERO }
    }

    /// Only these images (and the pause image) are present; pulling others fails.
    pub fn with_images<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, images: I) -> Self {
        let mut present: Vec<String> = images.into_iter().map(|i| normalize_image(i.as_ref())).collect();
        present.push(normalize_image(crate::images::PAUSE_IMAGE));
        self.images = Some(present);
        self
    }

    /// Pod IPs from `network/prefix` (an IPv4 CIDR; the network and broadcast addresses are not used).
    pub fn with_pod_network(mut self, network: std::net::Ipv4Addr, prefix: u8) -> Self {
        let size = 1u32.checked_shl(32 - u32::from(prefix.clamp(8, 30))).unwrap_or(u32::MAX);
        self.pod_network = (network, size);
        self
    }

    /// StartContainer takes `delay` (pods go Running that much later).
    pub fn with_start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let wall = now_nanos();
        for container in state.containers.values_mut() {
            if let Some((at, code)) = container.exit.filter(|(at, _)| *at <= now) {
                let early = now.saturating_duration_since(at).as_nanos().try_into().unwrap_or(0i64);
                container.exit = None;
                container.finish(code, if code == 0 { "Completed" } else { "Error" }, wall - early);
            }
        }
        state
    }

    fn present(&self, image: &str) -> Option<api::Image> {
        let normalized = normalize_image(image);
        let by_id = image.starts_with("sha256:");
        match &self.images {
            None if by_id => Some(api::Image { id: image.to_owned(), ..Default::default() }),
            None => Some(image_of(&normalized)),
            Some(present) => {
                present.iter().find(|p| **p == normalized || (by_id && image_id(p) == image)).map(|p| image_of(p))
            }
        }
    }
}

impl Container {
    fn finish(&mut self, code: i32, reason: &str, at: i64) {
        self.state = api::ContainerState::ContainerExited;
        self.exit_code = code;
        self.reason = reason.to_owned();
        self.finished_at = at;
        self.exit = None;
    }

    fn image_ref(&self) -> String {
        let image = self.config.image.as_ref().map(|i| i.image.as_str()).unwrap_or_default();
        if image.starts_with("sha256:") { image.to_owned() } else { image_id(&normalize_image(image)) }
    }

    fn summary(&self, id: &str) -> api::Container {
        api::Container {
            id: id.to_owned(),
            pod_sandbox_id: self.sandbox_id.clone(),
            metadata: self.config.metadata.clone(),
            image: self.config.image.clone(),
            image_ref: self.image_ref(),
            state: self.state as i32,
            created_at: self.created_at,
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            ..Default::default()
        }
    }
}

fn matches_labels(labels: &HashMap<String, String>, selector: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[async_trait::async_trait]
impl Runtime for SimulatedRuntime {
    fn simulates_network(&self) -> bool {
        true
    }

    async fn version(&self) -> Result<api::VersionResponse> {
        Ok(api::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "simulated".into(),
            runtime_version: "1.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        let condition =
            |type_: &str| api::RuntimeCondition { r#type: type_.into(), status: true, ..Default::default() };
        Ok(api::RuntimeStatus { conditions: vec![condition("RuntimeReady"), condition("NetworkReady")] })
    }

    async fn run_pod_sandbox(&self, config: api::PodSandboxConfig) -> Result<String> {
        let mut state = self.state();
        state.next_id += 1;
        let n = state.next_id;
        let id = format!("{:064x}", sha2::Sha256::digest(format!("sandbox-{n}").as_bytes()));
        let host_network = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .is_some_and(|n| n.network == api::NamespaceMode::Node as i32);
        let ip = if host_network {
            String::new()
        } else {
            let (base, size) = self.pod_network;
            let offset = u32::try_from(n % u64::from(size - 2)).unwrap_or(0) + 1;
            std::net::Ipv4Addr::from(u32::from(base).wrapping_add(offset)).to_string()
        };
        state.sandboxes.insert(id.clone(), Sandbox { config, ready: true, created_at: now_nanos(), ip });
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut state = self.state();
        let wall = now_nanos();
        for container in state.containers.values_mut().filter(|c| c.sandbox_id == id) {
            if container.state == api::ContainerState::ContainerRunning {
                container.finish(137, "Error", wall);
            }
        }
        match state.sandboxes.get_mut(id) {
            Some(sandbox) => {
                sandbox.ready = false;
                Ok(())
            }
            None => Err(not_found("sandbox", id)),
        }
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut state = self.state();
        state.sandboxes.remove(id);
        state.containers.retain(|_, c| c.sandbox_id != id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<Option<api::PodSandboxStatus>> {
        let state = self.state();
        Ok(state.sandboxes.get(id).map(|s| api::PodSandboxStatus {
            id: id.to_owned(),
            metadata: s.config.metadata.clone(),
            state: if s.ready { api::PodSandboxState::SandboxReady } else { api::PodSandboxState::SandboxNotready }
                as i32,
            created_at: s.created_at,
            network: (!s.ip.is_empty())
                .then(|| api::PodSandboxNetworkStatus { ip: s.ip.clone(), additional_ips: vec![] }),
            labels: s.config.labels.clone(),
            annotations: s.config.annotations.clone(),
            ..Default::default()
        }))
    }

    async fn list_pod_sandboxes(&self, filter: Option<api::PodSandboxFilter>) -> Result<Vec<api::PodSandbox>> {
        let filter = filter.unwrap_or_default();
        let state = self.state();
        Ok(state
            .sandboxes
            .iter()
            .map(|(id, s)| api::PodSandbox {
                id: id.clone(),
                metadata: s.config.metadata.clone(),
                state: if s.ready { api::PodSandboxState::SandboxReady } else { api::PodSandboxState::SandboxNotready }
                    as i32,
                created_at: s.created_at,
                labels: s.config.labels.clone(),
                annotations: s.config.annotations.clone(),
                runtime_handler: String::new(),
            })
            .filter(|s| filter.id.is_empty() || s.id == filter.id)
            .filter(|s| filter.state.as_ref().is_none_or(|v| v.state == s.state))
            .filter(|s| matches_labels(&s.labels, &filter.label_selector))
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox: &api::PodSandboxConfig,
    ) -> Result<String> {
        let mut state = self.state();
        let Some(running) = state.sandboxes.get(sandbox_id) else {
            return Err(not_found("sandbox", sandbox_id));
        };
        if !running.ready {
            return Err(RuntimeError::Failed {
                operation: "CreateContainer",
                message: format!("sandbox container {sandbox_id:?} is not running"),
            });
        }
        let image = config.image.as_ref().map(|i| i.image.clone()).unwrap_or_default();
        if self.present(&image).is_none() {
            return Err(RuntimeError::Failed {
                operation: "CreateContainer",
                message: format!("failed to get image {image:?}: not found"),
            });
        }
        let name = config.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let planned_exit =
            pod_setting(sandbox, EXIT_CODE_ANNOTATION, &name).and_then(|c| c.trim().parse().ok()).map(|code| {
                let seconds: f64 = pod_setting(sandbox, RUN_SECONDS_ANNOTATION, &name)
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0.0);
                (Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default(), code)
            });
        state.next_id += 1;
        let id = format!("{:064x}", sha2::Sha256::digest(format!("container-{}", state.next_id).as_bytes()));
        let log_path = std::path::Path::new(&sandbox.log_directory).join(&config.log_path).display().to_string();
        let container = Container {
            sandbox_id: sandbox_id.to_owned(),
            config,
            log_path,
            state: api::ContainerState::ContainerCreated,
            created_at: now_nanos(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            exit: None,
            planned_exit,
        };
        state.containers.insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        if !self.start_delay.is_zero() {
            tokio::time::sleep(self.start_delay).await;
        }
        let mut state = self.state();
        let container = state.containers.get_mut(id).ok_or_else(|| not_found("container", id))?;
        if container.state != api::ContainerState::ContainerCreated {
            return Err(RuntimeError::Failed {
                operation: "StartContainer",
                message: format!("container {id} is not in created state"),
            });
        }
        container.state = api::ContainerState::ContainerRunning;
        container.started_at = now_nanos();
        container.exit = container.planned_exit.map(|(after, code)| (Instant::now() + after, code));
        Ok(())
    }

    async fn stop_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        let mut state = self.state();
        let container = state.containers.get_mut(id).ok_or_else(|| not_found("container", id))?;
        if container.state == api::ContainerState::ContainerRunning {
            // As a process that exits on SIGTERM (128 + 15).
            container.finish(143, "Error", now_nanos());
        } else if container.state == api::ContainerState::ContainerCreated {
            container.finish(0, "", now_nanos());
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.state().containers.remove(id);
        Ok(())
    }

    async fn list_containers(&self, filter: Option<api::ContainerFilter>) -> Result<Vec<api::Container>> {
        let filter = filter.unwrap_or_default();
        let state = self.state();
        Ok(state
            .containers
            .iter()
            .filter(|(id, _)| filter.id.is_empty() || **id == filter.id)
            .filter(|(_, c)| filter.pod_sandbox_id.is_empty() || c.sandbox_id == filter.pod_sandbox_id)
            .filter(|(_, c)| filter.state.as_ref().is_none_or(|v| v.state == c.state as i32))
            .filter(|(_, c)| matches_labels(&c.config.labels, &filter.label_selector))
            .map(|(id, c)| c.summary(id))
            .collect())
    }

    async fn container_status(&self, id: &str) -> Result<Option<api::ContainerStatus>> {
        let state = self.state();
        Ok(state.containers.get(id).map(|c| api::ContainerStatus {
            id: id.to_owned(),
            metadata: c.config.metadata.clone(),
            state: c.state as i32,
            created_at: c.created_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
            exit_code: c.exit_code,
            image: c.config.image.clone(),
            image_ref: c.image_ref(),
            reason: c.reason.clone(),
            labels: c.config.labels.clone(),
            annotations: c.config.annotations.clone(),
            mounts: c.config.mounts.clone(),
            log_path: c.log_path.clone(),
            ..Default::default()
        }))
    }

    async fn reopen_container_log(&self, id: &str) -> Result<()> {
        self.state().containers.get(id).map(drop).ok_or_else(|| not_found("container", id))
    }

    async fn exec_sync(&self, id: &str, _command: Vec<String>, _timeout: Duration) -> Result<api::ExecSyncResponse> {
        let state = self.state();
        let container = state.containers.get(id).ok_or_else(|| not_found("container", id))?;
        if container.state != api::ContainerState::ContainerRunning {
            return Err(RuntimeError::Failed {
                operation: "ExecSync",
                message: format!("container {id} is not running"),
            });
        }
        let name = container.config.metadata.as_ref().map(|m| m.name.as_str()).unwrap_or_default();
        let exit_code = state
            .sandboxes
            .get(&container.sandbox_id)
            .and_then(|s| pod_setting(&s.config, EXEC_EXIT_CODE_ANNOTATION, name))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        Ok(api::ExecSyncResponse { stdout: Vec::new(), stderr: Vec::new(), exit_code })
    }

    async fn exec(&self, _request: api::ExecRequest) -> Result<String> {
        Err(RuntimeError::Unimplemented { operation: "Exec" })
    }

    async fn attach(&self, _request: api::AttachRequest) -> Result<String> {
        Err(RuntimeError::Unimplemented { operation: "Attach" })
    }

    async fn port_forward(&self, _request: api::PortForwardRequest) -> Result<String> {
        Err(RuntimeError::Unimplemented { operation: "PortForward" })
    }

    async fn container_stats(&self, id: &str) -> Result<Option<api::ContainerStats>> {
        let state = self.state();
        Ok(state.containers.get(id).map(|c| api::ContainerStats {
            attributes: Some(api::ContainerAttributes {
                id: id.to_owned(),
                metadata: c.config.metadata.clone(),
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
            }),
            ..Default::default()
        }))
    }

    async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>> {
        let ids: Vec<String> = self.state().containers.keys().cloned().collect();
        let mut stats = Vec::new();
        for id in ids {
            stats.extend(self.container_stats(&id).await?);
        }
        Ok(stats)
    }

    async fn image_status(&self, image: &str) -> Result<Option<api::Image>> {
        Ok(self.present(image))
    }

    async fn list_images(&self) -> Result<Vec<api::Image>> {
        Ok(self.images.iter().flatten().map(|i| image_of(i)).collect())
    }

    async fn pull_image(&self, image: &str, _sandbox: &api::PodSandboxConfig) -> Result<String> {
        if let Some(present) = self.present(image) {
            return Ok(present.id);
        }
        let normalized = normalize_image(image);
        let (repo, reference) = match normalized.split_once('@') {
            Some((repo, digest)) => (repo.to_owned(), digest.to_owned()),
            None => normalized
                .rsplit_once(':')
                .map(|(r, t)| (r.to_owned(), t.to_owned()))
                .unwrap_or((normalized.clone(), "latest".into())),
        };
        let (host, path) = repo.split_once('/').unwrap_or((repo.as_str(), ""));
        let registry = if host == "docker.io" { "registry-1.docker.io" } else { host };
        Err(RuntimeError::Failed {
            operation: "PullImage",
            message: format!(
                "rpc error: code = Unknown desc = failed to pull and unpack image \"{normalized}\": failed to resolve \
                 reference \"{normalized}\": failed to do request: Head \"https://{registry}/v2/{path}/manifests/{reference}\": \
                 dial tcp: lookup {registry}: no such host"
            ),
        })
    }

    async fn remove_image(&self, _image: &str) -> Result<()> {
        Ok(())
    }

    async fn image_fs_info(&self) -> Result<Vec<api::FilesystemUsage>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_image;

    #[test]
    fn image_names_are_normalized_as_containerd_does() {
        for (given, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("me/app", "docker.io/me/app:latest"),
            ("localhost/skiff/pause:catatonit", "localhost/skiff/pause:catatonit"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("quay.io/x/y@sha256:abc", "quay.io/x/y@sha256:abc"),
        ] {
            assert_eq!(normalize_image(given), want, "{given}");
        }
    }
}
