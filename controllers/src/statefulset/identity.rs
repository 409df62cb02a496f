//! A StatefulSet pod's identity (upstream's stateful_set_utils): its name
//! `<set>-<ordinal>`, its labels, hostname and subdomain, the volumes of its
//! claims, and what the controller asks of a pod's state.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, Volume};
use kube::ResourceExt;

use crate::history::REVISION_HASH_LABEL;
use crate::pods;

/// The label naming the pod (so a Service can select one replica).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label carrying the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The parent's name and the ordinal a pod name ends with (`web-3` → `("web", 3)`).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

/// The pod's ordinal (`None` when its name has none).
pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).map(|(_, o)| o)
}

/// `spec.replicas` (1 when unset).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0)
}

/// The first ordinal (`spec.ordinals.start`, else 0).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
}

/// The pod's ordinal is one the set wants now.
pub fn in_range(set: &StatefulSet, pod: &Pod) -> bool {
    ordinal(pod).is_some_and(|o| o >= start_ordinal(set) && o < start_ordinal(set) + replicas(set))
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.name_any())
}

/// `<template>-<set>-<ordinal>`.
pub fn claim_name(set: &StatefulSet, template: &str, ordinal: i32) -> String {
    format!("{template}-{}-{ordinal}", set.name_any())
}

/// The pod's name says it belongs to the set.
pub fn is_member(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).is_some_and(|(p, _)| p == set.name_any())
}

/// The revision a pod was made from (its `controller-revision-hash` label).
pub fn revision_of(pod: &Pod) -> &str {
    pod.labels().get(REVISION_HASH_LABEL).map_or("", String::as_str)
}

/// Name, namespace and pod-name label fit the set (upstream's identityMatches).
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else { return false };
    is_member(set, pod)
        && pod.metadata.name.as_deref() == Some(pod_name(set, ordinal).as_str())
        && pod.metadata.namespace == set.metadata.namespace
        && pod.labels().get(POD_NAME_LABEL) == pod.metadata.name.as_ref()
}

/// The names of the set's claim templates.
pub fn claim_templates(set: &StatefulSet) -> Vec<String> {
    let templates = set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_ref());
    templates.into_iter().flatten().map(|t| t.name_any()).collect()
}

/// The pod has a volume for each claim template, pointing at its claim (upstream's storageMatches).
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else { return false };
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    claim_templates(set).iter().all(|template| {
        volumes.into_iter().flatten().find(|v| &v.name == template).is_some_and(|v| {
            v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str())
                == Some(claim_name(set, template, ordinal).as_str())
        })
    })
}

/// Sets the labels of the pod's identity (upstream's updateIdentity).
pub fn update_identity(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let name = pod_name(set, ordinal);
    pod.metadata.name = Some(name.clone());
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// Points the pod's volumes at its claims, replacing same-named volumes (upstream's updateStorage).
pub fn update_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let templates = claim_templates(set);
    let Some(spec) = pod.spec.as_mut() else { return };
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|template| Volume {
            name: template.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(set, template, ordinal),
                read_only: Some(false),
            }),
            ..Volume::default()
        })
        .collect();
    volumes.extend(spec.volumes.take().into_iter().flatten().filter(|v| !templates.contains(&v.name)));
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// A new pod of `set` (at the revision whose template `set` carries) for `ordinal`
/// (upstream's newStatefulSetPod).
pub fn new_pod(set: &StatefulSet, ordinal: i32) -> Pod {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let mut pod = crate::replicaset::pod_from_template(&template, set);
    update_identity(set, &mut pod, ordinal);
    let name = pod.metadata.name.clone();
    let subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    if let Some(spec) = pod.spec.as_mut() {
        spec.hostname = name;
        spec.subdomain = subdomain;
    }
    update_storage(set, &mut pod, ordinal);
    pod
}

/// What a new pod for `ordinal` is made from: the current revision below the
/// partition, the update revision from it on (upstream's newVersionedStatefulSetPod).
pub struct Versions<'a> {
    pub current_set: &'a StatefulSet,
    pub update_set: &'a StatefulSet,
    pub current_revision: &'a str,
    pub update_revision: &'a str,
    /// The set's status.currentReplicas (used when a RollingUpdate strategy has no rollingUpdate).
    pub current_replicas: i32,
}

impl Versions<'_> {
    /// The new pod for `ordinal`, labelled with its revision.
    pub fn pod(&self, ordinal: i32) -> Pod {
        let strategy = self.current_set.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let is_rolling = strategy.and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate";
        let start = start_ordinal(self.current_set);
        // Upstream's condition reads `rolling && (no rollingUpdate && below currentReplicas) || (rollingUpdate && below partition)`.
        let current = (is_rolling && rolling.is_none() && ordinal < start + self.current_replicas)
            || rolling.is_some_and(|r| ordinal < start + r.partition.unwrap_or(0));
        let (set, revision) = match current {
            true => (self.current_set, self.current_revision),
            false => (self.update_set, self.update_revision),
        };
        let mut pod = new_pod(set, ordinal);
        pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(REVISION_HASH_LABEL.into(), revision.to_owned());
        pod
    }
}

/// Created by the API server (it has a phase).
pub fn is_created(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| !p.is_empty())
}

/// Running with the Ready condition.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    pods::phase(pod) == "Running" && pods::is_ready(pod)
}

/// Running, ready and not being deleted.
pub fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !pods::is_terminating(pod)
}

/// Finished (Failed or Succeeded): to be replaced.
pub fn is_finished(pod: &Pod) -> bool {
    is_created(pod) && matches!(pods::phase(pod), "Failed" | "Succeeded")
}

/// Created and still Pending.
pub fn is_pending(pod: &Pod) -> bool {
    is_created(pod) && pods::phase(pod) == "Pending"
}
