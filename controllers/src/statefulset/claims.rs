//! A StatefulSet pod's PersistentVolumeClaims: built from the set's
//! volumeClaimTemplates, and owned as persistentVolumeClaimRetentionPolicy
//! says (upstream's getPersistentVolumeClaims, isClaimOwnerUpToDate and
//! updateClaimOwnerRefForSetAndPod):
//!
//! | whenScaled | whenDeleted | owner references on the claim |
//! |---|---|---|
//! | Retain | Retain | none |
//! | Retain | Delete | the set |
//! | Delete | Retain | the pod, once scaled down |
//! | Delete | Delete | the pod once scaled down, the set before |

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::identity;
use crate::ownership;

/// The set's retention policy as (whenDeleted is Delete, whenScaled is Delete).
pub fn policy(set: &StatefulSet) -> (bool, bool) {
    let policy = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |p: Option<&String>| p.map(String::as_str) == Some("Delete");
    (delete(policy.and_then(|p| p.when_deleted.as_ref())), delete(policy.and_then(|p| p.when_scaled.as_ref())))
}

/// The claims the pod with `ordinal` uses, as (template name, claim), in template order.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let spec = set.spec.as_ref();
    let selector_labels = spec.and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    let templates = spec.and_then(|s| s.volume_claim_templates.as_ref());
    templates
        .into_iter()
        .flatten()
        .map(|template| {
            let name = template.name_any();
            let mut labels = template.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            let claim = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(identity::claim_name(set, &name, ordinal)),
                    namespace: set.metadata.namespace.clone(),
                    labels: (!labels.is_empty()).then_some(labels),
                    annotations: template.metadata.annotations.clone(),
                    finalizers: template.metadata.finalizers.clone(),
                    ..ObjectMeta::default()
                },
                spec: template.spec.clone(),
                status: None,
            };
            (name, claim)
        })
        .collect()
}

/// The owner reference `owner` (of `api_version`/`kind`) would have as the claim's controller.
fn controller_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn set_ref(set: &StatefulSet) -> OwnerReference {
    ownership::controller_ref(set)
}

fn pod_ref(pod: &Pod) -> OwnerReference {
    controller_ref(&Pod::api_version(&()), &Pod::kind(&()), &pod.metadata)
}

/// The reference names the same kind and name as `owner` (whatever its UID).
fn matches_ref(reference: &OwnerReference, owner: &OwnerReference) -> bool {
    reference.api_version == owner.api_version && reference.kind == owner.kind && reference.name == owner.name
}

fn has_ref(claim: &PersistentVolumeClaim, uid: Option<&str>) -> bool {
    uid.is_some_and(|uid| claim.owner_references().iter().any(|r| r.uid == uid))
}

/// A reference to the set's or the pod's name with another UID: left by an earlier
/// object of that name.
pub fn has_stale_ref(claim: &PersistentVolumeClaim, owner: &OwnerReference) -> bool {
    claim.owner_references().iter().find(|r| matches_ref(r, owner)).is_some_and(|r| r.uid != owner.uid)
}

/// Another controller owns the claim (only matters when the policy deletes something).
pub fn has_unexpected_controller(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if policy(set) == (false, false) {
        return false;
    }
    let (ours, theirs) = (set_ref(set), pod_ref(pod));
    claim.owner_references().iter().any(|r| {
        if matches_ref(r, &ours) {
            return r.uid != ours.uid;
        }
        if matches_ref(r, &theirs) {
            return r.uid != theirs.uid;
        }
        r.controller == Some(true)
    })
}

fn has_non_controller_owner(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    let uids = [set.metadata.uid.as_deref(), pod.metadata.uid.as_deref()];
    claim.owner_references().iter().any(|r| uids.contains(&Some(r.uid.as_str())) && r.controller != Some(true))
}

/// The claim's owner references fit the policy for this pod (upstream's isClaimOwnerUpToDate).
pub fn owner_up_to_date(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if has_stale_ref(claim, &set_ref(set)) || has_stale_ref(claim, &pod_ref(pod)) {
        return true;
    }
    let (on_set, on_pod) = (has_ref(claim, set.metadata.uid.as_deref()), has_ref(claim, pod.metadata.uid.as_deref()));
    if has_unexpected_controller(claim, set, pod) {
        return !(on_set || on_pod);
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    let scaled_down = !identity::in_range(set, pod);
    match policy(set) {
        (false, false) => !on_set && !on_pod,
        (true, false) => on_set && !on_pod,
        (false, true) => !on_set && scaled_down == on_pod,
        (true, true) => scaled_down != on_set && scaled_down == on_pod,
    }
}

/// The owner references the claim should have (upstream's updateClaimOwnerRefForSetAndPod).
pub fn wanted_refs(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> Vec<OwnerReference> {
    let (ours, theirs) = (set_ref(set), pod_ref(pod));
    let unexpected = has_unexpected_controller(claim, set, pod);
    let mut refs: Vec<OwnerReference> = claim
        .owner_references()
        .iter()
        .filter(|r| !matches_ref(r, &ours) && !matches_ref(r, &theirs))
        .cloned()
        .collect();
    if unexpected {
        return refs;
    }
    let scaled_down = !identity::in_range(set, pod);
    let mut add = |owner: OwnerReference| {
        if !owner.uid.is_empty() && !refs.iter().any(|r| r.uid == owner.uid) {
            refs.push(owner);
        }
    };
    match policy(set) {
        (false, false) => {}
        (true, false) => add(ours),
        (false, true) if scaled_down => add(theirs),
        (false, true) => {}
        (true, true) if scaled_down => add(theirs),
        (true, true) => add(ours),
    }
    refs
}

/// The claim blocks creating the pod: the pod's claims are deleted when it is scaled
/// down, and this one still carries a reference to an earlier pod of that name
/// (upstream's PodClaimIsStale).
pub fn is_stale(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    policy(set).1 && has_stale_ref(claim, &pod_ref(pod))
}
