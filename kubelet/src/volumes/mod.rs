//! Pod volumes on the node: emptyDir, hostPath, configMap, secret,
//! downwardAPI, projected (with service account tokens) and
//! persistentVolumeClaims bound to local/hostPath volumes; and the CRI
//! mounts of each container.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

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
}

impl std::fmt::Debug for VolumeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeManager").field("pods_dir", &self.pods_dir).finish_non_exhaustive()
    }
}

impl VolumeManager {
    /// A manager reading ConfigMaps, Secrets, PVCs/PVs and tokens with `client`, keeping pods' volumes under `pods_dir`.
    pub fn new(client: kube::Client, pods_dir: PathBuf) -> Self {
        Self { client, pods_dir }
    }

    /// Makes every volume of `pod` ready on the host. Idempotent: called on every pod sync, it refreshes
    /// the contents of configMap, secret, downwardAPI and projected volumes in place (atomically).
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let _ = (&self.client, pod);
        Err(VolumeError::SetUp { volume: String::new(), message: "volumes are not implemented yet".into() })
    }

    /// Removes what [`setup`](Self::setup) made for the pod with `uid` (unmounting tmpfs volumes).
    pub async fn teardown(&self, uid: &str) -> Result<(), VolumeError> {
        let _ = uid;
        Ok(())
    }
}

/// The CRI mounts of `container`'s volumeMounts (subPath, subPathExpr expanded with `env`, readOnly,
/// mountPropagation) over the pod's host volumes.
pub fn container_mounts(
    container: &Container,
    volumes: &PodVolumes,
    env: &BTreeMap<String, String>,
) -> Result<Vec<api::Mount>, VolumeError> {
    let _ = (container, volumes, env);
    Ok(Vec::new())
}
