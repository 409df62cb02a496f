//! A DaemonSet's pod template, the labels that tell an updated pod from an
//! old one, and the rollout's surge and unavailability budgets (upstream's
//! pkg/controller/daemon/util).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::placement;
use crate::history::REVISION_HASH_LABEL;

/// The annotation the API server keeps the template generation in.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// The label carrying the template generation a pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The template generation (`None` when absent or unparsable).
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.annotations().get(TEMPLATE_GENERATION_ANNOTATION).and_then(|g| g.parse().ok())
}

/// The template pods are made from: the DaemonSet's, with the default tolerations and
/// the generation and revision labels (upstream's CreatePodTemplate).
pub fn pod_template(template: &PodTemplateSpec, generation: Option<i64>, hash: &str) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(spec) = template.spec.as_mut() {
        placement::add_default_tolerations(spec);
    }
    let labels = template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.to_string());
    }
    if !hash.is_empty() {
        labels.insert(REVISION_HASH_LABEL.into(), hash.to_owned());
    }
    template
}

/// The pod was made from the current template: its revision hash or its
/// template generation says so (upstream's IsPodUpdated).
pub fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let labels = pod.labels();
    let by_generation =
        generation.is_some_and(|g| labels.get(TEMPLATE_GENERATION_LABEL).map(String::as_str) == Some(&g.to_string()));
    let by_hash = !hash.is_empty() && labels.get(REVISION_HASH_LABEL).map(String::as_str) == Some(hash);
    by_hash || by_generation
}

/// An int, or a percentage of `total` rounded up or down (upstream's GetScaledValueFromIntOrPercent).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(|| "invalid value for IntOrString: invalid type: string is not a percentage".to_owned())?;
            let scaled = percent * i64::from(total);
            let value = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
            i32::try_from(value).map_err(|_| format!("invalid value {text:?}"))
        }
    }
}

fn rolling(ds: &DaemonSet) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
    let strategy = ds.spec.as_ref()?.update_strategy.as_ref()?;
    (strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate").then_some(())?;
    strategy.rolling_update.as_ref()
}

/// How many extra pods a rollout may start (0 unless RollingUpdate with maxSurge).
pub fn surge_count(ds: &DaemonSet, desired: i32) -> Result<i32, String> {
    rolling(ds).and_then(|r| r.max_surge.as_ref()).map_or(Ok(0), |s| scaled_value(s, desired, true))
}

/// How many nodes may be without an available pod during a rollout.
pub fn unavailable_count(ds: &DaemonSet, desired: i32) -> Result<i32, String> {
    let max = rolling(ds).and_then(|r| r.max_unavailable.clone());
    max.map_or(Ok(0), |m| scaled_value(&m, desired, true))
}

/// The rollout surges (starts new pods beside old ones) rather than deleting first.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    surge_count(ds, 1).is_ok_and(|n| n != 0)
}

/// Orders pods: scheduled first, then oldest, then by name (upstream's podByCreationTimestampAndPhase).
pub fn by_age(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let scheduled = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| a.name_any().cmp(&b.name_any()))
}
