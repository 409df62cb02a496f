//! The taints the node controller keeps: NoSchedule taints mirroring node
//! conditions and `unschedulable`, and the NoExecute `not-ready` and
//! `unreachable` taints; and how they are written (a read-modify-write of
//! the Node, retried on conflicts, as upstream's SwapNodeControllerTaint).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, PostParams};

use crate::clock::api_time;

/// Ready is Unknown: the node stopped reporting.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Ready is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `spec.unschedulable` is set.
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const NO_SCHEDULE: &str = "NoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";

/// (condition, status, taint key): the NoSchedule taint a condition in that status asks for.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

/// A taint without value or time.
pub fn taint(key: &str, effect: &str) -> Taint {
    Taint { key: key.to_owned(), effect: effect.to_owned(), ..Taint::default() }
}

fn matches(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// Whether the node has a taint of this key and effect.
pub fn has_taint(node: &Node, wanted: &Taint) -> bool {
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|t| t.iter().any(|t| matches(t, wanted)))
}

/// The NoSchedule taints to add and to remove so that they mirror the
/// node's conditions and `unschedulable` (upstream's doNoScheduleTaintingPass).
pub fn no_schedule_changes(node: &Node) -> (Vec<Taint>, Vec<Taint>) {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    let mut wanted: Vec<Taint> = conditions
        .into_iter()
        .flatten()
        .filter_map(|c| CONDITION_TAINTS.iter().find(|(t, s, _)| *t == c.type_ && *s == c.status))
        .map(|(_, _, key)| taint(key, NO_SCHEDULE))
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        wanted.push(taint(UNSCHEDULABLE, NO_SCHEDULE));
    }
    let ours = |t: &&Taint| {
        t.effect == NO_SCHEDULE && (t.key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == t.key))
    };
    let present: Vec<&Taint> =
        node.spec.as_ref().and_then(|s| s.taints.as_ref()).into_iter().flatten().filter(ours).collect();
    let add = wanted.iter().filter(|w| !present.iter().any(|p| matches(p, w))).cloned().collect();
    let remove = present.iter().filter(|p| !wanted.iter().any(|w| matches(p, w))).map(|t| (*t).clone()).collect();
    (add, remove)
}

/// The beta OS and architecture labels, kept equal to the stable ones (upstream's reconcileNodeLabels).
pub fn label_changes(node: &Node) -> BTreeMap<String, String> {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    [("kubernetes.io/os", "beta.kubernetes.io/os"), ("kubernetes.io/arch", "beta.kubernetes.io/arch")]
        .into_iter()
        .filter_map(|(stable, beta)| {
            let value = labels.get(stable)?;
            (labels.get(beta) != Some(value)).then(|| (beta.to_owned(), value.clone()))
        })
        .collect()
}

/// The taints after adding `add` (stamped `now`, replacing those of the same
/// key and effect) and removing `remove`; `None` when nothing changes.
pub fn swapped(current: &[Taint], add: &[Taint], remove: &[Taint], now: Timestamp) -> Option<Vec<Taint>> {
    let mut taints: Vec<Taint> = current.iter().filter(|t| !remove.iter().any(|r| matches(t, r))).cloned().collect();
    for new in add {
        let stamped = Taint { time_added: Some(api_time(now)), ..new.clone() };
        match taints.iter_mut().find(|t| matches(t, new)) {
            Some(existing) if existing.value == new.value && existing.time_added.is_some() => {}
            Some(existing) => *existing = stamped,
            None => taints.push(stamped),
        }
    }
    (taints != current).then_some(taints)
}

/// Adds and removes taints on a node, re-reading it after a conflict.
pub async fn swap(
    client: &kube::Client,
    name: &str,
    add: &[Taint],
    remove: &[Taint],
    now: Timestamp,
) -> kube::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut attempt = 0;
    loop {
        let mut node = nodes.get(name).await?;
        let spec = node.spec.get_or_insert_with(Default::default);
        let Some(taints) = swapped(spec.taints.as_deref().unwrap_or_default(), add, remove, now) else { return Ok(()) };
        spec.taints = (!taints.is_empty()).then_some(taints);
        match nodes.replace(name, &PostParams::default(), &node).await {
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < 5 => attempt += 1,
            result => return result.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).expect("node")
    }

    fn keys(taints: &[Taint]) -> Vec<&str> {
        taints.iter().map(|t| t.key.as_str()).collect()
    }

    #[test]
    fn no_schedule_taints_mirror_conditions_and_unschedulable() {
        let n = node(json!({
            "spec": { "unschedulable": true, "taints": [
                { "key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule" },
                { "key": "node.kubernetes.io/unreachable", "effect": "NoExecute" },
                { "key": "user", "effect": "NoSchedule" }] },
            "status": { "conditions": [
                { "type": "Ready", "status": "Unknown" }, { "type": "DiskPressure", "status": "False" },
                { "type": "MemoryPressure", "status": "True" }] },
        }));
        let (add, remove) = no_schedule_changes(&n);
        assert_eq!(keys(&add), vec![UNREACHABLE, "node.kubernetes.io/memory-pressure", UNSCHEDULABLE]);
        assert!(add.iter().all(|t| t.effect == NO_SCHEDULE));
        assert_eq!(keys(&remove), vec!["node.kubernetes.io/disk-pressure"]);
        let ready = node(json!({ "status": { "conditions": [{ "type": "Ready", "status": "True" }] } }));
        assert_eq!(no_schedule_changes(&ready), (vec![], vec![]));
    }

    #[test]
    fn swapping_replaces_the_opposite_taint_and_keeps_an_existing_one() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let current = vec![taint(NOT_READY, NO_EXECUTE), taint("user", NO_SCHEDULE)];
        let next = swapped(&current, &[taint(UNREACHABLE, NO_EXECUTE)], &[taint(NOT_READY, NO_EXECUTE)], now)
            .expect("a change");
        assert_eq!(keys(&next), vec!["user", UNREACHABLE]);
        assert_eq!(next[1].time_added.as_ref().map(|t| t.0), Some(now));
        assert_eq!(swapped(&next, &[taint(UNREACHABLE, NO_EXECUTE)], &[taint(NOT_READY, NO_EXECUTE)], now), None);
        assert_eq!(swapped(&next, &[], &[taint(UNREACHABLE, NO_EXECUTE)], now).map(|t| t.len()), Some(1));
    }

    #[test]
    fn beta_labels_follow_the_stable_ones() {
        let n = node(json!({ "metadata": { "labels": {
            "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "beta.kubernetes.io/arch": "arm64" } } }));
        let changes = label_changes(&n);
        assert_eq!(changes.get("beta.kubernetes.io/os").map(String::as_str), Some("linux"));
        assert_eq!(changes.get("beta.kubernetes.io/arch").map(String::as_str), Some("amd64"));
    }
}
