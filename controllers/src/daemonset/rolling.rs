//! The RollingUpdate strategy (upstream's rollingUpdate): without maxSurge,
//! delete old pods while fewer than maxUnavailable nodes lack an available
//! pod (the manage step then starts new ones); with maxSurge, start new pods
//! beside old ones and delete each old pod once its replacement is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::manage::Current;
use super::util;
use crate::pods;

/// What the rollout does this sync.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub delete: Vec<Arc<Pod>>,
    pub create_on: Vec<String>,
}

/// A node's live pods of the current template and of an older one, at most one each.
type NewAndOld = (Option<Arc<Pod>>, Option<Arc<Pod>>);

/// The node's one new and one old live pod; `None` when it has more (the manage step prunes first).
fn new_and_old(pods: &[Arc<Pod>], current: &Current<'_>) -> Option<NewAndOld> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| !pods::is_terminating(p)) {
        let slot = match util::is_updated(pod, current.hash, current.generation) {
            true => &mut new,
            false => &mut old,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(Arc::clone(pod));
    }
    Some((new, old))
}

/// The rollout's step. `by_node` holds every node with pods or that should run one
/// (empty lists for those without); `should_run` tells the latter;
/// `max_surge`/`max_unavailable` are already scaled to `desired` nodes.
pub fn plan(
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    should_run: impl Fn(&str) -> bool,
    max_surge: i32,
    max_unavailable: i32,
    desired: i32,
    current: &Current<'_>,
) -> Plan {
    let available = |pod: &Pod| pods::is_available(pod, current.min_ready, current.now);
    let mut plan = Plan::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some(found) = new_and_old(pods, current) else {
                unavailable += 1;
                continue;
            };
            match found {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => unavailable += i32::from(!available(&new)),
                (None, Some(old)) if !available(&old) => {
                    // Not serving anyway: replace it at once.
                    plan.delete.push(old);
                    unavailable += 1;
                }
                (None, Some(_)) if unavailable >= max_unavailable => {}
                (None, Some(old)) => candidates.push(old),
            }
        }
        let room = usize::try_from(max_unavailable - unavailable).unwrap_or(0).min(candidates.len());
        plan.delete.extend(candidates.into_iter().take(room));
        return plan;
    }
    let (mut surging, mut ready_count) = (0, 0);
    let (mut candidates, mut not_wanted) = (Vec::new(), Vec::new());
    for (node, pods) in by_node {
        let Some((new, old)) = new_and_old(pods, current) else {
            surging += 1;
            continue;
        };
        if let Some(pod) = old.as_ref().or(new.as_ref()) {
            ready_count += i32::from(available(pod));
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) if !available(&old) => match should_run(node) {
                true => plan.create_on.push(node.clone()),
                false => plan.delete.push(old),
            },
            (None, Some(old)) if !should_run(node) => not_wanted.push(old),
            (None, Some(_)) if surging >= max_surge => {}
            (None, Some(_)) => candidates.push(node.clone()),
            (Some(new), Some(_)) if !available(&new) => surging += 1,
            (Some(_), Some(old)) => plan.delete.push(old),
        }
    }
    // Pods on nodes that no longer qualify go only once as many pods are available elsewhere.
    let deletable = usize::try_from(ready_count - desired).unwrap_or(0).min(not_wanted.len());
    plan.delete.extend(not_wanted.into_iter().take(deletable));
    let room = usize::try_from(max_surge - surging).unwrap_or(0).min(candidates.len());
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}
