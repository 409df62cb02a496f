//! VolumeBinding for local PersistentVolumes: a pod's bound claims must be
//! on volumes whose node affinity admits the node; claims of a
//! WaitForFirstConsumer class need an available matching volume there (or a
//! provisioner). The chosen volumes are bound when the pod is.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use crate::framework::resources::value;
use crate::framework::selectors::{any_term_matches, selector_matches};
use crate::framework::{CycleState, NodeInfo, Plugin, PodInfo, Snapshot, Status, Volumes};

pub const NAME: &str = "VolumeBinding";
/// A bound volume that the node cannot reach.
pub const ERR_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// No volume to bind a waiting claim to on the node.
pub const ERR_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// A claim of an Immediate class that is not bound yet.
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Classes whose volumes are made by hand (no provisioner).
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// The pod's claims, sorted by what they need.
#[derive(Debug, Clone, Default)]
struct Claims {
    /// Claims already bound, with their volumes.
    bound: Vec<Arc<PersistentVolume>>,
    /// Claims waiting for their first consumer, to bind to a static volume.
    to_bind: Vec<Arc<PersistentVolumeClaim>>,
}

#[derive(Debug, Default)]
pub struct VolumeBinding;

fn claim_names(pod: &PodInfo) -> Vec<String> {
    let volumes = pod.pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    volumes.iter().filter_map(|v| v.persistent_volume_claim.as_ref()).map(|c| c.claim_name.clone()).collect()
}

fn class_of(claim: &PersistentVolumeClaim) -> &str {
    claim.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or_default()
}

/// Whether the volume's node affinity admits the node (no affinity: every node).
fn reachable(volume: &PersistentVolume, node: &NodeInfo) -> bool {
    let required = volume.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref());
    required.is_none_or(|r| any_term_matches(&r.node_selector_terms, &node.labels, &node.name))
}

/// Whether a volume can serve a claim (class, access modes, size, mode, selector), ignoring nodes.
fn fits(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let (Some(vspec), Some(cspec)) = (volume.spec.as_ref(), claim.spec.as_ref()) else { return false };
    let class_ok = vspec.storage_class_name.as_deref().unwrap_or_default() == class_of(claim);
    let modes = vspec.access_modes.as_deref().unwrap_or_default();
    let modes_ok = cspec.access_modes.iter().flatten().all(|m| modes.contains(m));
    let mode = |m: Option<&String>| m.map_or("Filesystem", String::as_str).to_owned();
    let volume_mode_ok = mode(vspec.volume_mode.as_ref()) == mode(cspec.volume_mode.as_ref());
    let wanted =
        cspec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).map_or(0, value);
    let size = vspec.capacity.as_ref().and_then(|c| c.get("storage")).map_or(0, value);
    let labels = volume.metadata.labels.clone().unwrap_or_default();
    let selector_ok = cspec.selector.as_ref().is_none_or(|s| selector_matches(s, &labels));
    class_ok && modes_ok && volume_mode_ok && size >= wanted && selector_ok
}

/// For each waiting claim, the smallest free volume on the node that serves it
/// (each volume used once); `None` if some claim has none.
pub fn choose(
    volumes: &Volumes,
    claims: &[Arc<PersistentVolumeClaim>],
    node: &NodeInfo,
) -> Option<Vec<(Arc<PersistentVolumeClaim>, Arc<PersistentVolume>)>> {
    let mut taken = HashSet::new();
    let mut chosen = Vec::new();
    for claim in claims {
        let provisioned = volumes.classes.get(class_of(claim)).is_some_and(|c| c.provisioner != NO_PROVISIONER);
        let best = volumes
            .volumes
            .values()
            .filter(|v| {
                volumes.is_available(v) && !taken.contains(&v.metadata.name) && fits(v, claim) && reachable(v, node)
            })
            .min_by_key(|v| {
                v.spec.as_ref().and_then(|s| s.capacity.as_ref()).and_then(|c| c.get("storage")).map_or(0, value)
            });
        match best {
            Some(volume) => {
                taken.insert(volume.metadata.name.clone());
                chosen.push((Arc::clone(claim), Arc::clone(volume)));
            }
            // A provisioner makes a volume where the pod lands.
            None if provisioned => {}
            None => return None,
        }
    }
    Some(chosen)
}

/// The pod's claims that wait for their first consumer (for binding once the node is chosen).
pub fn waiting_claims(snapshot: &Snapshot, pod: &PodInfo) -> Vec<Arc<PersistentVolumeClaim>> {
    claim_names(pod)
        .iter()
        .filter_map(|name| snapshot.volumes.claim(&pod.namespace, name))
        .filter(|c| c.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_none_or(str::is_empty))
        .cloned()
        .collect()
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let names = claim_names(pod);
        if names.is_empty() {
            return Status::skip();
        }
        let volumes = &snapshot.volumes;
        let mut claims = Claims::default();
        for name in names {
            let Some(claim) = volumes.claim(&pod.namespace, &name) else {
                return Status::unresolvable(format!("persistentvolumeclaim \"{name}\" not found"));
            };
            if claim.metadata.deletion_timestamp.is_some() {
                return Status::unresolvable(format!("persistentvolumeclaim \"{name}\" is being deleted"));
            }
            match claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|v| !v.is_empty()) {
                Some(volume) => match volumes.volumes.get(volume) {
                    Some(volume) => claims.bound.push(Arc::clone(volume)),
                    None => {
                        return Status::unresolvable(format!(
                            "pvc {}/{name} bound to non-existent pv {volume}",
                            pod.namespace
                        ));
                    }
                },
                None => {
                    let waits = volumes
                        .classes
                        .get(class_of(claim))
                        .and_then(|c| c.volume_binding_mode.as_deref())
                        .is_some_and(|m| m == "WaitForFirstConsumer");
                    if !waits {
                        return Status::unresolvable(ERR_UNBOUND_IMMEDIATE);
                    }
                    claims.to_bind.push(Arc::clone(claim));
                }
            }
        }
        state.write(NAME, claims);
        Status::success()
    }

    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        let Some(claims) = state.read::<Claims>(NAME) else { return Status::success() };
        if claims.bound.iter().any(|v| !reachable(v, node)) {
            return Status::unresolvable(ERR_NODE_CONFLICT);
        }
        if !claims.to_bind.is_empty() && choose(&snapshot.volumes, &claims.to_bind, node).is_none() {
            return Status::unresolvable(ERR_BIND_CONFLICT);
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests;
