//! A container's CRI config as upstream's kubelet generates it: command,
//! args, env, working dir, mounts (volumes, /etc/hosts, the termination
//! message file), resources, security context, log path, and the labels
//! and annotations that let the kubelet find it again after a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};
use sha2::Digest;

use super::env::{EnvContext, container_environment};
use super::{resources, sandbox, security};
use crate::config::KubeletConfig;
use crate::runtime::{api, labels};
use crate::volumes::{PodVolumes, container_mounts};

/// Container annotations under upstream's names.
pub mod annotations {
    pub const HASH: &str = "io.kubernetes.container.hash";
    pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
    pub const TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
    pub const TERMINATION_MESSAGE_POLICY: &str = "io.kubernetes.container.terminationMessagePolicy";
    pub const TERMINATION_GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";
    pub const PRE_STOP_HANDLER: &str = "io.kubernetes.container.preStopHandler";
    pub const PORTS: &str = "io.kubernetes.container.ports";
}

/// The waiting reason of a container whose config cannot be made.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// The default terminationMessagePath.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Why a container's config could not be made (waiting reason CreateContainerConfigError).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Environment(#[from] super::env::EnvError),
    #[error("{0}")]
    Security(#[from] security::SecurityError),
    #[error("{0}")]
    Mounts(#[from] crate::volumes::VolumeError),
    #[error("writing {path}: {source}")]
    WriteFile { path: String, source: std::io::Error },
}

/// Everything the config is made from, besides the container itself.
pub struct ConfigInputs<'a> {
    pub client: &'a kube::Client,
    pub config: &'a KubeletConfig,
    pub pod: &'a Pod,
    pub attempt: u32,
    pub image_ref: &'a str,
    pub image: Option<&'a api::Image>,
    pub volumes: &'a PodVolumes,
    pub pod_ips: &'a [String],
    /// The pod's hosts file on the host (mounted at /etc/hosts).
    pub hosts_file: Option<&'a PathBuf>,
}

/// The node's CPUs and memory (what resourceFieldRef gives for a limit the container does not set).
fn node_allocatable() -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let memory = resources::NodeResources::detect().memory_capacity;
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpus.to_string())),
        ("memory".to_owned(), Quantity(memory.to_string())),
    ])
}

/// A hash of the container's spec (what makes the kubelet restart a container when it changes).
pub fn container_hash(container: &Container) -> String {
    let json = serde_json::to_vec(container).unwrap_or_default();
    let digest = sha2::Sha256::digest(&json);
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The host file mounted at the container's terminationMessagePath for instance `attempt`.
pub fn termination_message_file(config: &KubeletConfig, uid: &str, name: &str, attempt: u32) -> PathBuf {
    config.pod_dir(uid).join("containers").join(name).join(attempt.to_string())
}

/// The container's CRI config, and the warnings its environment gave (InvalidEnvironmentVariableNames events).
pub async fn container_config(
    container: &Container,
    inputs: &ConfigInputs<'_>,
) -> Result<(api::ContainerConfig, Vec<String>), ConfigError> {
    let pod = inputs.pod;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ctx = EnvContext {
        host_ips: vec![inputs.config.node_ip.to_string()],
        pod_ips: inputs.pod_ips.to_vec(),
        node_allocatable: node_allocatable(),
    };
    let environment = container_environment(inputs.client, pod, container, &ctx).await?;
    let (command, args) = environment.expand_command_and_args(container);
    let env_map: BTreeMap<String, String> = environment.vars.iter().cloned().collect();
    let mut mounts = container_mounts(container, inputs.volumes, &env_map)?;
    let mounted = |mounts: &[api::Mount], path: &str| mounts.iter().any(|m| m.container_path == path);
    if let Some(hosts) = inputs.hosts_file.filter(|_| !mounted(&mounts, "/etc/hosts")) {
        mounts.push(api::Mount {
            container_path: "/etc/hosts".into(),
            host_path: hosts.display().to_string(),
            ..Default::default()
        });
    }
    let message_path = container
        .termination_message_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.into());
    if !mounted(&mounts, &message_path) {
        let file = termination_message_file(inputs.config, &uid, &container.name, inputs.attempt);
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&file, b"")?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))
        };
        write().map_err(|source| ConfigError::WriteFile { path: file.display().to_string(), source })?;
        mounts.push(api::Mount {
            container_path: message_path.clone(),
            host_path: file.display().to_string(),
            ..Default::default()
        });
    }
    let mut security_context =
        security::container_security_context(pod, container, inputs.image, &inputs.config.root_dir.join("seccomp"))?;
    security_context.namespace_options = Some(security::namespace_options(pod));
    let node = resources::NodeResources::detect();
    let mut container_labels = sandbox::pod_labels(pod);
    container_labels.insert(labels::CONTAINER_NAME.into(), container.name.clone());
    let grace = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
    let mut container_annotations = HashMap::from([
        (annotations::HASH.to_owned(), container_hash(container)),
        (annotations::RESTART_COUNT.to_owned(), inputs.attempt.to_string()),
        (annotations::TERMINATION_MESSAGE_PATH.to_owned(), message_path),
        (
            annotations::TERMINATION_MESSAGE_POLICY.to_owned(),
            container.termination_message_policy.clone().unwrap_or_else(|| "File".into()),
        ),
        (annotations::TERMINATION_GRACE_PERIOD.to_owned(), grace.to_string()),
    ]);
    if let Some(pre_stop) = container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
        container_annotations
            .insert(annotations::PRE_STOP_HANDLER.into(), serde_json::to_string(pre_stop).unwrap_or_default());
    }
    if let Some(ports) = container.ports.as_ref().filter(|p| !p.is_empty()) {
        container_annotations.insert(annotations::PORTS.into(), serde_json::to_string(ports).unwrap_or_default());
    }
    let config = api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: container.name.clone(), attempt: inputs.attempt }),
        image: Some(api::ImageSpec {
            image: inputs.image_ref.to_owned(),
            user_specified_image: container.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command,
        args,
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: environment.key_values(),
        mounts,
        labels: container_labels,
        annotations: container_annotations,
        log_path: format!("{}/{}.log", container.name, inputs.attempt),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources::container_resources(pod, container, &node)),
            security_context: Some(security_context),
        }),
        ..Default::default()
    };
    Ok((config, environment.warnings))
}

/// The last `lines` lines (at most `bytes` bytes) of a CRI log file, without the CRI prefixes
/// (the termination message of FallbackToLogsOnError).
pub fn tail_of_log(path: &str, lines: usize, bytes: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else { return String::new() };
    let messages: Vec<&str> = text.lines().map(|line| line.splitn(4, ' ').nth(3).unwrap_or(line)).collect();
    let tail = messages[messages.len().saturating_sub(lines)..].join("\n");
    let start = tail.len().saturating_sub(bytes);
    let start = (start..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
    tail[start..].to_owned()
}

impl std::fmt::Debug for ConfigInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigInputs").field("pod", &self.pod.metadata.name).finish_non_exhaustive()
    }
}
