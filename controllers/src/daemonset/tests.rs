//! The DaemonSet controller's pure logic: placement predicates, the pod
//! template, per-node work, rollout plans and history trimming.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::manage::{self, Current, NodeWork};
use super::{placement, revisions, rolling, util};

fn node(name: &str, labels: Value, taints: Value) -> Node {
    serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels }, "spec": { "taints": taints } }))
        .expect("a node")
}

fn spec(value: Value) -> PodSpec {
    let mut base = json!({ "containers": [{ "name": "c" }] });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), value) {
        base.extend(extra);
    }
    serde_json::from_value(base).expect("a pod spec")
}

#[test]
fn node_selector_and_affinity_choose_nodes() {
    let gpu = node("gpu-1", json!({ "accelerator": "gpu", "cores": "64" }), json!([]));
    let plain = node("plain-1", json!({}), json!([]));
    let selector = spec(json!({ "nodeSelector": { "accelerator": "gpu" } }));
    assert_eq!(placement::should_run(&selector, &gpu), (true, true));
    assert_eq!(placement::should_run(&selector, &plain), (false, false));
    let affinity = |terms: Value| {
        spec(json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms } } } }))
    };
    let cases = [
        (json!([{ "matchExpressions": [{ "key": "cores", "operator": "Gt", "values": ["32"] }] }]), true, false),
        (json!([{ "matchExpressions": [{ "key": "cores", "operator": "Lt", "values": ["32"] }] }]), false, false),
        (
            json!([{ "matchExpressions": [{ "key": "accelerator", "operator": "NotIn", "values": ["gpu"] }] }]),
            false,
            true,
        ),
        (json!([{ "matchExpressions": [{ "key": "accelerator", "operator": "DoesNotExist" }] }]), false, true),
        (json!([{ "matchExpressions": [{ "key": "accelerator", "operator": "Exists" }] }]), true, false),
        (
            json!([{ "matchFields": [{ "key": "metadata.name", "operator": "In", "values": ["plain-1"] }] }]),
            false,
            true,
        ),
        (json!([{}]), false, false),
        (json!([]), false, false),
        // Terms are ORed.
        (
            json!([{ "matchExpressions": [{ "key": "accelerator", "operator": "In", "values": ["gpu"] }] },
                   { "matchFields": [{ "key": "metadata.name", "operator": "In", "values": ["plain-1"] }] }]),
            true,
            true,
        ),
    ];
    for (terms, on_gpu, on_plain) in cases {
        let spec = affinity(terms.clone());
        assert_eq!(placement::should_run(&spec, &gpu).0, on_gpu, "{terms} on gpu-1");
        assert_eq!(placement::should_run(&spec, &plain).0, on_plain, "{terms} on plain-1");
    }
    let pinned = spec(json!({ "nodeName": "gpu-1" }));
    assert_eq!(placement::should_run(&pinned, &plain), (false, false));
    assert_eq!(placement::should_run(&pinned, &gpu), (true, true));
}

#[test]
fn taints_keep_pods_off_unless_tolerated_and_no_execute_evicts() {
    let no_schedule = node("a", json!({}), json!([{ "key": "dedicated", "value": "db", "effect": "NoSchedule" }]));
    let no_execute = node("b", json!({}), json!([{ "key": "dedicated", "value": "db", "effect": "NoExecute" }]));
    let prefer = node("c", json!({}), json!([{ "key": "dedicated", "effect": "PreferNoSchedule" }]));
    let bare = spec(json!({}));
    assert_eq!(placement::should_run(&bare, &no_schedule), (false, true), "a running pod may stay");
    assert_eq!(placement::should_run(&bare, &no_execute), (false, false), "evicted");
    assert_eq!(placement::should_run(&bare, &prefer), (true, true));
    let tolerate = |toleration: Value| spec(json!({ "tolerations": [toleration] }));
    let cases = [
        (json!({ "key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule" }), true, false),
        (json!({ "key": "dedicated", "value": "db" }), true, true),
        (json!({ "key": "dedicated", "operator": "Exists" }), true, true),
        (json!({ "operator": "Exists" }), true, true),
        (json!({ "key": "dedicated", "value": "web" }), false, false),
        (json!({ "key": "other", "operator": "Exists" }), false, false),
    ];
    for (toleration, schedule, execute) in cases {
        let spec = tolerate(toleration.clone());
        assert_eq!(placement::should_run(&spec, &no_schedule).0, schedule, "{toleration} on NoSchedule");
        assert_eq!(placement::should_run(&spec, &no_execute).0, execute, "{toleration} on NoExecute");
    }
    // The defaults: unschedulable and node problems are tolerated.
    let cordoned = node(
        "d",
        json!({}),
        json!([{ "key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule" },
                                                { "key": "node.kubernetes.io/not-ready", "effect": "NoExecute" }]),
    );
    assert_eq!(placement::should_run(&bare, &cordoned), (true, true));
    let partitioned =
        node("e", json!({}), json!([{ "key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule" }]));
    assert!(!placement::should_run(&bare, &partitioned).0);
    assert!(placement::should_run(&spec(json!({ "hostNetwork": true })), &partitioned).0);
}

#[test]
fn default_tolerations_replace_ones_that_differ_in_seconds_only() {
    let mut with_seconds = spec(json!({ "tolerations": [
        { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
        { "key": "custom", "operator": "Exists" }] }));
    placement::add_default_tolerations(&mut with_seconds);
    let tolerations = with_seconds.tolerations.unwrap_or_default();
    assert_eq!(tolerations.len(), 7);
    let not_ready = tolerations.iter().find(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready"));
    assert_eq!(not_ready.and_then(|t| t.toleration_seconds), None, "tolerated forever");
    assert_eq!(placement::default_tolerations(true).len(), 7);
}

#[test]
fn pods_are_bound_to_their_node_by_affinity() {
    let existing = spec(json!({ "affinity": {
        "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [
            { "matchExpressions": [{ "key": "zone", "operator": "In", "values": ["a"] }] }] } },
        "podAntiAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": [
            { "topologyKey": "kubernetes.io/hostname" }] } } }));
    let affinity = placement::bind_to_node(existing.affinity, "node-7");
    assert!(affinity.pod_anti_affinity.is_some(), "other affinities stay");
    let mut pod = Pod { spec: Some(spec(json!({}))), ..Pod::default() };
    pod.spec.as_mut().expect("spec").affinity = Some(affinity.clone());
    assert_eq!(placement::target_node(&pod).as_deref(), Some("node-7"));
    let terms = affinity.node_affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution);
    assert_eq!(terms.map(|t| t.node_selector_terms.len()), Some(1), "the node's term replaces the others");
    pod.spec.as_mut().expect("spec").node_name = Some("node-8".into());
    assert_eq!(placement::target_node(&pod).as_deref(), Some("node-8"), "nodeName wins");
    assert_eq!(placement::target_node(&Pod { spec: Some(spec(json!({}))), ..Pod::default() }), None);
}

fn daemon_set(strategy: Value) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": { "name": "agent", "namespace": "ns", "uid": "ds-uid",
                      "annotations": { "deprecated.daemonset.template.generation": "3" } },
        "spec": { "selector": { "matchLabels": { "app": "agent" } },
                  "template": { "metadata": { "labels": { "app": "agent" } }, "spec": { "containers": [{ "name": "c" }] } },
                  "updateStrategy": strategy } }))
    .expect("a DaemonSet")
}

#[test]
fn the_pod_template_carries_generation_hash_and_tolerations() {
    let ds = daemon_set(json!({ "type": "RollingUpdate" }));
    assert_eq!(util::template_generation(&ds), Some(3));
    let template: PodTemplateSpec = ds.spec.clone().expect("spec").template;
    let made = util::pod_template(&template, Some(3), "abc");
    let labels = made.metadata.clone().and_then(|m| m.labels).unwrap_or_default();
    assert_eq!(labels.get("pod-template-generation").map(String::as_str), Some("3"));
    assert_eq!(labels.get("controller-revision-hash").map(String::as_str), Some("abc"));
    assert_eq!(made.spec.and_then(|s| s.tolerations).map(|t| t.len()), Some(6));
    let pod = Pod { metadata: kube::api::ObjectMeta { labels: Some(labels), ..Default::default() }, ..Pod::default() };
    assert!(util::is_updated(&pod, "abc", None));
    assert!(util::is_updated(&pod, "other", Some(3)), "the generation alone is enough");
    assert!(!util::is_updated(&pod, "other", Some(4)));
    assert!(!util::is_updated(&pod, "", None));
}

#[test]
fn budgets_scale_percentages_up() {
    let percent = |s: &str| IntOrString::String(s.into());
    assert_eq!(util::scaled_value(&percent("25%"), 10, true), Ok(3));
    assert_eq!(util::scaled_value(&percent("25%"), 10, false), Ok(2));
    assert_eq!(util::scaled_value(&IntOrString::Int(2), 10, true), Ok(2));
    assert!(util::scaled_value(&percent("25"), 10, true).is_err());
    let surge =
        daemon_set(json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "10%", "maxUnavailable": 0 } }));
    assert_eq!(util::surge_count(&surge, 5), Ok(1));
    assert_eq!(util::unavailable_count(&surge, 5), Ok(0));
    assert!(util::allows_surge(&surge));
    let on_delete = daemon_set(json!({ "type": "OnDelete" }));
    assert_eq!(util::surge_count(&on_delete, 5), Ok(0));
    assert!(!util::allows_surge(&on_delete));
}

const NOW: &str = "2026-01-01T00:10:00Z";

/// A scheduled pod on `node` of revision `hash`, created at minute `created`, ready or not.
fn pod(name: &str, node: &str, hash: &str, created: u32, ready: bool) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": { "name": name, "uid": format!("uid-{name}"), "labels": { "controller-revision-hash": hash },
                          "creationTimestamp": format!("2026-01-01T00:0{created}:00Z") },
            "spec": { "nodeName": node, "containers": [{ "name": "c" }] },
            "status": { "phase": "Running", "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" },
                        "lastTransitionTime": "2026-01-01T00:00:00Z" }] } }))
        .expect("a pod"),
    )
}

fn current(surge: bool) -> Current<'static> {
    Current { hash: "new", generation: None, surge, min_ready: 0, now: NOW.parse::<Timestamp>().expect("a time") }
}

fn names(pods: &[Arc<Pod>]) -> Vec<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

#[test]
fn each_node_keeps_one_pod_and_replaces_failed_ones() {
    let now = current(false);
    assert_eq!(manage::node_work((true, true), None, &now), NodeWork { create: true, ..NodeWork::default() });
    assert_eq!(manage::node_work((false, false), None, &now), NodeWork::default());
    let extra = vec![pod("b", "n", "new", 2, true), pod("a", "n", "new", 1, true)];
    assert_eq!(names(&manage::node_work((true, true), Some(&extra), &now).delete), ["b"], "the oldest stays");
    assert_eq!(names(&manage::node_work((false, false), Some(&extra), &now).delete), ["b", "a"]);
    assert!(!manage::node_work((false, true), Some(&extra), &now).create);
    let mut failed = (*pod("f", "n", "new", 1, false)).clone();
    failed.status.as_mut().expect("status").phase = Some("Failed".into());
    let work = manage::node_work((true, true), Some(&vec![Arc::new(failed)]), &now);
    assert_eq!((names(&work.failed), work.create), (vec!["f".to_owned()], false));
    // Surging: the new pod replaces the old one once available.
    let surge = current(true);
    let both = vec![pod("old", "n", "old", 1, true), pod("new", "n", "new", 2, false)];
    assert!(manage::node_work((true, true), Some(&both), &surge).delete.is_empty());
    let both = vec![pod("old", "n", "old", 1, true), pod("new", "n", "new", 2, true)];
    assert_eq!(names(&manage::node_work((true, true), Some(&both), &surge).delete), ["old"]);
    let both = vec![pod("old", "n", "old", 1, false), pod("new", "n", "new", 2, false)];
    assert_eq!(names(&manage::node_work((true, true), Some(&both), &surge).delete), ["old"], "no point keeping it");
}

#[test]
fn failed_pod_deletions_back_off_per_node() {
    let backoff = manage::FailedBackoff::default();
    let at = |s: &str| s.parse::<Timestamp>().expect("a time");
    assert_eq!(backoff.waiting("k", at("2026-01-01T00:00:00Z")), None);
    backoff.next("k", at("2026-01-01T00:00:00Z"));
    assert!(backoff.waiting("k", at("2026-01-01T00:00:00.5Z")).is_some());
    assert_eq!(backoff.waiting("k", at("2026-01-01T00:00:01.5Z")), None);
    backoff.next("k", at("2026-01-01T00:00:01.5Z"));
    assert!(backoff.waiting("k", at("2026-01-01T00:00:03Z")).is_some(), "2 s now");
    assert_eq!(backoff.waiting("other", at("2026-01-01T00:00:03Z")), None);
}

fn nodes_with(pods: &[Arc<Pod>], empty: &[&str]) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut map = manage::by_node(pods, false);
    for node in empty {
        map.entry((*node).to_owned()).or_default();
    }
    map
}

#[test]
fn a_rollout_deletes_within_max_unavailable() {
    let now = current(false);
    let old = |n: &str, ready| pod(&format!("{n}-pod"), n, "old", 1, ready);
    let by_node = nodes_with(&[old("a", true), old("b", true), old("c", true), old("d", true)], &[]);
    let plan = rolling::plan(&by_node, |_| true, 0, 2, 4, &now);
    assert_eq!(names(&plan.delete), ["a-pod", "b-pod"]);
    // A node without a pod (being replaced) counts against the budget; unavailable old pods go at once.
    let by_node = nodes_with(&[old("b", false), old("c", true), old("d", true)], &["a"]);
    let plan = rolling::plan(&by_node, |_| true, 0, 2, 4, &now);
    assert_eq!(names(&plan.delete), ["b-pod"]);
    let plan = rolling::plan(&by_node, |_| true, 0, 3, 4, &now);
    assert_eq!(names(&plan.delete), ["b-pod", "c-pod"]);
    // Updated but unavailable pods count too.
    let by_node = nodes_with(&[pod("a-new", "a", "new", 2, false), old("b", true)], &[]);
    assert!(rolling::plan(&by_node, |_| true, 0, 1, 2, &now).delete.is_empty());
}

#[test]
fn a_surging_rollout_starts_new_pods_before_deleting_old_ones() {
    let now = current(true);
    let old = |n: &str| pod(&format!("{n}-old"), n, "old", 1, true);
    let by_node = nodes_with(&[old("a"), old("b"), old("c")], &[]);
    let plan = rolling::plan(&by_node, |_| true, 1, 0, 3, &now);
    assert_eq!((plan.create_on, plan.delete.len()), (vec!["a".to_owned()], 0));
    let surged = nodes_with(&[old("a"), pod("a-new", "a", "new", 2, false), old("b"), old("c")], &[]);
    let plan = rolling::plan(&surged, |_| true, 1, 0, 3, &now);
    assert!(plan.create_on.is_empty() && plan.delete.is_empty(), "waiting for a-new");
    let available = nodes_with(&[old("a"), pod("a-new", "a", "new", 2, true), old("b"), old("c")], &[]);
    let plan = rolling::plan(&available, |_| true, 1, 0, 3, &now);
    assert_eq!((names(&plan.delete), plan.create_on), (vec!["a-old".to_owned()], vec!["b".to_owned()]));
    // A node that no longer qualifies loses its pod only when enough pods are available elsewhere.
    let plan = rolling::plan(&by_node, |n| n != "c", 1, 0, 2, &now);
    assert_eq!(names(&plan.delete), ["c-old"]);
    let plan = rolling::plan(&by_node, |n| n != "c", 1, 0, 3, &now);
    assert!(plan.delete.is_empty());
}

fn revision(number: i64, hash: &str) -> Arc<ControllerRevision> {
    Arc::new(
        serde_json::from_value(json!({ "metadata": { "name": format!("agent-{hash}"),
            "labels": { "controller-revision-hash": hash } }, "revision": number }))
        .expect("a revision"),
    )
}

#[test]
fn history_cleanup_spares_revisions_pods_still_run() {
    let old = vec![revision(3, "c"), revision(1, "a"), revision(2, "b"), revision(4, "d")];
    let live: BTreeSet<String> = ["a".to_owned()].into();
    let names =
        |limit| -> Vec<String> { revisions::to_clean_up(limit, &old, &live).iter().map(|r| r.name_any()).collect() };
    assert_eq!(names(2), ["agent-b", "agent-c"]);
    assert_eq!(names(0), ["agent-b", "agent-c", "agent-d"]);
    assert!(names(4).is_empty());
    let ds = daemon_set(json!({ "type": "RollingUpdate" }));
    let snapshot = revisions::snapshot(&ds, 5);
    assert!(revisions::matches(&ds, &snapshot));
    let hash = snapshot.labels().get("controller-revision-hash").cloned().expect("a hash");
    assert_eq!(snapshot.name_any(), format!("agent-{hash}"));
    assert_eq!(snapshot.revision, 5);
}
