//! The deletion strategy (kube-apiserver's generic registry `Store.Delete`
//! with `rest.BeforeDelete`, and the namespace storage's own `Delete`):
//! each kind's default garbage-collection policy, the `orphan` and
//! `foregroundDeletion` finalizers that DeleteOptions ask for, and what one
//! DELETE does to one object, as a pure function of the object, the options
//! and the time. The handler applies the resulting [`Plan`].

mod options;
#[cfg(test)]
mod tests;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

pub use self::options::{DeleteOptions, Propagation};
use crate::object::{is_terminating, meta_str, metadata_mut};
use crate::registry::Resource;
use crate::status::ApiResult;

/// The finalizer that makes the garbage collector orphan dependents.
pub const ORPHAN: &str = "orphan";
/// The finalizer that makes the garbage collector delete blocking dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Namespaces the namespace lifecycle admission never lets be deleted.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// What a DELETE without a propagation policy does to dependents
/// (upstream's `rest.GarbageCollectionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcPolicy {
    /// Dependents are orphaned (the `orphan` finalizer is added).
    OrphanDependents,
    /// Dependents are deleted (in the background unless asked otherwise).
    DeleteDependents,
    /// The kind takes no garbage-collection finalizers at all.
    Unsupported,
}

/// The default policy of a kind as served at its version: upstream keeps
/// orphaning for the versions that did before server-side garbage
/// collection (core/v1 ReplicationControllers, batch/v1 Jobs) and gives
/// events no finalizers; every other served kind deletes dependents.
pub fn default_gc_policy(resource: &Resource) -> GcPolicy {
    match (resource.group, resource.version, resource.plural) {
        ("", "v1", "replicationcontrollers") | ("batch", "v1", "jobs") => GcPolicy::OrphanDependents,
        ("", _, "events") | ("events.k8s.io", _, "events") => GcPolicy::Unsupported,
        _ => GcPolicy::DeleteDependents,
    }
}

/// Kinds whose DELETE answers with the deleted object rather than a
/// `Status` (upstream's `ReturnDeletedObject`).
pub fn returns_deleted_object(resource: &Resource) -> bool {
    resource.group.is_empty()
        && matches!(
            resource.plural,
            "namespaces" | "pods" | "serviceaccounts" | "persistentvolumes" | "persistentvolumeclaims"
        )
}

/// The metadata.finalizers of an object.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The finalizers a deletion leaves on an object, or `None` when the
/// garbage-collection finalizers stay as they are (upstream's
/// `deletionFinalizersForGarbageCollection`). The options decide first,
/// then a garbage-collection finalizer already present, then the kind's
/// default; `orphan` and `foregroundDeletion` are never both kept, so a
/// repeated delete with another policy swaps one for the other.
pub fn gc_finalizers(policy: GcPolicy, current: &[String], options: &DeleteOptions) -> Option<Vec<String>> {
    let present = current.iter().find_map(|f| match f.as_str() {
        ORPHAN => Some(true),
        FOREGROUND => Some(false),
        _ => None,
    });
    let (orphan, foreground) = match policy {
        GcPolicy::Unsupported => (false, false),
        _ => (
            options.orphan().or(present).unwrap_or(policy == GcPolicy::OrphanDependents),
            options.foreground().or(present.map(|orphan| !orphan)).unwrap_or(false),
        ),
    };
    with_gc_finalizers(current, orphan, foreground)
}

/// The finalizers of a namespace on its first deletion (the namespace
/// storage's `shouldHaveOrphanFinalizer` and `shouldHaveDeleteDependentsFinalizer`):
/// no default policy, and `orphanDependents: false` asks for foreground deletion.
pub fn namespace_gc_finalizers(current: &[String], options: &DeleteOptions) -> Option<Vec<String>> {
    let has = |name: &str| current.iter().any(|f| f == name);
    let orphan = options.orphan().unwrap_or_else(|| has(ORPHAN));
    let foreground = match options.orphan_dependents {
        Some(orphan) => !orphan,
        None => options.propagation_policy.map_or_else(|| has(FOREGROUND), |p| p == Propagation::Foreground),
    };
    with_gc_finalizers(current, orphan, foreground)
}

/// `current` without the garbage-collection finalizers, then those wanted;
/// `None` when that is the same set as `current`.
fn with_gc_finalizers(current: &[String], orphan: bool, foreground: bool) -> Option<Vec<String>> {
    let mut next: Vec<String> = current.iter().filter(|f| *f != ORPHAN && *f != FOREGROUND).cloned().collect();
    if orphan {
        next.push(ORPHAN.to_owned());
    }
    if foreground {
        next.push(FOREGROUND.to_owned());
    }
    let same = next.iter().all(|f| current.contains(f)) && current.iter().all(|f| next.contains(f));
    (!same).then_some(next)
}

/// What one DELETE does to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing changes: a graceful deletion is already under way, or a
    /// namespace still waits for its spec.finalizers.
    Keep,
    /// Nothing holds the object: it is removed now.
    Remove,
    /// This version is stored (deletion timestamp, grace period,
    /// finalizers); the object stays until its finalizers are gone or its
    /// grace period ends.
    Mark(Value),
}

/// The plan for deleting `current` of `resource` at `now`.
pub fn plan(resource: &Resource, current: &Value, options: &DeleteOptions, now: Timestamp) -> ApiResult<Plan> {
    if (resource.group, resource.plural) == ("", "namespaces") {
        return namespace_plan(resource, current, options, now);
    }
    generic_plan(resource, default_gc_policy(resource), current, options, now)
}

/// The namespace storage's Delete: the first one only starts termination;
/// later ones wait for spec.finalizers, then delete as any object.
fn namespace_plan(resource: &Resource, current: &Value, options: &DeleteOptions, now: Timestamp) -> ApiResult<Plan> {
    if !is_terminating(current) {
        let mut next = current.clone();
        if let Some(list) = namespace_gc_finalizers(&finalizers(current), options) {
            set_finalizers(&mut next, list)?;
        }
        metadata_mut(&mut next)?.insert("deletionTimestamp".into(), json!(rfc3339(now)));
        if let Value::Object(map) = &mut next {
            let status = map.entry("status").or_insert_with(|| json!({}));
            if let Value::Object(status) = status {
                status.insert("phase".into(), json!("Terminating"));
            }
        }
        return Ok(Plan::Mark(next));
    }
    if current.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty()) {
        return Ok(Plan::Keep);
    }
    // Namespaces have no garbage-collection strategy: dependents are deleted unless asked otherwise.
    generic_plan(resource, GcPolicy::DeleteDependents, current, options, now)
}

/// Graceful deletion of an object (only pods have a grace period).
enum Grace {
    /// No grace period: the object goes now, unless finalizers hold it.
    None,
    /// A graceful deletion is already under way and is not shortened.
    Pending,
    /// Terminate by this time, with this grace period.
    Until(Timestamp, i64),
}

fn grace(resource: &Resource, current: &Value, options: &DeleteOptions, now: Timestamp) -> Grace {
    if !is_terminating(current) {
        let grace = crate::strategy::grace_period_seconds(resource, current, options.grace_period_seconds);
        return match now.checked_add(SignedDuration::from_secs(grace)) {
            Ok(until) if grace > 0 => Grace::Until(until, grace),
            _ => Grace::None,
        };
    }
    let existing = current.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    if existing <= 0 {
        return Grace::None;
    }
    match options.grace_period_seconds {
        // Only a shorter grace period may be asked for; zero removes the object now.
        Some(0) => Grace::None,
        Some(shorter) if shorter < existing => {
            let until = timestamp(current, "deletionTimestamp")
                .and_then(|t| t.checked_sub(SignedDuration::from_secs(existing - shorter)).ok());
            until.map_or(Grace::None, |until| Grace::Until(until, shorter))
        }
        _ => Grace::Pending,
    }
}

/// The generic registry's Delete of one object under `policy`.
fn generic_plan(
    resource: &Resource,
    policy: GcPolicy,
    current: &Value,
    options: &DeleteOptions,
    now: Timestamp,
) -> ApiResult<Plan> {
    let grace = grace(resource, current, options, now);
    if matches!(grace, Grace::Pending) {
        // Finalizers cannot be changed through DeleteOptions once a graceful deletion is pending.
        return Ok(Plan::Keep);
    }
    let mut next = current.clone();
    if let Some(list) = gc_finalizers(policy, &finalizers(current), options) {
        set_finalizers(&mut next, list)?;
    }
    let held = !finalizers(&next).is_empty();
    match grace {
        Grace::Until(until, seconds) => {
            bump_generation(&mut next)?;
            let meta = metadata_mut(&mut next)?;
            meta.insert("deletionTimestamp".into(), json!(rfc3339(until)));
            meta.insert("deletionGracePeriodSeconds".into(), json!(seconds));
            Ok(Plan::Mark(next))
        }
        _ if held => {
            mark_as_deleting(&mut next, now)?;
            Ok(Plan::Mark(next))
        }
        _ => Ok(Plan::Remove),
    }
}

/// Upstream's `markAsDeleting`: the deletion timestamp is now (unless an
/// earlier one is set), the grace period zero, and a first deletion counts
/// as a generation.
fn mark_as_deleting(object: &mut Value, now: Timestamp) -> ApiResult<()> {
    bump_generation(object)?;
    let earlier = timestamp(object, "deletionTimestamp").is_some_and(|t| t <= now);
    let meta = metadata_mut(object)?;
    if !earlier {
        meta.insert("deletionTimestamp".into(), json!(rfc3339(now)));
    }
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    Ok(())
}

/// A first deletion increments a positive metadata.generation.
fn bump_generation(object: &mut Value) -> ApiResult<()> {
    if is_terminating(object) {
        return Ok(());
    }
    let meta = metadata_mut(object)?;
    if let Some(generation) = meta.get("generation").and_then(Value::as_i64).filter(|g| *g > 0) {
        meta.insert("generation".into(), json!(generation + 1));
    }
    Ok(())
}

fn set_finalizers(object: &mut Value, list: Vec<String>) -> ApiResult<()> {
    let meta = metadata_mut(object)?;
    if list.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(list));
    }
    Ok(())
}

fn timestamp(object: &Value, field: &str) -> Option<Timestamp> {
    meta_str(object, field)?.parse().ok()
}

/// A time as kube-apiserver writes it (RFC 3339, seconds, UTC).
fn rfc3339(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
