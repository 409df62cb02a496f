//! A container's volumeMounts as CRI mounts, as upstream's makeMounts
//! (pkg/kubelet/kubelet_pods.go): subPath inside the volume (made if
//! missing, never escaping it), subPathExpr expanded with the container's
//! env, readOnly, and mountPropagation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::{PodVolumes, VolumeError};
use crate::runtime::api;

/// The CRI mounts of `container` over the pod's host volumes.
pub fn container_mounts(
    container: &Container,
    volumes: &PodVolumes,
    env: &BTreeMap<String, String>,
) -> Result<Vec<api::Mount>, VolumeError> {
    let privileged = container.security_context.as_ref().and_then(|s| s.privileged).unwrap_or(false);
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = volumes.volumes.get(&mount.name).ok_or_else(|| {
            VolumeError::Mount(format!(
                "cannot find volume {:?} to mount into container {:?}",
                mount.name, container.name
            ))
        })?;
        let sub_path = match mount.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            Some(expr) => expand_sub_path(expr, env)?,
            None => mount.sub_path.clone().unwrap_or_default(),
        };
        let host_path = if sub_path.is_empty() {
            volume.path.clone()
        } else {
            prepare_sub_path(&volume.path, &sub_path, mount, &container.name)?
        };
        let container_path =
            if mount.mount_path.starts_with('/') { mount.mount_path.clone() } else { format!("/{}", mount.mount_path) };
        mounts.push(api::Mount {
            container_path,
            host_path: host_path.display().to_string(),
            readonly: mount.read_only.unwrap_or(false) || volume.read_only,
            propagation: propagation(mount, privileged)? as i32,
            ..api::Mount::default()
        });
    }
    Ok(mounts)
}

/// mountPropagation as the CRI enum; Bidirectional only for privileged containers (as upstream).
fn propagation(mount: &VolumeMount, privileged: bool) -> Result<api::MountPropagation, VolumeError> {
    match mount.mount_propagation.as_deref() {
        None | Some("None") => Ok(api::MountPropagation::PropagationPrivate),
        Some("HostToContainer") => Ok(api::MountPropagation::PropagationHostToContainer),
        Some("Bidirectional") if privileged => Ok(api::MountPropagation::PropagationBidirectional),
        Some("Bidirectional") => {
            Err(VolumeError::Mount("Bidirectional mount propagation is available only to privileged containers".into()))
        }
        Some(other) => Err(VolumeError::Mount(format!("invalid MountPropagation mode: {other}"))),
    }
}

/// `$(VAR)` references replaced from `env` (`$$` is a literal `$`); a missing or empty variable is an error.
pub fn expand_sub_path(expr: &str, env: &BTreeMap<String, String>) -> Result<String, VolumeError> {
    let mut out = String::new();
    let mut missing = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.get(name).filter(|v| !v.is_empty()) {
                Some(value) => out.push_str(value),
                None => {
                    missing.insert(name.to_owned());
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if !missing.is_empty() {
        return Err(VolumeError::Mount(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(out)
}

/// The host path of `sub_path` in the volume at `volume`: relative, no `..`,
/// created (with the volume's mode) when missing, and not leaving the volume through symlinks.
fn prepare_sub_path(
    volume: &Path,
    sub_path: &str,
    mount: &VolumeMount,
    container: &str,
) -> Result<PathBuf, VolumeError> {
    if Path::new(sub_path).is_absolute() {
        return Err(VolumeError::Mount(format!("error SubPath `{sub_path}` must not be an absolute path")));
    }
    if Path::new(sub_path).components().any(|c| c == Component::ParentDir) {
        return Err(VolumeError::Mount(format!("unable to provision SubPath `{sub_path}`: must not contain '..'")));
    }
    let host_path = volume.join(sub_path);
    if std::fs::symlink_metadata(&host_path).is_err() {
        let mode = std::fs::metadata(volume).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        let made = std::fs::create_dir_all(&host_path).and_then(|()| match mode {
            Ok(mode) => {
                std::fs::set_permissions(&host_path, std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
            }
            Err(_) => Ok(()),
        });
        if let Err(error) = made {
            tracing::warn!(%error, path = %host_path.display(), "creating a subPath dir failed");
            return Err(VolumeError::Mount(format!(
                "failed to create subPath directory for volumeMount {:?} of container {container:?}",
                mount.name
            )));
        }
    }
    let (Ok(real), Ok(root)) = (host_path.canonicalize(), volume.canonicalize()) else {
        return Err(VolumeError::Mount(format!(
            "failed to prepare subPath for volumeMount {:?} of container {container:?}",
            mount.name
        )));
    };
    if !real.starts_with(&root) {
        return Err(VolumeError::Mount(format!(
            "subpath {:?} not within volume path {:?}",
            real.display().to_string(),
            root.display().to_string()
        )));
    }
    Ok(host_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_expressions_expand_from_the_env_and_report_missing_variables() {
        let env = BTreeMap::from([("POD".to_owned(), "web-0".to_owned())]);
        assert_eq!(expand_sub_path("logs/$(POD)/$$x", &env).expect("expands"), "logs/web-0/$x");
        let error = expand_sub_path("$(NOPE)/$(ALSO)", &env).expect_err("missing");
        assert_eq!(error.to_string(), "missing value for ALSO, NOPE");
    }
}
