//! The scale of a pod's controller (upstream's podControllerFinders):
//! ReplicationController, Deployment (through its ReplicaSet), ReplicaSet,
//! StatefulSet, else any kind's scale subresource.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;

use crate::ownership::controller_of;

/// The group of an apiVersion (`apps/v1` → `apps`, `v1` → ``).
fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn is(reference: &OwnerReference, kind: &str, groups: &[&str]) -> bool {
    reference.kind == kind && groups.contains(&group(&reference.api_version))
}

/// Sums the scales of the pods' controllers (each counted once); the names
/// of pods without a controller; an error naming a pod whose controller is not found.
pub async fn expected_scale(
    client: &kube::Client,
    namespace: &str,
    pods: &[Arc<Pod>],
) -> Result<(i32, Vec<String>), String> {
    let mut scales: BTreeMap<String, i32> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for pod in pods {
        let Some(reference) = controller_of(&pod.metadata) else {
            unmanaged.push(pod.metadata.name.clone().unwrap_or_default());
            continue;
        };
        if !seen.insert(reference.uid.clone()) {
            continue;
        }
        match find(client, namespace, reference).await? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => {
                return Err(format!(
                    "found no controllers for pod {:?}",
                    pod.metadata.name.clone().unwrap_or_default()
                ));
            }
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// The (UID, replicas) of the controller behind a controller reference.
async fn find(
    client: &kube::Client,
    namespace: &str,
    reference: &OwnerReference,
) -> Result<Option<(String, i32)>, String> {
    let api_error = |e: kube::Error| e.to_string();
    let matching = |uid: Option<&String>| uid == Some(&reference.uid);
    if is(reference, "ReplicationController", &[""]) {
        let api: Api<ReplicationController> = Api::namespaced(client.clone(), namespace);
        if let Some(rc) = api.get_opt(&reference.name).await.map_err(api_error)?
            && matching(rc.metadata.uid.as_ref())
        {
            return Ok(Some((reference.uid.clone(), rc.spec.and_then(|s| s.replicas).unwrap_or(1))));
        }
    }
    if is(reference, "ReplicaSet", &["apps", "extensions"]) {
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
        if let Some(rs) = api.get_opt(&reference.name).await.map_err(api_error)?
            && matching(rs.metadata.uid.as_ref())
        {
            match controller_of(&rs.metadata) {
                Some(owner) if is(owner, "Deployment", &["apps", "extensions"]) => {
                    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                    if let Some(deployment) = deployments.get_opt(&owner.name).await.map_err(api_error)?
                        && deployment.metadata.uid.as_deref() == Some(owner.uid.as_str())
                    {
                        let replicas = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
                        return Ok(Some((owner.uid.clone(), replicas)));
                    }
                }
                Some(owner) if owner.kind == "Deployment" => {}
                _ => return Ok(Some((reference.uid.clone(), rs.spec.and_then(|s| s.replicas).unwrap_or(1)))),
            }
        }
    }
    if is(reference, "StatefulSet", &["apps"]) {
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
        if let Some(set) = api.get_opt(&reference.name).await.map_err(api_error)?
            && matching(set.metadata.uid.as_ref())
        {
            return Ok(Some((reference.uid.clone(), set.spec.and_then(|s| s.replicas).unwrap_or(1))));
        }
    }
    scale_of(client, namespace, reference).await
}

/// Any kind's scale subresource.
async fn scale_of(
    client: &kube::Client,
    namespace: &str,
    reference: &OwnerReference,
) -> Result<Option<(String, i32)>, String> {
    let (group, version) = match reference.api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", reference.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &reference.kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    match api.get_subresource("scale", &reference.name).await {
        Ok(scale) => {
            if scale.metadata.uid.as_deref() != Some(reference.uid.as_str()) {
                return Ok(None);
            }
            let replicas = scale.data.pointer("/spec/replicas").and_then(serde_json::Value::as_i64).unwrap_or(0);
            Ok(Some((reference.uid.clone(), i32::try_from(replicas).unwrap_or(i32::MAX))))
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            if capabilities.subresources.iter().any(|(sub, _)| sub.plural == "scale") {
                Ok(None)
            } else {
                let resource_group =
                    if group.is_empty() { resource.plural.clone() } else { format!("{}.{group}", resource.plural) };
                Err(format!("{resource_group} does not implement the scale subresource"))
            }
        }
        Err(error) => Err(error.to_string()),
    }
}
