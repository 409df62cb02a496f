//! Binding a claim to the local volume chosen for its pod's node (what
//! kube-controller-manager's PV binder completes upstream; skiff has no such
//! controller, so the scheduler does it), and marking claims a provisioner
//! should serve with the chosen node.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn message(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    }
}

/// Binds `claim` to `volume` both ways (claimRef, volumeName, phases Bound).
pub async fn bind(
    client: &kube::Client,
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
) -> Result<(), String> {
    let namespace = claim.metadata.namespace.clone().unwrap_or_default();
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    let volume_name = volume.metadata.name.clone().unwrap_or_default();
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let params = PatchParams::default();
    let claim_ref = json!({ "metadata": { "annotations": { "pv.kubernetes.io/bound-by-controller": "yes" },
        "resourceVersion": volume.metadata.resource_version },
        "spec": { "claimRef": { "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": namespace,
        "name": claim_name, "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version } } });
    volumes.patch(&volume_name, &params, &Patch::Merge(&claim_ref)).await.map_err(message)?;
    volumes
        .patch_status(&volume_name, &params, &Patch::Merge(&json!({ "status": { "phase": "Bound" } })))
        .await
        .map_err(message)?;
    let spec = volume.spec.as_ref();
    let bound = json!({ "metadata": { "annotations": { "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes" } }, "spec": { "volumeName": volume_name } });
    claims.patch(&claim_name, &params, &Patch::Merge(&bound)).await.map_err(message)?;
    let status = json!({ "status": { "phase": "Bound", "accessModes": spec.and_then(|s| s.access_modes.clone()),
        "capacity": spec.and_then(|s| s.capacity.clone()) } });
    claims.patch_status(&claim_name, &params, &Patch::Merge(&status)).await.map_err(message)?;
    Ok(())
}

/// Marks a claim for its provisioner with the node its pod goes to.
pub async fn select_node(client: &kube::Client, claim: &PersistentVolumeClaim, node: &str) -> Result<(), String> {
    let claims: Api<PersistentVolumeClaim> =
        Api::namespaced(client.clone(), claim.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({ "metadata": { "annotations": { "volume.kubernetes.io/selected-node": node } } });
    let name = claim.metadata.name.clone().unwrap_or_default();
    claims.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(message)
}
