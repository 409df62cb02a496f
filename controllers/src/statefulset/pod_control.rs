//! Creating, updating and deleting a StatefulSet's pods and their claims,
//! with upstream's events (StatefulPodControl): "create Pod web-0 in
//! StatefulSet web successful", "create Claim data-web-0 Pod web-0 in
//! StatefulSet web success", and the Failed* warnings.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Shared, claims, identity};
use crate::Error;
use crate::replicaset::api_message;

fn title(verb: &str) -> String {
    let mut chars = verb.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Upstream's recordPodEvent.
async fn pod_event(shared: &Shared, set: &StatefulSet, verb: &str, pod: &str, error: Option<&str>) {
    let reference = set.object_ref(&());
    let name = set.name_any();
    match error {
        None => {
            let message = format!("{verb} Pod {pod} in StatefulSet {name} successful");
            shared.events.normal(&reference, &format!("Successful{}", title(verb)), message).await;
        }
        Some(error) => {
            let message = format!("{verb} Pod {pod} in StatefulSet {name} failed error: {error}");
            shared.events.warning(&reference, &format!("Failed{}", title(verb)), message).await;
        }
    }
}

/// Upstream's recordClaimEvent.
async fn claim_event(shared: &Shared, set: &StatefulSet, verb: &str, pod: &str, claim: &str, error: Option<&str>) {
    let reference = set.object_ref(&());
    let name = set.name_any();
    match error {
        None => {
            let message = format!("{verb} Claim {claim} Pod {pod} in StatefulSet {name} success");
            shared.events.normal(&reference, &format!("Successful{}", title(verb)), message).await;
        }
        Some(error) => {
            let message = format!("{verb} Claim {claim} for Pod {pod} in StatefulSet {name} failed error: {error}");
            shared.events.warning(&reference, &format!("Failed{}", title(verb)), message).await;
        }
    }
}

fn cached_claim(shared: &Shared, set: &StatefulSet, name: &str) -> Option<std::sync::Arc<PersistentVolumeClaim>> {
    shared.claims.get(&ObjectRef::new(name).within(&set.namespace().unwrap_or_default()))
}

/// Creates the pod's missing claims, owned as the retention policy says
/// (upstream's createPersistentVolumeClaims).
pub async fn create_claims(shared: &Shared, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let Some(ordinal) = identity::ordinal(pod) else { return Ok(()) };
    let api: Api<PersistentVolumeClaim> =
        Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    let pod_name = pod.name_any();
    let mut failures = Vec::new();
    for (_, mut claim) in claims::claims_for(set, ordinal) {
        let name = claim.name_any();
        match cached_claim(shared, set, &name) {
            Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                failures.push(format!("pvc {name} is being deleted"));
            }
            Some(_) => {}
            None => {
                let refs = claims::wanted_refs(&claim, set, pod);
                claim.metadata.owner_references = (!refs.is_empty()).then_some(refs);
                match api.create(&PostParams::default(), &claim).await {
                    Ok(_) => claim_event(shared, set, "create", &pod_name, &name, None).await,
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(error) => {
                        let message = format!("failed to create PVC {name}: {}", api_message(&error));
                        claim_event(shared, set, "create", &pod_name, &name, Some(&api_message(&error))).await;
                        failures.push(message);
                    }
                }
            }
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(Error::Invalid(failures.join("; "))),
    }
}

/// Creates the pod after its claims (upstream's CreateStatefulPod); a pod of that
/// name that exists already (the cache is behind) is left alone.
pub async fn create_pod(shared: &Shared, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let name = pod.name_any();
    if let Err(error) = create_claims(shared, set, pod).await {
        pod_event(shared, set, "create", &name, Some(&error.to_string())).await;
        return Err(error);
    }
    let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), pod).await {
        Ok(_) => {
            pod_event(shared, set, "create", &name, None).await;
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => {
            pod_event(shared, set, "create", &name, Some(&api_message(&error))).await;
            Err(error.into())
        }
    }
}

/// Deletes the pod (only that very pod: its UID is a precondition).
pub async fn delete_pod(shared: &Shared, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            pod_event(shared, set, "delete", &name, None).await;
            Ok(())
        }
        // Gone already, or replaced by a new pod of that name.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(error) => {
            pod_event(shared, set, "delete", &name, Some(&api_message(&error))).await;
            Err(error.into())
        }
    }
}

/// The pod's existing claims carry the owner references the policy wants
/// (upstream's ClaimsMatchRetentionPolicy; a missing claim is picked up later).
pub fn claims_match_policy(shared: &Shared, set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = identity::ordinal(pod) else { return true };
    claims::claims_for(set, ordinal).iter().all(|(_, claim)| {
        cached_claim(shared, set, &claim.name_any()).is_none_or(|c| claims::owner_up_to_date(&c, set, pod))
    })
}

/// Gives the pod's claims the owner references the policy wants
/// (upstream's UpdatePodClaimForRetentionPolicy).
pub async fn update_claims_for_policy(shared: &Shared, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let Some(ordinal) = identity::ordinal(pod) else { return Ok(()) };
    let api: Api<PersistentVolumeClaim> =
        Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
    for (_, wanted) in claims::claims_for(set, ordinal) {
        let name = wanted.name_any();
        let Some(claim) = cached_claim(shared, set, &name) else { continue };
        if claims::has_unexpected_controller(&claim, set, pod) {
            let message = format!(
                "PersistentVolumeClaim {name} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim"
            );
            shared.events.warning(&set.object_ref(&()), "ConflictingController", message).await;
        }
        if claims::owner_up_to_date(&claim, set, pod) {
            continue;
        }
        let refs = claims::wanted_refs(&claim, set, pod);
        let patch =
            json!({ "metadata": { "ownerReferences": refs, "resourceVersion": claim.metadata.resource_version } });
        if let Err(error) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            return Err(Error::Invalid(format!(
                "could not update claim {name} for delete policy ownerRefs: {}",
                api_message(&error)
            )));
        }
    }
    Ok(())
}

/// A claim of the pod still refers to an earlier pod of its name and will be
/// deleted: the pod must wait (upstream's PodClaimIsStale).
pub fn claim_is_stale(shared: &Shared, set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = identity::ordinal(pod) else { return false };
    claims::claims_for(set, ordinal)
        .iter()
        .any(|(_, claim)| cached_claim(shared, set, &claim.name_any()).is_some_and(|c| claims::is_stale(&c, set, pod)))
}

/// Brings a live pod back to its identity, storage and claim ownership (upstream's
/// UpdateStatefulPod; a pod's volumes cannot change, so missing claims are only created).
pub async fn update_pod(shared: &Shared, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let name = pod.name_any();
    let result = async {
        if !identity::storage_matches(set, pod) {
            create_claims(shared, set, pod).await?;
        }
        if !claims_match_policy(shared, set, pod) {
            update_claims_for_policy(shared, set, pod).await?;
        }
        if !identity::identity_matches(set, pod) {
            let mut wanted = pod.clone();
            let ordinal = identity::ordinal(pod).unwrap_or_default();
            identity::update_identity(set, &mut wanted, ordinal);
            let api: Api<Pod> = Api::namespaced(shared.ctx.client.clone(), &set.namespace().unwrap_or_default());
            let patch = json!({ "metadata": { "labels": wanted.metadata.labels,
                                              "resourceVersion": pod.metadata.resource_version } });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    let error = result.as_ref().err().map(ToString::to_string);
    pod_event(shared, set, "update", &name, error.as_deref()).await;
    result
}
