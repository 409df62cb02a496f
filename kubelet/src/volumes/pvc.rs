//! persistentVolumeClaim volumes: the claim's bound PersistentVolume, served
//! from this node when it is a `local` or `hostPath` volume (the checks and
//! messages of upstream's desired-state populator and local/hostPath plugins).

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimVolumeSource,
};
use kube::Api;

use super::host_path;
use super::token::api_message;

/// The host path of a claim's volume and whether it is read-only.
pub async fn setup(
    client: &kube::Client,
    namespace: &str,
    node_name: Option<&str>,
    source: &PersistentVolumeClaimVolumeSource,
) -> Result<(String, bool), String> {
    let claim_name = &source.claim_name;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let claim = claims.get(claim_name).await.map_err(|e| {
        format!("error processing PVC {namespace}/{claim_name}: failed to fetch PVC {namespace}/{claim_name} from API server. err={}", api_message(e))
    })?;
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(format!("can't start pod because PVC {namespace}/{claim_name} is being deleted"));
    }
    let phase = claim.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {namespace}/{claim_name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
        ));
    }
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let volume = volumes
        .get(&volume_name)
        .await
        .map_err(|e| format!("failed to fetch PV {volume_name} from API server. err={}", api_message(e)))?;
    let spec = volume.spec.unwrap_or_default();
    let claim_uid = claim.metadata.uid.clone().unwrap_or_default();
    let Some(claim_ref) = &spec.claim_ref else {
        return Err(format!(
            "found PV object {volume_name} but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim"
        ));
    };
    let ref_uid = claim_ref.uid.clone().unwrap_or_default();
    if ref_uid != claim_uid {
        return Err(format!(
            "found PV object {volume_name} but its pv.Spec.ClaimRef.UID ({ref_uid}) does not point to claim.UID ({claim_uid})"
        ));
    }
    if let (Some(node), Some(affinity)) = (node_name, spec.node_affinity.as_ref().and_then(|a| a.required.as_ref()))
        && !affinity.node_selector_terms.iter().any(|term| term_allows(term, node))
    {
        return Err(format!("volume node affinity conflict: PV {volume_name} is not available on node {node}"));
    }
    let read_only = source.read_only.unwrap_or(false);
    if let Some(local) = &spec.local {
        if !std::path::Path::new(&local.path).exists() {
            return Err(format!("path {:?} does not exist", local.path));
        }
        return Ok((local.path.clone(), read_only));
    }
    if let Some(host) = &spec.host_path {
        host_path::setup(&HostPathVolumeSource { path: host.path.clone(), type_: host.type_.clone() })?;
        return Ok((host.path.clone(), read_only));
    }
    Err(format!("PV {volume_name} is neither a local nor a hostPath volume, the only kinds this kubelet mounts"))
}

/// A loose reading of node affinity: terms on the node's hostname label (or its name) must name this node;
/// terms on other labels are taken as met.
fn term_allows(term: &k8s_openapi::api::core::v1::NodeSelectorTerm, node: &str) -> bool {
    term.match_expressions.iter().flatten().all(|expression| {
        if expression.key != "kubernetes.io/hostname" {
            return true;
        }
        let values = expression.values.as_deref().unwrap_or_default();
        match expression.operator.as_str() {
            "In" => values.iter().any(|v| v == node),
            "NotIn" => !values.iter().any(|v| v == node),
            _ => true,
        }
    }) && term.match_fields.iter().flatten().all(|field| {
        let values = field.values.as_deref().unwrap_or_default();
        field.key != "metadata.name" || field.operator != "In" || values.iter().any(|v| v == node)
    })
}
