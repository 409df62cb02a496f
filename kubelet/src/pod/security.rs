//! The CRI security settings of containers and sandboxes, as upstream's
//! kubelet derives them from the pod's and container's securityContext
//! (`determineEffectiveSecurityContext`, `generatePodSandboxLinuxConfig`,
//! `verifyRunAsNonRoot`): users and groups, capabilities, privilege,
//! seccomp, proc mount paths and Linux namespaces. AppArmor is left to the
//! runtime's default (not set).

use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SeccompProfile, SecurityContext};

use crate::runtime::api;
use crate::runtime::api::security_profile::ProfileType;

/// Paths masked in containers unless procMount is Unmasked (upstream's defaults).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths mounted read-only in containers unless procMount is Unmasked (upstream's defaults).
pub const DEFAULT_READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Why a container may not be created with its security settings (messages as upstream's kubelet).
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// runAsNonRoot with runAsUser 0.
    #[error("container's runAsUser breaks non-root policy (pod: {pod:?}, container: {container})")]
    RunAsUserIsRoot { pod: String, container: String },
    /// runAsNonRoot and the image's user is root (or not set).
    #[error("container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {container})")]
    ImageRunsAsRoot { pod: String, container: String },
    /// runAsNonRoot and the image's user is a name, which cannot be checked.
    #[error(
        "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: {pod:?}, container: {container})"
    )]
    ImageUserNotNumeric { user: String, pod: String, container: String },
    /// A Localhost seccomp profile without its file name.
    #[error("localhostProfile must be set if seccompProfile type is Localhost.")]
    LocalhostProfileMissing,
}

/// A `Result` with [`SecurityError`].
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;

/// The user an image runs as, from its CRI image status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUser {
    /// A numeric UID (root is 0; an image without a USER counts as 0).
    Uid(i64),
    /// A user name the runtime resolves in the image.
    Name(String),
}

impl ImageUser {
    /// The user of an image as the runtime reports it (root when it says nothing).
    pub fn of(image: Option<&api::Image>) -> Self {
        match image {
            Some(api::Image { uid: Some(uid), .. }) => ImageUser::Uid(uid.value),
            Some(image) if !image.username.is_empty() => ImageUser::Name(image.username.clone()),
            _ => ImageUser::Uid(0),
        }
    }
}

/// The container's securityContext with the pod's defaults filled in (upstream's
/// `DetermineEffectiveSecurityContext`).
pub fn effective_security_context(pod: &Pod, container: &Container) -> SecurityContext {
    let mut effective = container.security_context.clone().unwrap_or_default();
    if let Some(pod_sc) = pod_security_context(pod) {
        effective.se_linux_options = effective.se_linux_options.or_else(|| pod_sc.se_linux_options.clone());
        effective.run_as_user = effective.run_as_user.or(pod_sc.run_as_user);
        effective.run_as_group = effective.run_as_group.or(pod_sc.run_as_group);
        effective.run_as_non_root = effective.run_as_non_root.or(pod_sc.run_as_non_root);
        effective.seccomp_profile = effective.seccomp_profile.or_else(|| pod_sc.seccomp_profile.clone());
        effective.app_armor_profile = effective.app_armor_profile.or_else(|| pod_sc.app_armor_profile.clone());
    }
    effective
}

/// The container's CRI security context. `namespace_options` is left `None` (see
/// [`namespace_options`]); `image` is the image's CRI status (its user is the default
/// runAsUser, as upstream); `seccomp_root` is where Localhost profiles live (`<root>/seccomp`).
pub fn container_security_context(
    pod: &Pod,
    container: &Container,
    image: Option<&api::Image>,
    seccomp_root: &Path,
) -> Result<api::LinuxContainerSecurityContext> {
    let effective = effective_security_context(pod, container);
    let capabilities = effective.capabilities.as_ref().map(|caps| api::Capability {
        add_capabilities: caps.add.clone().unwrap_or_default(),
        drop_capabilities: caps.drop.clone().unwrap_or_default(),
        add_ambient_capabilities: Vec::new(),
    });
    let unmasked = effective.proc_mount.as_deref() == Some("Unmasked");
    let paths =
        |defaults: &[&str]| if unmasked { Vec::new() } else { defaults.iter().map(|p| p.to_string()).collect() };
    let seccomp = container_seccomp(pod, container, seccomp_root)?;
    #[allow(deprecated)] // the path form too, for runtimes that predate the `seccomp` field
    let mut context = api::LinuxContainerSecurityContext {
        capabilities,
        privileged: effective.privileged.unwrap_or(false),
        readonly_rootfs: effective.read_only_root_filesystem.unwrap_or(false),
        run_as_user: effective.run_as_user.map(|value| api::Int64Value { value }),
        run_as_group: effective.run_as_group.map(|value| api::Int64Value { value }),
        supplemental_groups: supplemental_groups(pod),
        no_new_privs: effective.allow_privilege_escalation == Some(false),
        masked_paths: paths(DEFAULT_MASKED_PATHS),
        readonly_paths: paths(DEFAULT_READONLY_PATHS),
        seccomp_profile_path: profile_path(&seccomp),
        seccomp: Some(seccomp),
        ..Default::default()
    };
    if context.run_as_user.is_none() {
        match image.map(|image| ImageUser::of(Some(image))) {
            Some(ImageUser::Uid(uid)) => context.run_as_user = Some(api::Int64Value { value: uid }),
            Some(ImageUser::Name(name)) => context.run_as_username = name,
            None => {}
        }
    }
    Ok(context)
}

/// The sandbox's CRI security context: the pod's runAsUser/runAsGroup, fsGroup and
/// supplementalGroups, privileged when any container is, seccomp RuntimeDefault (as upstream
/// forces for the pause process). `namespace_options` is left `None`.
pub fn sandbox_security_context(pod: &Pod) -> api::LinuxSandboxSecurityContext {
    let pod_sc = pod_security_context(pod);
    let seccomp =
        api::SecurityProfile { profile_type: ProfileType::RuntimeDefault as i32, localhost_ref: String::new() };
    #[allow(deprecated)] // the path form too, for runtimes that predate the `seccomp` field
    api::LinuxSandboxSecurityContext {
        run_as_user: pod_sc.and_then(|sc| sc.run_as_user).map(|value| api::Int64Value { value }),
        run_as_group: pod_sc.and_then(|sc| sc.run_as_group).map(|value| api::Int64Value { value }),
        supplemental_groups: supplemental_groups(pod),
        privileged: has_privileged_container(pod),
        seccomp_profile_path: profile_path(&seccomp),
        seccomp: Some(seccomp),
        ..Default::default()
    }
}

/// The pod's sysctls for `LinuxPodSandboxConfig.sysctls`.
pub fn sysctls(pod: &Pod) -> std::collections::HashMap<String, String> {
    pod_security_context(pod)
        .and_then(|sc| sc.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|sysctl| (sysctl.name.clone(), sysctl.value.clone()))
        .collect()
}

/// The pod's Linux namespaces: host network/PID/IPC when asked, a shared PID namespace with
/// shareProcessNamespace, else one per container.
pub fn namespace_options(pod: &Pod) -> api::NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag = |get: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| spec.and_then(get).unwrap_or(false);
    let mode = |host: bool, otherwise: api::NamespaceMode| {
        if host { api::NamespaceMode::Node as i32 } else { otherwise as i32 }
    };
    let pid = if flag(|s| s.host_pid) {
        api::NamespaceMode::Node
    } else if flag(|s| s.share_process_namespace) {
        api::NamespaceMode::Pod
    } else {
        api::NamespaceMode::Container
    };
    api::NamespaceOption {
        network: mode(flag(|s| s.host_network), api::NamespaceMode::Pod),
        pid: pid as i32,
        ipc: mode(flag(|s| s.host_ipc), api::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The pod's fsGroup, which volumes are chowned to.
pub fn fs_group(pod: &Pod) -> Option<i64> {
    pod_security_context(pod).and_then(|sc| sc.fs_group)
}

/// Checks runAsNonRoot against the container's runAsUser or the image's user (call after the
/// image status is known, before creating the container).
pub fn verify_run_as_non_root(pod: &Pod, container: &Container, image: &ImageUser) -> Result<()> {
    let effective = effective_security_context(pod, container);
    if effective.run_as_non_root != Some(true) {
        return Ok(());
    }
    let pod_name = format_pod(pod);
    let container_name = container.name.clone();
    if let Some(uid) = effective.run_as_user {
        if uid == 0 {
            return Err(SecurityError::RunAsUserIsRoot { pod: pod_name, container: container_name });
        }
        return Ok(());
    }
    match image {
        ImageUser::Uid(0) => Err(SecurityError::ImageRunsAsRoot { pod: pod_name, container: container_name }),
        ImageUser::Name(user) if !user.is_empty() => {
            Err(SecurityError::ImageUserNotNumeric { user: user.clone(), pod: pod_name, container: container_name })
        }
        _ => Ok(()),
    }
}

/// The container's seccomp profile: the container's field, else the pod's, else Unconfined
/// (the kubelet's SeccompDefault is off, as upstream's default).
pub fn container_seccomp(pod: &Pod, container: &Container, seccomp_root: &Path) -> Result<api::SecurityProfile> {
    let field = container
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
        .or_else(|| pod_security_context(pod).and_then(|sc| sc.seccomp_profile.as_ref()));
    seccomp_profile(field, seccomp_root)
}

fn seccomp_profile(field: Option<&SeccompProfile>, seccomp_root: &Path) -> Result<api::SecurityProfile> {
    let profile = |profile_type: ProfileType, localhost_ref: String| api::SecurityProfile {
        profile_type: profile_type as i32,
        localhost_ref,
    };
    match field.map(|f| (f.type_.as_str(), f.localhost_profile.as_deref())) {
        Some(("RuntimeDefault", _)) => Ok(profile(ProfileType::RuntimeDefault, String::new())),
        Some(("Localhost", Some(file))) if !file.is_empty() => {
            Ok(profile(ProfileType::Localhost, seccomp_root.join(file).to_string_lossy().into_owned()))
        }
        Some(("Localhost", _)) => Err(SecurityError::LocalhostProfileMissing),
        _ => Ok(profile(ProfileType::Unconfined, String::new())),
    }
}

/// The deprecated path form of a profile, which runtimes older than the `seccomp` field read
/// (containerd prefers the field when both are set).
fn profile_path(profile: &api::SecurityProfile) -> String {
    match ProfileType::try_from(profile.profile_type) {
        Ok(ProfileType::RuntimeDefault) => "runtime/default".into(),
        Ok(ProfileType::Localhost) => format!("localhost/{}", profile.localhost_ref),
        _ => "unconfined".into(),
    }
}

/// fsGroup first, then supplementalGroups (upstream's order).
fn supplemental_groups(pod: &Pod) -> Vec<i64> {
    let Some(sc) = pod_security_context(pod) else { return Vec::new() };
    sc.fs_group.into_iter().chain(sc.supplemental_groups.iter().flatten().copied()).collect()
}

fn has_privileged_container(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    let privileged = |sc: Option<&SecurityContext>| sc.and_then(|sc| sc.privileged).unwrap_or(false);
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(|c| privileged(c.security_context.as_ref()))
        || spec.ephemeral_containers.iter().flatten().any(|c| privileged(c.security_context.as_ref()))
}

fn pod_security_context(pod: &Pod) -> Option<&PodSecurityContext> {
    pod.spec.as_ref()?.security_context.as_ref()
}

/// A pod as upstream's `format.Pod` writes it: `name_namespace(uid)`.
pub fn format_pod(pod: &Pod) -> String {
    let meta = &pod.metadata;
    format!(
        "{}_{}({})",
        meta.name.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.uid.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
#[path = "tests_security.rs"]
mod tests;
