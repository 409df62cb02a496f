//! The five conditions the namespace controller keeps on a terminating
//! namespace, as upstream's `namespaceConditionUpdater`: each is True with
//! a failure reason when this pass found that failure, else False with its
//! "ok" reason and message; lastTransitionTime moves only when the status flips.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};

use crate::clock::api_time;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The condition types in the order upstream maintains them, with their "ok" reason and message.
const MAINTAINED: [(&str, &str, &str); 5] = [
    (DISCOVERY_FAILURE, "ResourcesDiscovered", "All resources successfully discovered"),
    (GROUP_VERSION_PARSING_FAILURE, "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (CONTENT_FAILURE, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    (CONTENT_REMAINING, "ContentRemoved", "All content successfully removed"),
    (FINALIZERS_REMAINING, "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
];

/// What remains in a namespace after a pass: instances by resource (`plural.group`) and by finalizer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    pub by_resource: BTreeMap<String, usize>,
    pub by_finalizer: BTreeMap<String, usize>,
}

/// Collects the failures of one pass and turns them into conditions.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    found: Vec<NamespaceCondition>,
    content_errors: Vec<String>,
}

fn failing(type_: &str, reason: &str, message: String, now: Timestamp) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(api_time(now)),
    }
}

impl Conditions {
    /// Discovery failed (`message` is the error; for a partial failure, upstream's summary of it).
    pub fn discovery_failed(&mut self, message: String, now: Timestamp) {
        self.found.push(failing(DISCOVERY_FAILURE, "DiscoveryFailed", message, now));
    }

    pub fn group_version_parsing_failed(&mut self, message: String, now: Timestamp) {
        self.found.push(failing(GROUP_VERSION_PARSING_FAILURE, "GroupVersionParsingFailed", message, now));
    }

    /// Deleting one resource's content failed.
    pub fn content_failed(&mut self, error: String) {
        self.content_errors.push(error);
    }

    /// Resources and finalizers that still hold content.
    pub fn remaining(&mut self, remaining: &Remaining, now: Timestamp) {
        let resources: Vec<String> = remaining
            .by_resource
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        if !remaining.by_resource.is_empty() {
            let message = format!("Some resources are remaining: {}", sorted(resources).join(", "));
            self.found.push(failing(CONTENT_REMAINING, "SomeResourcesRemain", message, now));
        }
        let finalizers: Vec<String> = remaining
            .by_finalizer
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        if !remaining.by_finalizer.is_empty() {
            let message =
                format!("Some content in the namespace has finalizers remaining: {}", sorted(finalizers).join(", "));
            self.found.push(failing(FINALIZERS_REMAINING, "SomeFinalizersRemain", message, now));
        }
    }

    /// Writes the pass's conditions into `status`; whether anything changed.
    pub fn update(mut self, status: &mut NamespaceStatus, now: Timestamp) -> bool {
        if !self.content_errors.is_empty() && !self.found.iter().any(|c| c.type_ == CONTENT_FAILURE) {
            let errors = sorted(std::mem::take(&mut self.content_errors));
            let message =
                format!("Failed to delete all resource types, {} remaining: {}", errors.len(), errors.join(", "));
            self.found.push(failing(CONTENT_FAILURE, "ContentDeletionFailed", message, now));
        }
        let conditions = status.conditions.get_or_insert_default();
        let mut changed = false;
        for (type_, reason, message) in MAINTAINED {
            let wanted = self.found.iter().find(|c| c.type_ == type_).cloned().unwrap_or_else(|| NamespaceCondition {
                type_: type_.into(),
                status: "False".into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_transition_time: Some(api_time(now)),
            });
            match conditions.iter_mut().find(|c| c.type_ == type_) {
                None => {
                    conditions.push(wanted);
                    changed = true;
                }
                Some(old)
                    if old.status != wanted.status || old.reason != wanted.reason || old.message != wanted.message =>
                {
                    if old.status != wanted.status {
                        old.last_transition_time = Some(api_time(now));
                    }
                    old.status = wanted.status;
                    old.reason = wanted.reason;
                    old.message = wanted.message;
                    changed = true;
                }
                Some(_) => {}
            }
        }
        changed
    }
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn find<'a>(status: &'a NamespaceStatus, type_: &str) -> &'a NamespaceCondition {
        status.conditions.iter().flatten().find(|c| c.type_ == type_).expect("the condition")
    }

    #[test]
    fn a_clean_pass_sets_every_condition_false_with_its_ok_reason() {
        let mut status = NamespaceStatus::default();
        assert!(Conditions::default().update(&mut status, at(1)));
        let types: Vec<&str> = status.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, MAINTAINED.map(|(t, _, _)| t));
        let removed = find(&status, CONTENT_REMAINING);
        assert_eq!((removed.status.as_str(), removed.reason.as_deref()), ("False", Some("ContentRemoved")));
        assert_eq!(removed.message.as_deref(), Some("All content successfully removed"));
        assert!(!Conditions::default().update(&mut status, at(2)), "nothing changes the second time");
    }

    #[test]
    fn remaining_content_is_listed_sorted_and_flips_the_transition_time() {
        let mut status = NamespaceStatus::default();
        Conditions::default().update(&mut status, at(1));
        let mut conditions = Conditions::default();
        let remaining = Remaining {
            by_resource: BTreeMap::from([("pods.".into(), 2), ("configmaps.".into(), 1)]),
            by_finalizer: BTreeMap::from([("example.com/hold".into(), 1)]),
        };
        conditions.remaining(&remaining, at(5));
        assert!(conditions.update(&mut status, at(5)));
        let content = find(&status, CONTENT_REMAINING);
        assert_eq!(content.status, "True");
        assert_eq!(content.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            content.message.as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances")
        );
        assert_eq!(content.last_transition_time, Some(api_time(at(5))));
        let finalizers = find(&status, FINALIZERS_REMAINING);
        assert_eq!(finalizers.reason.as_deref(), Some("SomeFinalizersRemain"));
        assert_eq!(
            finalizers.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
        );
        assert_eq!(find(&status, CONTENT_FAILURE).last_transition_time, Some(api_time(at(1))));
    }

    #[test]
    fn content_errors_are_summed_up_in_one_condition() {
        let mut status = NamespaceStatus::default();
        let mut conditions = Conditions::default();
        conditions.content_failed("b failed".into());
        conditions.content_failed("a failed".into());
        conditions.discovery_failed("Discovery failed for some groups, 1 failing: x".into(), at(1));
        conditions.update(&mut status, at(1));
        let failure = find(&status, CONTENT_FAILURE);
        assert_eq!(failure.reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(
            failure.message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
        assert_eq!(find(&status, DISCOVERY_FAILURE).reason.as_deref(), Some("DiscoveryFailed"));
    }
}
