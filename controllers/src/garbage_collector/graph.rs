//! The dependency graph (upstream's `GraphBuilder` and `uidToNode`): one
//! node per object the monitors observed or an owner reference named,
//! keyed by UID, with its owners and dependents. Changes go in one at a
//! time; what they call for (objects to look at, dependents to orphan,
//! owners known to be absent, invalid references to report) comes out as
//! [`Effect`]s, so that the graph itself is pure and synchronous.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The `foregroundDeletion` finalizer: delete the dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The `orphan` finalizer: remove the owner from the dependents' references first.
pub const ORPHAN: &str = "orphan";

/// Who an object is (upstream's `objectReference`). Fields are in the order
/// upstream sorts alternate identities by: kind, apiVersion, namespace, name, uid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub kind: String,
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Identity {
    /// The coordinates an owner reference gives, in `namespace`.
    pub fn of_owner(owner: &OwnerReference, namespace: &str) -> Self {
        Self {
            kind: owner.kind.clone(),
            api_version: owner.api_version.clone(),
            namespace: namespace.to_owned(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
        }
    }

    /// Whether an owner reference names exactly this object (uid, name, kind, apiVersion).
    pub fn matches(&self, owner: &OwnerReference) -> bool {
        owner.uid == self.uid
            && owner.name == self.name
            && owner.kind == self.kind
            && owner.api_version == self.api_version
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// What a monitor saw of an object: its metadata that matters here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Observed {
    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// A change to apply to the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An object was added or updated (seen by a monitor).
    Upsert(Observed),
    /// An object is gone: seen by a monitor, or (`virtual_`) found absent by a worker.
    Delete { object: Observed, virtual_: bool },
}

/// What a change calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Look at this object (upstream's attemptToDelete queue).
    AttemptToDelete(String),
    /// The same, after the item's back-off.
    AttemptToDeleteLater(String),
    /// Orphan this owner's dependents, then drop its `orphan` finalizer.
    AttemptToOrphan(String),
    /// This identity is known not to exist.
    Absent(Identity),
    /// `dependent` names an owner that lives in another namespace.
    InvalidNamespace { dependent: Identity, owner: Identity },
}

/// One object in the graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    /// UIDs of the objects that name this one as an owner.
    pub dependents: BTreeSet<String>,
    /// deletionTimestamp is set (a one-way trip).
    pub being_deleted: bool,
    /// Being deleted with `foregroundDeletion`: waiting for its dependents.
    pub deleting_dependents: bool,
    /// Only named by owner references, never observed.
    pub virtual_: bool,
    /// The last observation was deleting with the `orphan` / `foregroundDeletion` finalizer.
    was_orphaning: bool,
    was_foreground: bool,
}

/// The graph: nodes by UID.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The dependents' nodes.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.nodes.get(uid).map(|n| n.dependents.iter().filter_map(|d| self.nodes.get(d)).collect()).unwrap_or_default()
    }

    /// Dependents whose reference to `uid` has blockOwnerDeletion set.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents(uid)
            .into_iter()
            .filter(|d| d.owners.iter().any(|o| o.uid == uid && o.block_owner_deletion == Some(true)))
            .collect()
    }

    /// Applies one change; returns what it calls for.
    pub fn apply(&mut self, change: Change) -> Vec<Effect> {
        let mut effects = Vec::new();
        match change {
            Change::Upsert(object) => {
                self.mark_observed(&object.identity, &mut effects);
                self.upsert(object, &mut effects);
            }
            Change::Delete { object, virtual_ } => {
                if !virtual_ {
                    self.mark_observed(&object.identity, &mut effects);
                }
                self.delete(&object.identity, virtual_, &mut effects);
            }
        }
        effects
    }

    /// A virtual node seen by a monitor becomes a real one, under the identity observed;
    /// dependents that named it otherwise are looked at again.
    fn mark_observed(&mut self, observed: &Identity, effects: &mut Vec<Effect>) {
        let Some(node) = self.nodes.get(&observed.uid) else { return };
        if !node.virtual_ {
            return;
        }
        if node.identity != *observed {
            let (_, mismatched) = self.partition_dependents(&node.dependents, observed);
            for dependent in mismatched {
                if !observed.namespace.is_empty() && dependent.namespace != observed.namespace {
                    self.report_invalid_namespace(&dependent.uid, &observed.uid, effects);
                }
                effects.push(Effect::AttemptToDelete(dependent.uid.clone()));
            }
        }
        if let Some(node) = self.nodes.get_mut(&observed.uid) {
            node.identity = observed.clone();
            node.virtual_ = false;
        }
    }

    fn upsert(&mut self, object: Observed, effects: &mut Vec<Effect>) {
        let uid = object.identity.uid.clone();
        let Some(node) = self.nodes.get_mut(&uid) else {
            let node = Node {
                identity: object.identity.clone(),
                owners: object.owners.clone(),
                being_deleted: object.deleting,
                deleting_dependents: object.deleting && object.has(FOREGROUND),
                ..Node::default()
            };
            self.nodes.insert(uid.clone(), node);
            self.add_dependent_to_owners(&uid, &object.owners, effects);
            self.process_transitions(&uid, &object, effects);
            return;
        };
        node.identity.api_version.clone_from(&object.identity.api_version);
        node.identity.kind.clone_from(&object.identity.kind);
        let (added, removed, changed) = references_diffs(&node.owners, &object.owners);
        if !added.is_empty() || !removed.is_empty() || !changed.is_empty() {
            node.owners.clone_from(&object.owners);
            self.add_unblocked_owners(&removed, &changed, effects);
            self.add_dependent_to_owners(&uid, &added, effects);
            for owner in &removed {
                if let Some(owner) = self.nodes.get_mut(&owner.uid) {
                    owner.dependents.remove(&uid);
                }
            }
        }
        if object.deleting
            && let Some(node) = self.nodes.get_mut(&uid)
        {
            node.being_deleted = true;
        }
        self.process_transitions(&uid, &object, effects);
    }

    fn delete(&mut self, deleted: &Identity, virtual_: bool, effects: &mut Vec<Effect>) {
        let Some(existing) = self.nodes.get(&deleted.uid) else { return };
        if virtual_ {
            let (matching, mismatched) = self.partition_dependents(&existing.dependents, deleted);
            let matching: Vec<String> = matching.into_iter().map(|d| d.uid.clone()).collect();
            if existing.virtual_ {
                if !mismatched.is_empty() {
                    // Some dependents name this UID otherwise: only those that named the absent
                    // identity are looked at; the node lives on under another identity.
                    if !matching.is_empty() {
                        effects.push(Effect::Absent(deleted.clone()));
                        effects.extend(matching.into_iter().map(Effect::AttemptToDelete));
                    }
                    if existing.identity == *deleted {
                        let dependents: Vec<&Node> = self.dependents(&deleted.uid);
                        if let Some(replacement) = alternate_identity(&dependents, deleted) {
                            if let Some(node) = self.nodes.get_mut(&deleted.uid) {
                                node.identity = replacement;
                            }
                            effects.push(Effect::AttemptToDeleteLater(deleted.uid.clone()));
                        }
                    }
                    return;
                }
            } else if existing.identity != *deleted {
                // An observed object is never removed on a virtual event for other coordinates.
                if !matching.is_empty() {
                    effects.push(Effect::Absent(deleted.clone()));
                    effects.extend(matching.into_iter().map(Effect::AttemptToDelete));
                }
                return;
            }
        }
        let Some(node) = self.nodes.remove(&deleted.uid) else { return };
        for owner in &node.owners {
            if let Some(owner) = self.nodes.get_mut(&owner.uid) {
                owner.dependents.remove(&deleted.uid);
            }
        }
        if !node.dependents.is_empty() {
            effects.push(Effect::Absent(deleted.clone()));
        }
        effects.extend(node.dependents.iter().cloned().map(Effect::AttemptToDelete));
        for owner in &node.owners {
            if self.nodes.get(&owner.uid).is_some_and(|o| o.deleting_dependents) {
                effects.push(Effect::AttemptToDelete(owner.uid.clone()));
            }
        }
    }

    /// Adds `uid` to its owners' dependents, making virtual nodes for owners not seen yet
    /// (they are checked against the API server). References that may be wrong (another
    /// namespace, other coordinates) get the dependent looked at.
    fn add_dependent_to_owners(&mut self, uid: &str, owners: &[OwnerReference], effects: &mut Vec<Effect>) {
        let Some(namespace) = self.nodes.get(uid).map(|n| n.identity.namespace.clone()) else { return };
        let mut potentially_invalid = false;
        for owner in owners {
            let Some(owner_node) = self.nodes.get_mut(&owner.uid) else {
                let node = Node {
                    identity: Identity::of_owner(owner, &namespace),
                    dependents: BTreeSet::from([uid.to_owned()]),
                    virtual_: true,
                    ..Node::default()
                };
                self.nodes.insert(owner.uid.clone(), node);
                effects.push(Effect::AttemptToDelete(owner.uid.clone()));
                continue;
            };
            owner_node.dependents.insert(uid.to_owned());
            if potentially_invalid {
                continue;
            }
            let owner_namespaced = !owner_node.identity.namespace.is_empty();
            if owner_namespaced && owner_node.identity.namespace != namespace {
                if !owner_node.virtual_ {
                    let owner_uid = owner_node.identity.uid.clone();
                    self.report_invalid_namespace(uid, &owner_uid, effects);
                }
                potentially_invalid = true;
            } else if !owner_node.identity.matches(owner)
                || (!owner_namespaced && owner_node.identity.namespace != namespace && owner_node.virtual_)
            {
                potentially_invalid = true;
            }
        }
        if potentially_invalid {
            effects.push(Effect::AttemptToDelete(uid.to_owned()));
        }
    }

    /// A dependent dropped a blocking reference (or unblocked it): its owner may be done waiting.
    fn add_unblocked_owners(
        &self,
        removed: &[OwnerReference],
        changed: &[(OwnerReference, OwnerReference)],
        effects: &mut Vec<Effect>,
    ) {
        let unblocked = removed.iter().filter(|r| r.block_owner_deletion == Some(true)).chain(
            changed
                .iter()
                .filter(|(old, new)| old.block_owner_deletion == Some(true) && new.block_owner_deletion != Some(true))
                .map(|(_, new)| new),
        );
        for owner in unblocked {
            if self.nodes.contains_key(&owner.uid) {
                effects.push(Effect::AttemptToDelete(owner.uid.clone()));
            }
        }
    }

    /// Deletion starting with `orphan` queues the orphaning; with `foregroundDeletion`, the
    /// node waits for its dependents, which are all looked at.
    fn process_transitions(&mut self, uid: &str, object: &Observed, effects: &mut Vec<Effect>) {
        let Some(node) = self.nodes.get_mut(uid) else { return };
        let orphaning = object.deleting && object.has(ORPHAN);
        let foreground = object.deleting && object.has(FOREGROUND);
        let starts_orphaning = orphaning && !node.was_orphaning;
        let starts_foreground = foreground && !node.was_foreground;
        node.was_orphaning = orphaning;
        node.was_foreground = foreground;
        if starts_orphaning {
            effects.push(Effect::AttemptToOrphan(uid.to_owned()));
        } else if starts_foreground {
            node.deleting_dependents = true;
            effects.extend(node.dependents.iter().cloned().map(Effect::AttemptToDelete));
            effects.push(Effect::AttemptToDelete(uid.to_owned()));
        }
    }

    fn report_invalid_namespace(&self, dependent: &str, owner_uid: &str, effects: &mut Vec<Effect>) {
        let Some(dependent) = self.nodes.get(dependent) else { return };
        if let Some(owner) = dependent.owners.iter().find(|o| o.uid == owner_uid) {
            effects.push(Effect::InvalidNamespace {
                dependent: dependent.identity.clone(),
                owner: Identity::of_owner(owner, &dependent.identity.namespace),
            });
        }
    }

    /// Dependents whose reference to `owner.uid` matches these coordinates, and those whose
    /// reference does not (or who live in another namespace than a namespaced owner).
    fn partition_dependents(
        &self,
        dependents: &BTreeSet<String>,
        owner: &Identity,
    ) -> (Vec<&Identity>, Vec<&Identity>) {
        let (mut matching, mut mismatched) = (Vec::new(), Vec::new());
        for dependent in dependents.iter().filter_map(|d| self.nodes.get(d)) {
            let (mut found_match, mut found_mismatch) = (false, false);
            if !owner.namespace.is_empty() && owner.namespace != dependent.identity.namespace {
                found_mismatch = true;
            } else {
                for reference in dependent.owners.iter().filter(|r| r.uid == owner.uid) {
                    if owner.matches(reference) {
                        found_match = true;
                    } else {
                        found_mismatch = true;
                    }
                }
            }
            if found_match {
                matching.push(&dependent.identity);
            }
            if found_mismatch {
                mismatched.push(&dependent.identity);
            }
        }
        (matching, mismatched)
    }
}

/// Owner references added, removed, and changed (old, new), by UID.
pub fn references_diffs(
    old: &[OwnerReference],
    new: &[OwnerReference],
) -> (Vec<OwnerReference>, Vec<OwnerReference>, Vec<(OwnerReference, OwnerReference)>) {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for reference in new {
        match old.iter().find(|o| o.uid == reference.uid) {
            Some(before) if before != reference => changed.push((before.clone(), reference.clone())),
            Some(_) => {}
            None => added.push(reference.clone()),
        }
    }
    let removed = old.iter().filter(|o| !new.iter().any(|n| n.uid == o.uid)).cloned().collect();
    (added, removed, changed)
}

/// Another identity the dependents give this UID: the first after `absent` in upstream's
/// order, else the first of all; `None` when they all agree with `absent`.
pub fn alternate_identity(dependents: &[&Node], absent: &Identity) -> Option<Identity> {
    let cluster_scoped = absent.namespace.is_empty();
    let mut seen = BTreeSet::from([absent.clone()]);
    let mut first: Option<Identity> = None;
    let mut first_following: Option<Identity> = None;
    for dependent in dependents {
        for reference in dependent.owners.iter().filter(|r| r.uid == absent.uid) {
            if absent.matches(reference) && (cluster_scoped || absent.namespace == dependent.identity.namespace) {
                continue;
            }
            let mut candidate = Identity::of_owner(reference, &dependent.identity.namespace);
            if cluster_scoped && candidate.api_version == absent.api_version && candidate.kind == absent.kind {
                candidate.namespace.clear();
            }
            if !seen.insert(candidate.clone()) {
                continue;
            }
            if first.as_ref().is_none_or(|f| candidate < *f) {
                first = Some(candidate.clone());
            }
            if *absent < candidate && first_following.as_ref().is_none_or(|f| candidate < *f) {
                first_following = Some(candidate);
            }
        }
    }
    first_following.or(first)
}

#[cfg(test)]
mod tests;
