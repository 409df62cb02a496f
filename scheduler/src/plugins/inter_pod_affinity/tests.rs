use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::*;
use crate::framework::Code;
use crate::plugins::testing::node;

/// A pod in `namespace` with `labels` and `affinity` (the pod spec's affinity).
fn pod_in(namespace: &str, name: &str, labels: Value, affinity: Value) -> PodInfo {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}"), "labels": labels },
        "spec": { "containers": [{ "name": "c", "image": "busybox" }], "affinity": affinity },
    }))
    .unwrap_or_else(|e| panic!("pod {name}: {e}"));
    PodInfo::new(Arc::new(pod))
}

fn pod(name: &str, labels: Value, affinity: Value) -> PodInfo {
    pod_in("default", name, labels, affinity)
}

/// A required or preferred term (`weight` > 0) selecting `selector` (None: no labelSelector) over `key`.
fn term(selector: Option<Value>, key: &str, extra: Value) -> Value {
    let mut t = json!({ "topologyKey": key });
    if let Some(selector) = selector {
        t["labelSelector"] = selector;
    }
    if let (Some(t), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    t
}

fn app(value: &str) -> Option<Value> {
    Some(json!({ "matchLabels": { "app": value } }))
}

fn required(kind: &str, terms: Vec<Value>) -> Value {
    json!({ kind: { "requiredDuringSchedulingIgnoredDuringExecution": terms } })
}

fn preferred(kind: &str, weighted: Vec<(i32, Value)>) -> Value {
    let terms: Vec<Value> = weighted.into_iter().map(|(w, t)| json!({ "weight": w, "podAffinityTerm": t })).collect();
    json!({ kind: { "preferredDuringSchedulingIgnoredDuringExecution": terms } })
}

/// Merges affinity objects ({podAffinity}, {podAntiAffinity}) into one.
fn both(a: Value, b: Value) -> Value {
    let mut merged = a;
    if let (Some(m), Some(b)) = (merged.as_object_mut(), b.as_object()) {
        m.extend(b.clone());
    }
    merged
}

/// A snapshot with nodes (name, labels), pods placed on them, and namespaces with labels.
fn cluster(nodes: &[(&str, Value)], pods: Vec<(&str, PodInfo)>, namespaces: &[(&str, Value)]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (name, labels) in nodes {
        snapshot.upsert_node(node(name, json!({ "labels": labels })).node);
    }
    for (node_name, p) in pods {
        snapshot.node_mut(node_name).unwrap_or_else(|| panic!("node {node_name}")).add_pod(Arc::new(p));
    }
    for (name, labels) in namespaces {
        snapshot.namespace_labels.insert((*name).to_owned(), serde_json::from_value(labels.clone()).expect("labels"));
    }
    snapshot
}

/// Pre-filter, then filter on every node in snapshot order; Err(status) when pre-filter does not succeed.
fn filter_all(pod: &PodInfo, snapshot: &Snapshot) -> Result<Vec<Status>, Status> {
    let plugin = InterPodAffinity::default();
    let mut state = CycleState::default();
    let status = plugin.pre_filter(&mut state, pod, snapshot);
    if !status.is_success() {
        return Err(status);
    }
    Ok(snapshot.nodes.iter().map(|n| plugin.filter(&state, pod, n, snapshot)).collect())
}

/// The names of the nodes the pod passes.
fn feasible(pod: &PodInfo, snapshot: &Snapshot) -> Vec<String> {
    let statuses = filter_all(pod, snapshot).unwrap_or_else(|s| panic!("pre-filter: {s:?}"));
    snapshot.nodes.iter().zip(statuses).filter(|(_, s)| s.is_success()).map(|(n, _)| n.name.clone()).collect()
}

fn the_status(pod: &PodInfo, snapshot: &Snapshot, node_name: &str) -> Status {
    let statuses = filter_all(pod, snapshot).unwrap_or_else(|s| panic!("pre-filter: {s:?}"));
    let index = snapshot.nodes.iter().position(|n| n.name == node_name).expect("node");
    statuses[index].clone()
}

/// Pre-score, score and normalize over every node; None when pre-score skips.
fn scores(plugin: &InterPodAffinity, pod: &PodInfo, snapshot: &Snapshot) -> Option<Vec<i64>> {
    let mut state = CycleState::default();
    let nodes: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
    let status = plugin.pre_score(&mut state, pod, &nodes, snapshot);
    if status.is_skip() {
        return None;
    }
    assert!(status.is_success(), "{status:?}");
    let mut scores: Vec<i64> = nodes.iter().map(|n| plugin.score(&state, pod, n, snapshot)).collect();
    plugin.normalize(&state, pod, &mut scores);
    Some(scores)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn hostnames(count: usize) -> Vec<(String, Value)> {
    (1..=count).map(|i| (format!("n{i}"), json!({ "kubernetes.io/hostname": format!("n{i}") }))).collect()
}

#[test]
fn required_anti_affinity_spreads_replicas_one_per_hostname() {
    let anti = required("podAntiAffinity", vec![term(app("web"), "kubernetes.io/hostname", json!({}))]);
    let replica = |i: usize| pod(&format!("web-{i}"), json!({ "app": "web" }), anti.clone());
    let hosts = hostnames(3);
    let nodes: Vec<(&str, Value)> = hosts.iter().map(|(n, l)| (n.as_str(), l.clone())).collect();
    let mut snapshot = cluster(&nodes, vec![], &[]);
    for i in 1..=3 {
        let next = replica(i);
        let options = feasible(&next, &snapshot);
        assert_eq!(options.len(), 4 - i, "replica {i} sees {options:?}");
        let chosen = options[0].clone();
        snapshot.node_mut(&chosen).expect("node").add_pod(Arc::new(next));
    }
    let fourth = replica(4);
    let statuses = filter_all(&fourth, &snapshot).expect("pre-filter");
    for status in statuses {
        assert_eq!(status.code, Code::Unschedulable);
        assert_eq!(status.reasons, vec![ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH]);
    }
}

#[test]
fn running_pods_anti_affinity_repels_a_matching_pod_without_rules_of_its_own() {
    let anti = required("podAntiAffinity", vec![term(app("web"), "zone", json!({}))]);
    let snapshot = cluster(
        &[("a1", json!({ "zone": "a" })), ("a2", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" }))],
        vec![("a1", pod("web-1", json!({ "app": "web" }), anti))],
        &[],
    );
    let plain_web = pod("web-2", json!({ "app": "web" }), json!({}));
    assert_eq!(feasible(&plain_web, &snapshot), names(&["b1"]));
    let status = the_status(&plain_web, &snapshot, "a2");
    assert_eq!(
        (status.code, status.reasons),
        (Code::Unschedulable, names(&[ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH]))
    );
    let other = pod("db", json!({ "app": "db" }), json!({}));
    assert!(filter_all(&other, &snapshot).is_err_and(|s| s.is_skip()), "nothing repels a pod no rule selects");
}

#[test]
fn pre_filter_skips_pods_without_required_terms_when_no_running_anti_affinity_matches() {
    let snapshot = cluster(&[("n1", json!({ "zone": "a" }))], vec![], &[]);
    let preferred_only = pod("p", json!({}), preferred("podAffinity", vec![(5, term(app("db"), "zone", json!({})))]));
    assert!(filter_all(&preferred_only, &snapshot).is_err_and(|s| s.is_skip()));
    let with_required = pod("p", json!({}), required("podAntiAffinity", vec![term(app("db"), "zone", json!({}))]));
    assert!(filter_all(&with_required, &snapshot).is_ok());
}

#[test]
fn required_affinity_by_zone_and_nodes_without_the_key() {
    let snapshot = cluster(
        &[
            ("a1", json!({ "zone": "a" })),
            ("a2", json!({ "zone": "a" })),
            ("b1", json!({ "zone": "b" })),
            ("bare", json!({})),
        ],
        vec![("a1", pod("db", json!({ "app": "db" }), json!({})))],
        &[],
    );
    let web = pod("web", json!({ "app": "web" }), required("podAffinity", vec![term(app("db"), "zone", json!({}))]));
    assert_eq!(feasible(&web, &snapshot), names(&["a1", "a2"]));
    for rejected in ["b1", "bare"] {
        let status = the_status(&web, &snapshot, rejected);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable, "{rejected}");
        assert_eq!(status.reasons, vec![ERR_REASON_AFFINITY_RULES_NOT_MATCH]);
    }
    // Several terms are ANDed: one pod must match them all, and every key must be on the node.
    let two_terms = pod(
        "web",
        json!({}),
        required(
            "podAffinity",
            vec![
                term(app("db"), "zone", json!({})),
                term(Some(json!({ "matchExpressions": [{ "key": "app", "operator": "Exists" }] })), "rack", json!({})),
            ],
        ),
    );
    assert!(feasible(&two_terms, &snapshot).is_empty(), "no node has a rack label");
}

#[test]
fn affinity_terms_look_in_the_pods_namespace_unless_told_otherwise() {
    let namespaces = [("other", json!({ "team": "data" })), ("default", json!({ "team": "web" }))];
    let snapshot = cluster(
        &[("a1", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" }))],
        vec![("a1", pod_in("other", "db", json!({ "app": "db" }), json!({})))],
        &namespaces,
    );
    let with = |extra: Value| pod("web", json!({}), required("podAffinity", vec![term(app("db"), "zone", extra)]));
    assert!(feasible(&with(json!({})), &snapshot).is_empty(), "db runs in another namespace");
    assert_eq!(feasible(&with(json!({ "namespaces": ["other"] })), &snapshot), names(&["a1"]));
    let by_team = json!({ "namespaceSelector": { "matchLabels": { "team": "data" } } });
    assert_eq!(feasible(&with(by_team), &snapshot), names(&["a1"]));
    assert_eq!(
        feasible(&with(json!({ "namespaceSelector": {} })), &snapshot),
        names(&["a1"]),
        "an empty selector picks all namespaces"
    );
    let wrong_team = json!({ "namespaceSelector": { "matchLabels": { "team": "ml" } } });
    assert!(feasible(&with(wrong_team), &snapshot).is_empty());
}

#[test]
fn running_pods_anti_affinity_namespace_selector_sees_the_incoming_pods_namespace_labels() {
    let namespaces = [("prod", json!({ "env": "prod" })), ("dev", json!({ "env": "dev" }))];
    let anti = required(
        "podAntiAffinity",
        vec![term(app("web"), "zone", json!({ "namespaceSelector": { "matchLabels": { "env": "prod" } } }))],
    );
    let snapshot = cluster(
        &[("a1", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" }))],
        vec![("a1", pod_in("dev", "guard", json!({}), anti))],
        &namespaces,
    );
    assert_eq!(feasible(&pod_in("prod", "web", json!({ "app": "web" }), json!({})), &snapshot), names(&["b1"]));
    let in_dev = pod_in("dev", "web", json!({ "app": "web" }), json!({}));
    assert!(filter_all(&in_dev, &snapshot).is_err_and(|s| s.is_skip()));
}

#[test]
fn the_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() {
    let self_affine = required("podAffinity", vec![term(app("cache"), "zone", json!({}))]);
    let nodes = [("a1", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" })), ("bare", json!({}))];
    let first = pod("cache-1", json!({ "app": "cache" }), self_affine.clone());
    let empty = cluster(&nodes, vec![], &[]);
    assert_eq!(feasible(&first, &empty), names(&["a1", "b1"]));

    let not_self = pod("web", json!({ "app": "web" }), self_affine.clone());
    assert!(feasible(&not_self, &empty).is_empty(), "a pod not matching its own terms waits for a match");

    let placed = cluster(&nodes, vec![("a1", pod("cache-0", json!({ "app": "cache" }), self_affine))], &[]);
    assert_eq!(feasible(&first, &placed), names(&["a1"]), "once one runs, the group follows it");
}

#[test]
fn nil_selector_selects_no_pod_and_empty_selector_every_pod() {
    let nodes = [("a1", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" }))];
    let snapshot = cluster(&nodes, vec![("a1", pod("any", json!({ "x": "y" }), json!({})))], &[]);
    let nil_affinity = pod("p", json!({}), required("podAffinity", vec![term(None, "zone", json!({}))]));
    assert!(feasible(&nil_affinity, &snapshot).is_empty(), "nothing matches, not even the pod itself");
    let empty_affinity = pod("p", json!({}), required("podAffinity", vec![term(Some(json!({})), "zone", json!({}))]));
    assert_eq!(feasible(&empty_affinity, &snapshot), names(&["a1"]));
    let nil_anti = pod("p", json!({}), required("podAntiAffinity", vec![term(None, "zone", json!({}))]));
    assert_eq!(feasible(&nil_anti, &snapshot), names(&["a1", "b1"]));
    let empty_anti = pod("p", json!({}), required("podAntiAffinity", vec![term(Some(json!({})), "zone", json!({}))]));
    assert_eq!(feasible(&empty_anti, &snapshot), names(&["b1"]));
}

#[test]
fn add_pod_and_remove_pod_update_the_counts_for_preemption() {
    let anti = required("podAntiAffinity", vec![term(app("web"), "kubernetes.io/hostname", json!({}))]);
    let hosts = hostnames(2);
    let nodes: Vec<(&str, Value)> = hosts.iter().map(|(n, l)| (n.as_str(), l.clone())).collect();
    let victim = pod("web-1", json!({ "app": "web" }), anti.clone());
    let snapshot = cluster(&nodes, vec![("n1", victim.clone())], &[]);
    let incoming = pod("web-2", json!({ "app": "web" }), json!({}));
    let plugin = InterPodAffinity::default();
    let mut state = CycleState::default();
    assert!(plugin.pre_filter(&mut state, &incoming, &snapshot).is_success());
    let n1 = &snapshot.nodes[0];
    let n2 = &snapshot.nodes[1];
    assert!(plugin.filter(&state, &incoming, n1, &snapshot).is_rejected());

    let mut without_victim = state.clone();
    plugin.remove_pod(&mut without_victim, &incoming, &victim, n1);
    assert!(plugin.filter(&without_victim, &incoming, n1, &snapshot).is_success());
    assert!(plugin.filter(&state, &incoming, n1, &snapshot).is_rejected(), "the clone is independent");

    plugin.add_pod(&mut without_victim, &incoming, &victim, n2);
    assert!(plugin.filter(&without_victim, &incoming, n2, &snapshot).is_rejected());
    assert!(plugin.filter(&without_victim, &incoming, n1, &snapshot).is_success());

    // The incoming pod's own terms count added pods too.
    let with_affinity =
        pod("web-3", json!({}), required("podAffinity", vec![term(app("db"), "kubernetes.io/hostname", json!({}))]));
    let mut state = CycleState::default();
    assert!(plugin.pre_filter(&mut state, &with_affinity, &snapshot).is_success());
    assert!(plugin.filter(&state, &with_affinity, n2, &snapshot).is_rejected());
    plugin.add_pod(&mut state, &with_affinity, &pod("db", json!({ "app": "db" }), json!({})), n2);
    assert!(plugin.filter(&state, &with_affinity, n2, &snapshot).is_success());
    assert!(plugin.filter(&state, &with_affinity, n1, &snapshot).is_rejected());
}

#[test]
fn removing_the_last_match_of_a_self_affine_group_frees_every_domain_again() {
    let self_affine = required("podAffinity", vec![term(app("cache"), "zone", json!({}))]);
    let only = pod("cache-0", json!({ "app": "cache" }), self_affine.clone());
    let snapshot =
        cluster(&[("a1", json!({ "zone": "a" })), ("b1", json!({ "zone": "b" }))], vec![("a1", only.clone())], &[]);
    let next = pod("cache-1", json!({ "app": "cache" }), self_affine);
    let plugin = InterPodAffinity::default();
    let mut state = CycleState::default();
    assert!(plugin.pre_filter(&mut state, &next, &snapshot).is_success());
    let (a1, b1) = (&snapshot.nodes[0], &snapshot.nodes[1]);
    assert!(plugin.filter(&state, &next, b1, &snapshot).is_rejected());
    plugin.remove_pod(&mut state, &next, &only, a1);
    assert!(plugin.filter(&state, &next, b1, &snapshot).is_success(), "no match is left anywhere");
}

fn security(value: &str) -> Value {
    json!({ "security": value })
}

fn security_in(values: &[&str]) -> Option<Value> {
    Some(json!({ "matchExpressions": [{ "key": "security", "operator": "In", "values": values }] }))
}

#[test]
fn preferred_affinity_scores_the_domains_with_matching_pods() {
    let plugin = InterPodAffinity::default();
    let stay_with_s1 = preferred("podAffinity", vec![(5, term(security_in(&["S1"]), "region", json!({})))]);
    let nodes = [
        ("node1", json!({ "region": "China" })),
        ("node2", json!({ "region": "India" })),
        ("node3", json!({ "az": "az1" })),
    ];
    let existing = vec![
        ("node1", pod("e1", security("S1"), json!({}))),
        ("node2", pod("e2", security("S2"), json!({}))),
        ("node3", pod("e3", security("S1"), json!({}))),
    ];
    let snapshot = cluster(&nodes, existing, &[]);
    let incoming = pod("p", security("S1"), stay_with_s1);
    assert_eq!(scores(&plugin, &incoming, &snapshot), Some(vec![100, 0, 0]));

    // Upstream's "different label operators": weights 8 (S2, not S1) and 2 (any security) per region.
    let affinity3 = preferred(
        "podAffinity",
        vec![
            (
                8,
                term(
                    Some(json!({ "matchExpressions": [
                        { "key": "security", "operator": "NotIn", "values": ["S1"] },
                        { "key": "security", "operator": "In", "values": ["S2"] }] })),
                    "region",
                    json!({}),
                ),
            ),
            (
                2,
                term(
                    Some(json!({ "matchExpressions": [
                        { "key": "security", "operator": "Exists" },
                        { "key": "wrongkey", "operator": "DoesNotExist" }] })),
                    "region",
                    json!({}),
                ),
            ),
        ],
    );
    assert_eq!(scores(&plugin, &pod("p", security("S1"), affinity3), &snapshot), Some(vec![20, 100, 0]));
}

#[test]
fn preferred_anti_affinity_gives_negative_weights() {
    let plugin = InterPodAffinity::default();
    let away_from_s1 = preferred("podAntiAffinity", vec![(5, term(security_in(&["S1"]), "az", json!({})))]);
    let snapshot = cluster(
        &[("node1", json!({ "az": "az1" })), ("node2", json!({ "region": "India" }))],
        vec![
            ("node1", pod("e1", security("S1"), json!({}))),
            ("node1", pod("e2", security("S1"), json!({}))),
            ("node2", pod("e3", security("S2"), json!({}))),
        ],
        &[],
    );
    let incoming = pod("p", security("S1"), away_from_s1);
    let mut state = CycleState::default();
    let nodes: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
    assert!(plugin.pre_score(&mut state, &incoming, &nodes, &snapshot).is_success());
    let raw: Vec<i64> = nodes.iter().map(|n| plugin.score(&state, &incoming, n, &snapshot)).collect();
    assert_eq!(raw, [-10, 0]);
    assert_eq!(scores(&plugin, &incoming, &snapshot), Some(vec![0, 100]));
}

#[test]
fn normalization_is_min_max_with_negative_scores_truncated() {
    let state = PreScoreState::compute(
        &InterPodAffinity::default(),
        &pod("p", json!({}), preferred("podAffinity", vec![(1, term(Some(json!({})), "zone", json!({})))])),
        &cluster(&[("a", json!({ "zone": "a" }))], vec![("a", pod("e", json!({}), json!({})))], &[]),
    )
    .expect("some weight");
    let mut scores = [-5, 3, 0, -5];
    state.normalize(&mut scores);
    assert_eq!(scores, [0, 100, 62, 0]);
    let mut equal = [7, 7];
    state.normalize(&mut equal);
    assert_eq!(equal, [0, 0], "no spread: all zero");
}

#[test]
fn running_pods_terms_score_the_incoming_pod_symmetrically() {
    let plugin = InterPodAffinity::default();
    let stay_with_s1_away_from_s2 = both(
        preferred("podAffinity", vec![(8, term(security_in(&["S1"]), "region", json!({})))]),
        preferred("podAntiAffinity", vec![(5, term(security_in(&["S2"]), "az", json!({})))]),
    );
    let away_from_s1 = preferred("podAntiAffinity", vec![(5, term(security_in(&["S1"]), "az", json!({})))]);
    // Upstream's "affinity, anti-affinity and symmetry" case: weights 8, -5, 8, -5.
    let snapshot = cluster(
        &[
            ("node1", json!({ "region": "China" })),
            ("node2", json!({ "az": "az1" })),
            ("node3", json!({ "region": "India" })),
            ("node4", json!({ "az": "az2" })),
        ],
        vec![
            ("node1", pod("e1", security("S1"), json!({}))),
            ("node2", pod("e2", security("S2"), json!({}))),
            ("node3", pod("e3", json!({}), stay_with_s1_away_from_s2.clone())),
            ("node4", pod("e4", json!({}), away_from_s1)),
        ],
        &[],
    );
    let incoming = pod("p", security("S1"), stay_with_s1_away_from_s2);
    assert_eq!(scores(&plugin, &incoming, &snapshot), Some(vec![100, 0, 100, 0]));

    // A running pod's required affinity counts with hardPodAffinityWeight; 0 turns it off.
    let hard = required(
        "podAffinity",
        vec![
            term(security_in(&["S1", "value2"]), "region", json!({})),
            term(
                Some(json!({ "matchExpressions": [
                    { "key": "security", "operator": "Exists" },
                    { "key": "wrongkey", "operator": "DoesNotExist" }] })),
                "region",
                json!({}),
            ),
        ],
    );
    let snapshot = cluster(
        &[
            ("node1", json!({ "region": "China" })),
            ("node2", json!({ "region": "India" })),
            ("node3", json!({ "az": "az1" })),
        ],
        vec![("node1", pod("e1", security("S1"), hard.clone())), ("node2", pod("e2", security("S2"), hard))],
        &[],
    );
    let plain = pod("p", security("S1"), json!({}));
    assert_eq!(scores(&plugin, &plain, &snapshot), Some(vec![100, 100, 0]));
    let no_hard = InterPodAffinity { hard_pod_affinity_weight: 0, ..InterPodAffinity::default() };
    assert_eq!(scores(&no_hard, &plain, &snapshot), None, "nothing applies: skip");
    let ignoring = InterPodAffinity { ignore_preferred_terms_of_existing_pods: true, ..InterPodAffinity::default() };
    assert_eq!(scores(&ignoring, &plain, &snapshot), None);
}

#[test]
fn scoring_skips_or_levels_when_nothing_differs() {
    let plugin = InterPodAffinity::default();
    let nodes = [("node1", json!({ "region": "China" })), ("node2", json!({ "region": "India" }))];
    let plain = cluster(&nodes, vec![("node1", pod("e1", security("S1"), json!({})))], &[]);
    assert_eq!(scores(&plugin, &pod("p", security("S1"), json!({})), &plain), None, "no terms anywhere");

    // Upstream issue 82796: one node of a domain has pods with affinity, the other does not.
    let stay = both(
        preferred("podAffinity", vec![(8, term(security_in(&["S1"]), "region", json!({})))]),
        preferred("podAntiAffinity", vec![(5, term(security_in(&["S2"]), "az", json!({})))]),
    );
    let snapshot = cluster(
        &[("node1", json!({ "region": "China" })), ("node2", json!({ "region": "China" }))],
        vec![("node1", pod("e1", security("S1"), json!({}))), ("node2", pod("e2", json!({}), stay))],
        &[],
    );
    assert_eq!(scores(&plugin, &pod("p", security("S1"), json!({})), &snapshot), Some(vec![0, 0]));
}

#[test]
fn preferred_terms_resolve_namespace_selectors() {
    let plugin = InterPodAffinity::default();
    let namespaces = [
        ("subteam1.team1", json!({ "team": "team1" })),
        ("subteam2.team1", json!({ "team": "team1" })),
        ("subteam1.team2", json!({ "team": "team2" })),
    ];
    let by_team = preferred(
        "podAffinity",
        vec![(
            5,
            term(
                security_in(&["S1"]),
                "region",
                json!({ "namespaces": ["subteam1.team2"], "namespaceSelector": { "matchLabels": { "team": "team1" } } }),
            ),
        )],
    );
    let snapshot = cluster(
        &[
            ("node1", json!({ "region": "China" })),
            ("node2", json!({ "region": "India" })),
            ("node3", json!({ "region": "Japan" })),
        ],
        vec![
            ("node1", pod_in("subteam2.team1", "e1", security("S1"), json!({}))),
            ("node2", pod_in("subteam1.team2", "e2", security("S1"), json!({}))),
            ("node2", pod_in("subteam1.team2", "e3", security("S1"), json!({}))),
            ("node3", pod_in("default", "e4", security("S1"), json!({}))),
        ],
        &namespaces,
    );
    let incoming = pod_in("subteam1.team1", "p", security("S1"), by_team);
    assert_eq!(scores(&plugin, &incoming, &snapshot), Some(vec![50, 100, 0]));
}
