//! Deleting everything in a terminating namespace (upstream's
//! `namespacedResourcesDeleter.deleteAllContent`): every discovered
//! namespaced resource that can be deleted is emptied with
//! deletecollection where served (else each object is deleted), pods first
//! (ordered namespace deletion: nothing else goes while pods remain); what
//! remains is counted by resource and finalizer for the conditions, with an
//! estimate of how long it will take (pods' grace periods, or 15 s for
//! finalizers).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};

use super::conditions::{Conditions, Remaining};
use crate::discovery::{ServedResource, ServerResources};

/// How long to wait for content held by finalizers (upstream's `finalizerEstimateSeconds`).
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// What deleting one resource's content left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceLeft {
    /// Seconds to wait before looking again; 0 is no estimate (not "all gone").
    pub estimate: i64,
    pub remaining: usize,
    pub finalizers: BTreeMap<String, usize>,
}

/// What a pass over the whole namespace left.
#[derive(Debug, Clone, Default)]
pub struct ContentLeft {
    pub estimate: i64,
    pub errors: Vec<String>,
}

/// Deletes namespace content, remembering which resources refused deletecollection or list.
#[derive(Debug, Default)]
pub struct Deleter {
    unsupported: Mutex<HashSet<(&'static str, String)>>,
}

fn is_code(error: &kube::Error, codes: &[u16]) -> bool {
    matches!(error, kube::Error::Api(status) if codes.contains(&status.code))
}

/// How Go prints a GroupVersionResource with `%v`.
fn gvr(resource: &ServedResource) -> String {
    format!("{{{} {} {}}}", resource.api.group, resource.api.version, resource.api.plural)
}

/// Whether `resource` is the core pods.
fn is_pods(resource: &ServedResource) -> bool {
    resource.api.group.is_empty() && resource.api.plural == "pods"
}

/// The longest grace period among `pods` that are not terminal, unless the namespace has been
/// terminating for longer than that already.
pub fn pod_estimate(pods: &[Pod], deleted_at: Timestamp, now: Timestamp) -> i64 {
    let estimate = pods
        .iter()
        .filter(|p| !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed")))
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .max()
        .unwrap_or(0);
    if now.duration_since(deleted_at) >= SignedDuration::from_secs(estimate) { 0 } else { estimate }
}

impl Deleter {
    fn supported(&self, verb: &'static str, resource: &ServedResource) -> bool {
        resource.supports(verb)
            && !self.unsupported.lock().unwrap_or_else(PoisonError::into_inner).contains(&(verb, gvr(resource)))
    }

    fn set_unsupported(&self, verb: &'static str, resource: &ServedResource) {
        self.unsupported.lock().unwrap_or_else(PoisonError::into_inner).insert((verb, gvr(resource)));
    }

    /// One pass: deletes what can be deleted, writes the conditions, and says what is left.
    pub async fn delete_all_content(
        &self,
        client: &kube::Client,
        namespace: &Namespace,
        now: Timestamp,
    ) -> ContentLeft {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        let deleted_at = namespace.metadata.deletion_timestamp.as_ref().map_or(now, |t| t.0);
        let mut left = ContentLeft::default();
        let mut conditions = Conditions::default();
        let resources = match ServerResources::discover(client).await {
            Ok(resources) => resources,
            Err(error) => {
                conditions.discovery_failed(error.to_string(), now);
                left.errors.push(error.to_string());
                ServerResources::default()
            }
        };
        if let Some(message) = resources.failure_message() {
            let summary = format!("Discovery failed for some groups, {} failing: {message}", resources.failed.len());
            conditions.discovery_failed(summary, now);
            left.errors.push(message);
        }
        if let Some(unparsable) = resources.unparsable.first() {
            let message = format!("unexpected GroupVersion string: {unparsable}");
            conditions.group_version_parsing_failed(message.clone(), now);
            left.errors.push(message);
        }
        let deletable: Vec<&ServedResource> =
            resources.preferred().into_iter().filter(|r| r.namespaced && r.supports("delete")).collect();
        let mut remaining = Remaining::default();
        // Pods go first: nothing else is deleted while some remain.
        let (pods, others): (Vec<&ServedResource>, Vec<&ServedResource>) =
            deletable.into_iter().partition(|r| is_pods(r));
        for batch in [pods, others] {
            for resource in batch {
                let (result, error) = self.delete_resource(client, resource, &name, deleted_at, now).await;
                if let Some(error) = error {
                    conditions.content_failed(error.clone());
                    left.errors.push(error);
                }
                left.estimate = left.estimate.max(result.estimate);
                if result.remaining > 0 {
                    remaining.by_resource.insert(resource.group_resource(), result.remaining);
                    for (finalizer, count) in result.finalizers {
                        *remaining.by_finalizer.entry(finalizer).or_default() += count;
                    }
                }
            }
            if !remaining.by_resource.is_empty() {
                break;
            }
        }
        conditions.remaining(&remaining, now);
        let mut updated = namespace.clone();
        if conditions.update(updated.status.get_or_insert_default(), now) {
            let namespaces: Api<Namespace> = Api::all(client.clone());
            if let Err(error) = namespaces.replace_status(&name, &PostParams::default(), &updated).await {
                tracing::debug!(%error, "couldn't update status condition for namespace");
            }
        }
        left
    }

    /// Empties one resource in the namespace; an error is kept for the conditions.
    async fn delete_resource(
        &self,
        client: &kube::Client,
        resource: &ServedResource,
        namespace: &str,
        deleted_at: Timestamp,
        now: Timestamp,
    ) -> (ResourceLeft, Option<String>) {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource.api);
        let estimate = if is_pods(resource) {
            let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
            match pods.list(&ListParams::default()).await {
                Ok(list) => pod_estimate(&list.items, deleted_at, now),
                Err(error) => return (ResourceLeft::default(), Some(error.to_string())),
            }
        } else {
            0
        };
        let left = ResourceLeft { estimate, ..ResourceLeft::default() };
        if let Err(error) = self.delete_content(&api, resource).await {
            return (left, Some(error.to_string()));
        }
        let items = match self.list(&api, resource).await {
            Ok(Some(items)) => items,
            Ok(None) => return (left, None),
            Err(error) => return (left, Some(error.to_string())),
        };
        if items.is_empty() {
            return (ResourceLeft::default(), None);
        }
        let mut finalizers = BTreeMap::new();
        for finalizer in items.iter().flat_map(|meta| meta.finalizers.iter().flatten()) {
            *finalizers.entry(finalizer.clone()).or_insert(0) += 1;
        }
        let remaining = items.len();
        if estimate != 0 {
            return (ResourceLeft { estimate, remaining, finalizers }, None);
        }
        if !finalizers.is_empty() {
            return (ResourceLeft { estimate: FINALIZER_ESTIMATE_SECONDS, remaining, finalizers }, None);
        }
        let error = format!("unexpected items still remain in namespace: {namespace} for gvr: {}", gvr(resource));
        (ResourceLeft { estimate, remaining, finalizers: BTreeMap::new() }, Some(error))
    }

    /// deletecollection (background propagation) where served, else each object.
    async fn delete_content(&self, api: &Api<DynamicObject>, resource: &ServedResource) -> Result<(), kube::Error> {
        if self.supported("deletecollection", resource) {
            match api.delete_collection(&DeleteParams::background(), &ListParams::default()).await {
                Ok(_) => return Ok(()),
                Err(error) if is_code(&error, &[404, 405]) => self.set_unsupported("deletecollection", resource),
                Err(error) => return Err(error),
            }
        }
        let Some(items) = self.list(api, resource).await? else { return Ok(()) };
        for item in items {
            let name = item.name.unwrap_or_default();
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(error) if is_code(&error, &[404, 405]) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The objects' metadata, `None` where list is not served.
    async fn list(
        &self,
        api: &Api<DynamicObject>,
        resource: &ServedResource,
    ) -> Result<Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>>, kube::Error> {
        if !self.supported("list", resource) {
            return Ok(None);
        }
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) => Ok(Some(list.items.into_iter().map(|o| o.metadata).collect())),
            Err(error) if is_code(&error, &[404, 405]) => {
                self.set_unsupported("list", resource);
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(grace: i64, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "spec": { "containers": [], "terminationGracePeriodSeconds": grace },
            "status": { "phase": phase }
        }))
        .expect("a pod")
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn the_estimate_is_the_longest_grace_period_of_pods_still_running() {
        let pods = [pod(30, "Running"), pod(60, "Succeeded"), pod(10, "Pending")];
        assert_eq!(pod_estimate(&pods, at(100), at(105)), 30);
    }

    #[test]
    fn no_estimate_once_the_namespace_has_terminated_for_that_long() {
        assert_eq!(pod_estimate(&[pod(30, "Running")], at(100), at(130)), 0);
        assert_eq!(pod_estimate(&[pod(60, "Failed")], at(100), at(101)), 0);
        assert_eq!(pod_estimate(&[], at(100), at(101)), 0);
    }
}
