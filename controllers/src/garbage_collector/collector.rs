//! The workers (upstream's `attemptToDeleteItem` and `attemptToOrphan`):
//! decide from the live object and its owners whether to delete it (and
//! with which propagation), to drop references to owners that are gone or
//! waiting for it, to finish a foreground deletion, or to orphan an
//! owner's dependents.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::PropagationPolicy;

use super::Shared;
use super::graph::{Change, FOREGROUND, Identity, Node, ORPHAN, Observed};
use super::operations::{Deleted, Error, Result};

/// What the queue does with an item after a worker looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Forget,
    Requeue,
}

/// What an attempt ended with.
enum Outcome {
    Done,
    /// The object is gone: a virtual delete event was sent to the graph.
    Gone,
}

/// The owner references of an item, by the state of their owners.
#[derive(Debug, Default)]
struct Classified {
    /// The owner exists and is not waiting for its dependents.
    solid: Vec<OwnerReference>,
    /// The owner does not exist (or has another UID).
    dangling: Vec<OwnerReference>,
    /// The owner is being deleted in the foreground.
    waiting: Vec<OwnerReference>,
}

fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Looks at one object of the attemptToDelete queue.
pub async fn attempt_to_delete(shared: &Shared, uid: &str) -> Next {
    let Some(node) = shared.node(uid) else { return Next::Forget };
    match attempt_to_delete_item(shared, &node).await {
        Ok(Outcome::Gone) | Err(Error::NamespacedOwnerOfClusterScoped) => Next::Forget,
        Ok(Outcome::Done) if shared.node(uid).is_some_and(|n| n.virtual_) => Next::Requeue,
        Ok(Outcome::Done) => Next::Forget,
        Err(error) => {
            tracing::debug!(%error, item = %node.identity, "error syncing item");
            Next::Requeue
        }
    }
}

async fn attempt_to_delete_item(shared: &Shared, item: &Node) -> Result<Outcome> {
    tracing::trace!(item = %item.identity, virtual_ = item.virtual_, "processing item");
    if item.being_deleted && !item.deleting_dependents {
        return Ok(Outcome::Done);
    }
    let latest = match shared.ops.get(&item.identity).await? {
        Some(latest) if latest.uid.as_deref() == Some(item.identity.uid.as_str()) => latest,
        _ => return Ok(shared.virtual_delete(&item.identity)),
    };
    if item.deleting_dependents {
        return process_deleting_dependents(shared, item).await.map(|()| Outcome::Done);
    }
    let owners = latest.owner_references.clone().unwrap_or_default();
    if owners.is_empty() {
        return Ok(Outcome::Done);
    }
    let classified = classify(shared, item, &owners).await?;
    tracing::trace!(item = %item.identity, ?classified, "classified references");
    let version = latest.resource_version.as_deref();
    if !classified.solid.is_empty() {
        if classified.dangling.is_empty() && classified.waiting.is_empty() {
            return Ok(Outcome::Done);
        }
        // References to owners gone or waiting for their dependents are dropped: the item stays
        // (it has another owner), and no owner waits on it forever.
        let uids: Vec<String> = classified.dangling.iter().chain(&classified.waiting).map(|o| o.uid.clone()).collect();
        shared.ops.remove_owner_references(&item.identity, &uids).await?;
        return Ok(Outcome::Done);
    }
    let dependents = shared.dependents(&item.identity.uid);
    let policy = if !classified.waiting.is_empty() && !dependents.is_empty() {
        if dependents.iter().any(|d| d.deleting_dependents) {
            // A dependent waits for this item too: unblock our own references to break the cycle.
            tracing::debug!(item = %item.identity, "owner and dependent both delete in the foreground; unblocking");
            shared.ops.unblock_owner_references(&item.identity, &item.owners).await?;
        }
        PropagationPolicy::Foreground
    } else if has_finalizer(&latest, ORPHAN) {
        PropagationPolicy::Orphan
    } else if has_finalizer(&latest, FOREGROUND) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    tracing::debug!(item = %item.identity, ?policy, "deleting item");
    match shared.ops.delete(&item.identity, version, &owners, policy).await? {
        Deleted::Yes => Ok(Outcome::Done),
        Deleted::NotFound => Ok(shared.virtual_delete(&item.identity)),
    }
}

/// An owner deleting in the foreground: done when no dependent blocks it any more, else
/// its blocking dependents are looked at.
async fn process_deleting_dependents(shared: &Shared, item: &Node) -> Result<()> {
    let blocking = shared.blocking_dependents(&item.identity.uid);
    if blocking.is_empty() {
        tracing::debug!(item = %item.identity, "removing the foregroundDeletion finalizer");
        return shared.ops.remove_finalizer(&item.identity, FOREGROUND).await;
    }
    for dependent in blocking.iter().filter(|d| !d.deleting_dependents) {
        shared.attempt_to_delete.add(dependent.identity.uid.clone());
    }
    Ok(())
}

async fn classify(shared: &Shared, item: &Node, owners: &[OwnerReference]) -> Result<Classified> {
    let mut classified = Classified::default();
    for reference in owners {
        match owner_of(shared, reference, &item.identity).await? {
            None => classified.dangling.push(reference.clone()),
            Some(owner) if owner.deletion_timestamp.is_some() && has_finalizer(&owner, FOREGROUND) => {
                classified.waiting.push(reference.clone());
            }
            Some(_) => classified.solid.push(reference.clone()),
        }
    }
    Ok(classified)
}

/// The owner a reference names, `None` if it does not exist (absent, or another UID), as
/// the API server says (or the absent-owner cache remembers).
async fn owner_of(shared: &Shared, reference: &OwnerReference, item: &Identity) -> Result<Option<ObjectMeta>> {
    let mut key = Identity::of_owner(reference, "");
    if shared.is_absent(&key) {
        return Ok(None);
    }
    key.namespace.clone_from(&item.namespace);
    if shared.is_absent(&key) {
        return Ok(None);
    }
    let resource = shared.ops.resource(&reference.api_version, &reference.kind)?;
    if !resource.namespaced {
        key.namespace.clear();
    }
    if item.namespace.is_empty() && resource.namespaced {
        tracing::debug!(item = %item, owner = reference.name, "cluster-scoped item refers to a namespaced owner");
        return Err(Error::NamespacedOwnerOfClusterScoped);
    }
    match shared.ops.get_in(&resource, &item.namespace, &reference.name).await? {
        Some(owner) if owner.uid.as_deref() == Some(reference.uid.as_str()) => Ok(Some(owner)),
        _ => {
            shared.add_absent(key);
            Ok(None)
        }
    }
}

/// Orphans the dependents of one owner of the attemptToOrphan queue, then drops its
/// `orphan` finalizer.
pub async fn attempt_to_orphan(shared: &Shared, uid: &str) -> Next {
    let Some(owner) = shared.node(uid) else { return Next::Forget };
    let dependents = shared.dependents(uid);
    let results = futures::future::join_all(
        dependents
            .iter()
            .map(|d| shared.ops.remove_owner_references(&d.identity, std::slice::from_ref(&owner.identity.uid))),
    )
    .await;
    let failures: Vec<String> = results
        .into_iter()
        .zip(&dependents)
        .filter_map(|(result, dependent)| match result {
            Err(Error::Api(error)) if super::operations::is_code(&error, 404) => None,
            Err(error) => Some(format!("orphaning {} failed, {error}", dependent.identity)),
            Ok(()) => None,
        })
        .collect();
    if !failures.is_empty() {
        tracing::debug!(owner = %owner.identity, errors = failures.join("; "), "failed to orphan dependents");
        return Next::Requeue;
    }
    match shared.ops.remove_finalizer(&owner.identity, ORPHAN).await {
        Ok(()) => Next::Forget,
        Err(error) => {
            tracing::debug!(%error, owner = %owner.identity, "removing the orphan finalizer failed");
            Next::Requeue
        }
    }
}

impl Shared {
    /// Tells the graph that `identity` does not exist.
    fn virtual_delete(&self, identity: &Identity) -> Outcome {
        tracing::trace!(item = %identity, "item not found, generating a virtual delete event");
        let object = Observed { identity: identity.clone(), ..Observed::default() };
        let _ = self.changes.send(Change::Delete { object, virtual_: true });
        Outcome::Gone
    }
}

/// The event reference for an object of the graph.
pub fn object_reference(identity: &Identity) -> ObjectReference {
    ObjectReference {
        api_version: Some(identity.api_version.clone()),
        kind: Some(identity.kind.clone()),
        name: Some(identity.name.clone()),
        namespace: (!identity.namespace.is_empty()).then(|| identity.namespace.clone()),
        uid: Some(identity.uid.clone()),
        ..ObjectReference::default()
    }
}
