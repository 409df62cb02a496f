//! Pod volumes on the node: emptyDir, hostPath, configMap, secret,
//! downwardAPI, projected (with service account tokens) and
//! persistentVolumeClaims bound to local/hostPath volumes; and the CRI
//! mounts of each container.
//!
//! Layout as upstream's kubelet: `<pods_dir>/<uid>/volumes/kubernetes.io~<plugin>/<volume>`.
//! Secret, projected and downwardAPI volumes live on a tmpfs each (when this
//! process may mount; a plain dir otherwise); emptyDir medium Memory too.

mod api_objects;
mod atomic_writer;
mod downward_api;
mod empty_dir;
mod host_path;
mod mounts;
mod ownership;
mod projected;
mod pvc;
mod quantity;
mod tmpfs;
mod token;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaimVolumeSource, Pod, Volume};

use self::api_objects::{DEFAULT_MODE, Kind};
pub use self::atomic_writer::DATA_DIR_NAME;
use self::atomic_writer::{AtomicWriter, Payload, WriteError};
pub use self::downward_api::format_map;
pub use self::mounts::expand_sub_path;
use self::token::TokenManager;
use crate::runtime::api;

/// Why a pod's volumes could not be set up (the worker reports it as a FailedMount event).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A volume's source could not be made ready (message as upstream's MountVolume.SetUp failures).
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    SetUp { volume: String, message: String },
    /// A container mounts a volume the pod does not have, or a subPath that escapes it.
    #[error("{0}")]
    Mount(String),
    /// Removing a pod's volumes failed.
    #[error("tearing down the volumes of pod {uid}: {message}")]
    TearDown { uid: String, message: String },
}

/// A volume made ready on the host, to be bind-mounted into containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    /// The directory (or file) on the host.
    pub path: PathBuf,
    /// Whether every mount of it is read-only (secret/configMap/projected/downwardAPI, read-only sources).
    pub read_only: bool,
}

/// A pod's volumes by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    pub volumes: BTreeMap<String, HostVolume>,
}

/// Sets up and tears down pods' volumes under `<root>/pods/<uid>/volumes`.
#[derive(Clone)]
pub struct VolumeManager {
    client: kube::Client,
    pods_dir: PathBuf,
    tokens: Arc<TokenManager>,
    /// Cleared after a tmpfs mount was refused, so that API-data volumes use plain dirs from then on.
    may_mount: Arc<AtomicBool>,
    /// For a simulated node: nothing outside `pods_dir` is touched, nothing is mounted or chowned.
    simulated: bool,
}

impl std::fmt::Debug for VolumeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeManager").field("pods_dir", &self.pods_dir).finish_non_exhaustive()
    }
}

impl VolumeManager {
    /// A manager reading ConfigMaps, Secrets, PVCs/PVs and tokens with `client`, keeping pods' volumes under `pods_dir`.
    pub fn new(client: kube::Client, pods_dir: PathBuf) -> Self {
        Self { client, pods_dir, tokens: Arc::default(), may_mount: Arc::new(AtomicBool::new(true)), simulated: false }
    }

    /// For a simulated node: volumes are still resolved from the API (a missing ConfigMap fails
    /// the mount as on a real node) and written under `pods_dir`, but hostPath and PersistentVolume
    /// paths are not touched on the host, and nothing is mounted or chowned.
    pub fn simulated(mut self) -> Self {
        self.simulated = true;
        self.may_mount.store(false, Ordering::Relaxed);
        self
    }

    /// The dir of the volumes of the pod with `uid`.
    pub fn pod_volumes_dir(&self, uid: &str) -> PathBuf {
        self.pods_dir.join(uid).join("volumes")
    }

    /// Makes every volume of `pod` ready on the host. Idempotent: called on every pod sync, it refreshes
    /// the contents of configMap, secret, downwardAPI and projected volumes in place (atomically).
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let uid = pod
            .metadata
            .uid
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| VolumeError::SetUp { volume: String::new(), message: "the pod has no uid".into() })?;
        let span = tracing::debug_span!("volumes", pod = pod.metadata.name.as_deref().unwrap_or_default(), uid);
        let _entered = span.enter();
        let mut volumes = PodVolumes::default();
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let host = self
                .setup_volume(pod, uid, volume)
                .await
                .map_err(|message| VolumeError::SetUp { volume: volume.name.clone(), message })?;
            volumes.volumes.insert(volume.name.clone(), host);
        }
        Ok(volumes)
    }

    async fn setup_volume(&self, pod: &Pod, uid: &str, volume: &Volume) -> Result<HostVolume, String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let fs_group = pod
            .spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref())
            .and_then(|c| c.fs_group)
            .and_then(|g| u32::try_from(g).ok())
            .filter(|_| !self.simulated);
        let dir = |plugin: &str| self.pod_volumes_dir(uid).join(format!("kubernetes.io~{plugin}")).join(&volume.name);
        let read_only = |path: PathBuf| HostVolume { path, read_only: true };
        if let Some(source) = &volume.empty_dir {
            let path = dir("empty-dir");
            if self.simulated {
                std::fs::create_dir_all(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
                return Ok(HostVolume { path, read_only: false });
            }
            empty_dir::setup(&path, source, fs_group)?;
            return Ok(HostVolume { path, read_only: false });
        }
        if let Some(source) = &volume.host_path {
            if !self.simulated {
                host_path::setup(source)?;
            }
            return Ok(HostVolume { path: PathBuf::from(&source.path), read_only: false });
        }
        if let Some(source) = &volume.config_map {
            let optional = source.optional.unwrap_or(false);
            let object = api_objects::config_map(&self.client, namespace, &source.name, optional).await?;
            let data = api_objects::config_map_data(object.as_ref());
            let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = api_objects::make_payload(Kind::ConfigMap, &data, source.items.as_deref(), mode, optional)?;
            let path = dir("configmap");
            self.write(&path, &payload, fs_group, false)?;
            return Ok(read_only(path));
        }
        if let Some(source) = &volume.secret {
            let name = source.secret_name.as_deref().unwrap_or_default();
            let optional = source.optional.unwrap_or(false);
            let object = api_objects::secret(&self.client, namespace, name, optional).await?;
            let data = api_objects::secret_data(object.as_ref());
            let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = api_objects::make_payload(Kind::Secret, &data, source.items.as_deref(), mode, optional)?;
            let path = dir("secret");
            self.write(&path, &payload, fs_group, true)?;
            return Ok(read_only(path));
        }
        if let Some(source) = &volume.downward_api {
            let mode = source.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = downward_api::make_payload(pod, source.items.as_deref().unwrap_or_default(), mode)?;
            let path = dir("downward-api");
            self.write(&path, &payload, fs_group, true)?;
            return Ok(read_only(path));
        }
        if let Some(source) = &volume.projected {
            let payload = projected::make_payload(&self.client, &self.tokens, pod, source, fs_group).await?;
            let path = dir("projected");
            self.write(&path, &payload, fs_group, true)?;
            return Ok(read_only(path));
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if let Some(source) = &volume.persistent_volume_claim {
            let (path, read_only) = pvc::setup(&self.client, namespace, node, source).await?;
            return Ok(HostVolume { path: PathBuf::from(path), read_only });
        }
        if volume.ephemeral.is_some() {
            // A generic ephemeral volume is the claim `<pod>-<volume>` that the ephemeral controller makes.
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            let claim = PersistentVolumeClaimVolumeSource {
                claim_name: format!("{pod_name}-{}", volume.name),
                read_only: None,
            };
            let (path, read_only) = pvc::setup(&self.client, namespace, node, &claim).await?;
            return Ok(HostVolume { path: PathBuf::from(path), read_only });
        }
        Err("this volume type is not supported by this kubelet".into())
    }

    /// Writes an API-data payload into `dir` (first mounting a tmpfs there when `memory`), then applies fsGroup.
    fn write(&self, dir: &Path, payload: &Payload, fs_group: Option<u32>, memory: bool) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        if memory
            && self.may_mount.load(Ordering::Relaxed)
            && !tmpfs::is_mount_point(dir)
            && let Err(error) = tmpfs::mount(dir, None)
        {
            tracing::warn!(%error, "secrets and projected volumes go to plain dirs: this process may not mount");
            self.may_mount.store(false, Ordering::Relaxed);
        }
        let writer = AtomicWriter::new(dir);
        let own = |data: &Path| match fs_group {
            Some(group) => ownership::set_volume_ownership(data, group, true).map_err(|e| WriteError::Io {
                step: "fsGroup",
                path: data.to_owned(),
                source: std::io::Error::other(e),
            }),
            None => Ok(()),
        };
        let written = writer.write(payload, own).map_err(|e| e.to_string())?;
        if written && let Some(group) = fs_group {
            ownership::set_volume_ownership(dir, group, true).map_err(|e| e.to_string())?;
        }
        if written {
            tracing::debug!(dir = %dir.display(), "volume contents updated");
        }
        Ok(())
    }

    /// Removes what [`setup`](Self::setup) made for the pod with `uid` (unmounting tmpfs volumes).
    pub async fn teardown(&self, uid: &str) -> Result<(), VolumeError> {
        self.tokens.forget(uid);
        let root = self.pod_volumes_dir(uid);
        let failed = |message: String| VolumeError::TearDown { uid: uid.to_owned(), message };
        let plugins = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(failed(format!("listing {}: {e}", root.display()))),
        };
        for plugin in plugins.flatten() {
            for volume in std::fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
                tmpfs::unmount(&volume.path()).map_err(|e| failed(e.to_string()))?;
            }
        }
        std::fs::remove_dir_all(&root).map_err(|e| failed(format!("removing {}: {e}", root.display())))
    }
}

/// The CRI mounts of `container`'s volumeMounts (subPath, subPathExpr expanded with `env`, readOnly,
/// mountPropagation) over the pod's host volumes.
pub fn container_mounts(
    container: &Container,
    volumes: &PodVolumes,
    env: &BTreeMap<String, String>,
) -> Result<Vec<api::Mount>, VolumeError> {
    mounts::container_mounts(container, volumes, env)
}
