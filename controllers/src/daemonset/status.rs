//! A DaemonSet's status (upstream's updateDaemonSetStatus and storeDaemonSetStatus).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::manage::Current;
use super::{placement, util};
use crate::pods;

/// The counts the nodes and their pods give; `observed` carries the generation over
/// (the controller only raises it when it acted on that generation).
pub fn calculate(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    current: &Current<'_>,
    observed: bool,
) -> DaemonSetStatus {
    let template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    let mut status = ds.status.clone().unwrap_or_default();
    let (mut desired, mut scheduled, mut misscheduled, mut ready, mut updated, mut available) = (0, 0, 0, 0, 0, 0);
    for node in nodes {
        let (should_run, _) = placement::should_run(&template, node);
        let daemon_pods = by_node.get(&node.name_any()).filter(|p| !p.is_empty());
        match (should_run, daemon_pods) {
            (true, None) => desired += 1,
            (true, Some(daemon_pods)) => {
                desired += 1;
                scheduled += 1;
                let mut sorted = daemon_pods.clone();
                sorted.sort_by(|a, b| util::by_age(a, b));
                let pod = &sorted[0];
                if pods::is_ready(pod) {
                    ready += 1;
                    available += i32::from(pods::is_available(pod, current.min_ready, current.now));
                }
                updated += i32::from(util::is_updated(pod, current.hash, current.generation));
            }
            (false, Some(_)) => misscheduled += 1,
            (false, None) => {}
        }
    }
    status.desired_number_scheduled = desired;
    status.current_number_scheduled = scheduled;
    status.number_misscheduled = misscheduled;
    status.number_ready = ready;
    // These fields are omitted when zero, as upstream serializes them.
    let omitted_when_zero = |n: i32| (n != 0).then_some(n);
    status.updated_number_scheduled = omitted_when_zero(updated);
    status.number_available = omitted_when_zero(available);
    status.number_unavailable = omitted_when_zero(desired - available);
    if observed {
        status.observed_generation = ds.metadata.generation;
    }
    status
}

/// Writes the status when it changed.
pub async fn store(client: &kube::Client, ds: &DaemonSet, status: &DaemonSetStatus) -> Result<(), kube::Error> {
    if ds.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ds.namespace().unwrap_or_default());
    let patch = json!({ "status": {
        "observedGeneration": status.observed_generation,
        "desiredNumberScheduled": status.desired_number_scheduled,
        "currentNumberScheduled": status.current_number_scheduled,
        "numberMisscheduled": status.number_misscheduled,
        "numberReady": status.number_ready,
        "updatedNumberScheduled": status.updated_number_scheduled,
        "numberAvailable": status.number_available,
        "numberUnavailable": status.number_unavailable,
    } });
    api.patch_status(&ds.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop)
}
