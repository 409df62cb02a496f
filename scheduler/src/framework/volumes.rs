//! The storage objects the VolumeBinding plugin reads: claims, local
//! PersistentVolumes and StorageClasses, kept current by the scheduler's watches.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

/// Claims by (namespace, name), volumes and classes by name.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    pub claims: HashMap<(String, String), Arc<PersistentVolumeClaim>>,
    pub volumes: HashMap<String, Arc<PersistentVolume>>,
    pub classes: HashMap<String, Arc<StorageClass>>,
    /// Volumes this scheduler has promised to a claim but the API does not show bound yet, by volume name.
    pub assumed: HashMap<String, (String, String)>,
}

impl Volumes {
    pub fn claim(&self, namespace: &str, name: &str) -> Option<&Arc<PersistentVolumeClaim>> {
        self.claims.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Whether a volume is free to bind: not claimed, promised, released or failed
    /// (Pending counts as free: new volumes stay Pending until a binder marks them Available).
    pub fn is_available(&self, volume: &PersistentVolume) -> bool {
        let name = volume.metadata.name.clone().unwrap_or_default();
        let claimed = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some();
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Available");
        !claimed
            && matches!(phase, "Available" | "Pending")
            && !self.assumed.contains_key(&name)
            && volume.metadata.deletion_timestamp.is_none()
    }
}
