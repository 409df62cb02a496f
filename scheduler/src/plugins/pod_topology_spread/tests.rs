use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::*;
use crate::framework::Code;
use crate::plugins::testing::{node, pod};

/// Upstream's fooSelector: pods that have the label `foo`.
fn foo_selector() -> Value {
    json!({ "matchExpressions": [{ "key": "foo", "operator": "Exists" }] })
}

fn bar_selector() -> Value {
    json!({ "matchExpressions": [{ "key": "bar", "operator": "Exists" }] })
}

fn spread(max_skew: i32, key: &str, when: &str, selector: Value) -> Value {
    json!({ "maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": selector })
}

/// A pod labelled `foo` with these constraints and the rest of `spec`.
fn incoming(constraints: Vec<Value>, mut spec: Value) -> PodInfo {
    spec["topologySpreadConstraints"] = Value::Array(constraints);
    if spec.get("labels").is_none() {
        spec["labels"] = json!({ "foo": "" });
    }
    pod("p", spec)
}

fn labelled(name: &str, labels: Value) -> PodInfo {
    pod(name, json!({ "labels": labels }))
}

/// The pod with extra metadata fields (namespace, deletionTimestamp).
fn with_metadata(p: PodInfo, metadata: Value) -> PodInfo {
    let mut value = serde_json::to_value(p.pod.as_ref()).expect("pod to JSON");
    for (k, v) in metadata.as_object().expect("object") {
        value["metadata"][k] = v.clone();
    }
    PodInfo::new(Arc::new(serde_json::from_value::<Pod>(value).expect("pod from JSON")))
}

/// A node with these labels.
fn labelled_node(name: &str, labels: Value) -> NodeInfo {
    node(name, json!({ "labels": labels }))
}

/// A node in `zone`, also labelled `node: <name>` (upstream's test nodes).
fn zoned(name: &str, zone: &str) -> NodeInfo {
    labelled_node(name, json!({ "zone": zone, "node": name }))
}

fn host(name: &str) -> NodeInfo {
    labelled_node(name, json!({ LABEL_HOSTNAME: name }))
}

/// The nodes, each with `count` pods labelled `foo`.
fn cluster(nodes: Vec<(NodeInfo, usize)>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (info, count) in nodes {
        snapshot.upsert_node(info.node.clone());
        for i in 0..count {
            place(&mut snapshot, &info.name, labelled(&format!("{}-{i}", info.name), json!({ "foo": "" })));
        }
    }
    snapshot
}

/// The snapshot with a service of the default namespace selecting `foo: ""`
/// (upstream's tests group the pods for the default constraints this way).
fn with_foo_service(mut snapshot: Snapshot) -> Snapshot {
    snapshot.owners.set(crate::framework::OwnerSelector {
        kind: crate::framework::owners::SERVICE,
        namespace: "default".into(),
        name: "foo".into(),
        selector: Some(serde_json::from_value(json!({ "matchLabels": { "foo": "" } })).expect("selector")),
    });
    snapshot
}

fn place(snapshot: &mut Snapshot, node: &str, p: PodInfo) {
    snapshot.node_mut(node).expect("node").add_pod(Arc::new(p));
}

/// Pre-filter then filter every node: (node, code).
fn filter_all(plugin: &PodTopologySpread, p: &PodInfo, snapshot: &Snapshot) -> Vec<(String, Code)> {
    let mut state = CycleState::default();
    assert!(plugin.pre_filter(&mut state, p, snapshot).is_success(), "pre-filter");
    snapshot.nodes.iter().map(|n| (n.name.clone(), plugin.filter(&state, p, n, snapshot).code)).collect()
}

fn codes(pairs: &[(&str, Code)]) -> Vec<(String, Code)> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

use Code::{Success as S, Unschedulable as U, UnschedulableAndUnresolvable as UU};

#[test]
fn max_skew_one_over_three_zones_admits_only_the_domains_within_the_skew() {
    let cases: &[(&str, [usize; 3], [Code; 3])] = &[
        ("spread 0/0/0: every zone fits", [0, 0, 0], [S, S, S]),
        ("spread 1/1/1: every zone fits", [1, 1, 1], [S, S, S]),
        ("spread 1/1/0: only the empty zone fits", [1, 1, 0], [U, U, S]),
        ("spread 2/1/0: only the empty zone fits", [2, 1, 0], [U, U, S]),
        ("spread 2/1/1: the two lighter zones fit", [2, 1, 1], [U, S, S]),
    ];
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector())], json!({}));
    for (name, counts, want) in cases {
        let snapshot = cluster(vec![
            (zoned("node-a", "zone1"), counts[0]),
            (zoned("node-b", "zone2"), counts[1]),
            (zoned("node-c", "zone3"), counts[2]),
        ]);
        let got = filter_all(&PodTopologySpread::default(), &p, &snapshot);
        let want = codes(&[("node-a", want[0]), ("node-b", want[1]), ("node-c", want[2])]);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn the_skew_counts_whole_zones_and_the_refusal_reason_is_upstreams() {
    // Zones 3/3 across four nodes (1+2 / 0+3) all fit; 2/1 keeps zone1 out.
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector())], json!({}));
    let nodes = |counts: [usize; 4]| {
        cluster(vec![
            (zoned("node-a", "zone1"), counts[0]),
            (zoned("node-b", "zone1"), counts[1]),
            (zoned("node-x", "zone2"), counts[2]),
            (zoned("node-y", "zone2"), counts[3]),
        ])
    };
    let plugin = PodTopologySpread::default();
    assert!(filter_all(&plugin, &p, &nodes([1, 2, 0, 3])).iter().all(|(_, c)| *c == S));
    let snapshot = nodes([1, 1, 0, 1]);
    assert_eq!(
        filter_all(&plugin, &p, &snapshot),
        codes(&[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)])
    );
    let mut state = CycleState::default();
    plugin.pre_filter(&mut state, &p, &snapshot);
    let refused = plugin.filter(&state, &p, &snapshot.nodes[0], &snapshot);
    assert_eq!(refused.reasons, vec![ERR_REASON_CONSTRAINTS_NOT_MATCH]);
}

/// Required node affinity that excludes nodes labelled gpu=yes (and keeps unlabelled ones).
fn not_on_gpu_nodes() -> Value {
    json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [
        { "matchExpressions": [{ "key": "gpu", "operator": "NotIn", "values": ["yes"] }] }] } } } })
}

#[test]
fn fewer_domains_than_min_domains_make_the_global_minimum_zero() {
    // Upstream: zones spread 2/1 with maxSkew 2; a third zone exists only in minDomains.
    let with_min_domains = |min_domains: i32| {
        let mut constraint = spread(2, "zone", DO_NOT_SCHEDULE, foo_selector());
        constraint["minDomains"] = json!(min_domains);
        incoming(vec![constraint], json!({}))
    };
    let snapshot = cluster(vec![
        (zoned("node-a", "zone1"), 1),
        (zoned("node-b", "zone1"), 1),
        (zoned("node-x", "zone2"), 0),
        (zoned("node-y", "zone2"), 1),
    ]);
    let plugin = PodTopologySpread::default();
    assert_eq!(
        filter_all(&plugin, &with_min_domains(3), &snapshot),
        codes(&[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", S)]),
        "2 domains < minDomains 3: zone1 has skew 2 + 1 - 0"
    );
    assert!(filter_all(&plugin, &with_min_domains(1), &snapshot).iter().all(|(_, c)| *c == S));

    // A zone whose only node the pod's nodeSelector excludes is no domain (nodeAffinityPolicy Honor).
    let mut snapshot = cluster(vec![(zoned("node-a", "zone1"), 1), (zoned("node-b", "zone2"), 0)]);
    snapshot.upsert_node(labelled_node("node-c", json!({ "zone": "zone3", "node": "node-c", "gpu": "yes" })).node);
    let mut constraint = spread(1, "zone", DO_NOT_SCHEDULE, foo_selector());
    constraint["minDomains"] = json!(3);
    let p = incoming(vec![constraint.clone()], not_on_gpu_nodes());
    // Two domains (zone1: 1, zone2: 0): the minimum is 0 either way, so zone2 fits and zone1 does not.
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", S), ("node-c", S)]));
    // With 1/1 over two eligible domains the minimum would be 1, but minDomains 3 makes it 0.
    place(&mut snapshot, "node-b", labelled("b-1", json!({ "foo": "" })));
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", U), ("node-c", S)]));
    constraint["minDomains"] = json!(2);
    let p = incoming(vec![constraint], not_on_gpu_nodes());
    assert!(filter_all(&plugin, &p, &snapshot).iter().all(|(_, c)| *c == S));
}

#[test]
fn a_node_without_the_topology_key_is_refused_as_unresolvable_and_not_counted() {
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector())], json!({}));
    let snapshot = cluster(vec![
        (zoned("node-a", "zone1"), 1),
        (zoned("node-b", "zone2"), 0),
        (labelled_node("node-c", json!({ "node": "node-c" })), 5),
    ]);
    let plugin = PodTopologySpread::default();
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", S), ("node-c", UU)]));
    let mut state = CycleState::default();
    plugin.pre_filter(&mut state, &p, &snapshot);
    let refused = plugin.filter(&state, &p, &snapshot.nodes[2], &snapshot);
    assert_eq!(refused.reasons, vec![ERR_REASON_NODE_LABEL_NOT_MATCH]);
}

#[test]
fn a_node_missing_any_constraints_key_counts_for_none_of_them() {
    // node-c has a zone but no `node` label: its pods count neither for zone nor for node.
    let p = incoming(
        vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector()), spread(1, "node", DO_NOT_SCHEDULE, foo_selector())],
        json!({}),
    );
    let snapshot = cluster(vec![
        (zoned("node-a", "zone1"), 0),
        (zoned("node-b", "zone2"), 0),
        (labelled_node("node-c", json!({ "zone": "zone1" })), 3),
    ]);
    assert_eq!(
        filter_all(&PodTopologySpread::default(), &p, &snapshot),
        codes(&[("node-a", S), ("node-b", S), ("node-c", UU)])
    );
}

#[test]
fn node_affinity_policy_honor_leaves_out_nodes_the_pod_cannot_use() {
    // Upstream: nodes a, b, x labelled foo, y not; pods spread 1/1/0/1.
    let snapshot = cluster(vec![
        (labelled_node("node-a", json!({ "node": "node-a", "foo": "" })), 1),
        (labelled_node("node-b", json!({ "node": "node-b", "foo": "" })), 1),
        (labelled_node("node-x", json!({ "node": "node-x", "foo": "" })), 0),
        (labelled_node("node-y", json!({ "node": "node-y" })), 1),
    ]);
    let by_selector = json!({ "nodeSelector": { "foo": "" } });
    let by_affinity = json!({ "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "foo", "operator": "In", "values": [""] }] }] } } } });
    for (name, spec, policy, y) in [
        ("nodeSelector, Honor by default", &by_selector, None, S),
        ("nodeSelector, Ignore", &by_selector, Some("Ignore"), U),
        ("required affinity, Honor", &by_affinity, Some("Honor"), S),
        ("required affinity, Ignore", &by_affinity, Some("Ignore"), U),
    ] {
        let mut constraint = spread(1, "node", DO_NOT_SCHEDULE, foo_selector());
        if let Some(policy) = policy {
            constraint["nodeAffinityPolicy"] = json!(policy);
        }
        let p = incoming(vec![constraint], spec.clone());
        assert_eq!(
            filter_all(&PodTopologySpread::default(), &p, &snapshot),
            codes(&[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", y)]),
            "{name}"
        );
    }
}

#[test]
fn node_taints_policy_honor_leaves_out_nodes_with_untolerated_taints() {
    let mut snapshot =
        cluster(vec![(zoned("node-a", "zone1"), 1), (zoned("node-b", "zone2"), 1), (zoned("node-x", "zone3"), 0)]);
    let tainted = node(
        "node-y",
        json!({ "labels": { "zone": "zone4", "node": "node-y" }, "taints": [{ "key": "dedicated", "value": "db", "effect": "NoSchedule" }] }),
    );
    snapshot.upsert_node(tainted.node);
    place(&mut snapshot, "node-y", labelled("y-0", json!({ "foo": "" })));
    let toleration = json!({ "tolerations": [{ "key": "dedicated", "operator": "Exists" }] });
    for (name, policy, spec, y) in [
        ("Ignore by default: the tainted zone counts", None, json!({}), U),
        ("Honor: the tainted zone is no domain", Some("Honor"), json!({}), S),
        ("Honor with a toleration: it counts again", Some("Honor"), toleration, U),
    ] {
        let mut constraint = spread(1, "zone", DO_NOT_SCHEDULE, foo_selector());
        if let Some(policy) = policy {
            constraint["nodeTaintsPolicy"] = json!(policy);
        }
        let p = incoming(vec![constraint], spec);
        assert_eq!(
            filter_all(&PodTopologySpread::default(), &p, &snapshot),
            codes(&[("node-a", U), ("node-b", U), ("node-x", S), ("node-y", y)]),
            "{name}"
        );
    }
    // PreferNoSchedule taints never exclude a node.
    let mut snapshot = cluster(vec![(zoned("node-a", "zone1"), 1)]);
    let soft = node(
        "node-b",
        json!({ "labels": { "zone": "zone2" }, "taints": [{ "key": "k", "effect": "PreferNoSchedule" }] }),
    );
    snapshot.upsert_node(soft.node);
    let mut constraint = spread(1, "zone", DO_NOT_SCHEDULE, foo_selector());
    constraint["nodeTaintsPolicy"] = json!("Honor");
    let p = incoming(vec![constraint], json!({}));
    assert_eq!(filter_all(&PodTopologySpread::default(), &p, &snapshot), codes(&[("node-a", U), ("node-b", S)]));
}

#[test]
fn match_label_keys_narrow_the_selector_to_the_incoming_pods_values() {
    let mut snapshot =
        cluster(vec![(zoned("node-a", "zone1"), 0), (zoned("node-b", "zone2"), 0), (zoned("node-c", "zone3"), 0)]);
    for i in 0..2 {
        place(&mut snapshot, "node-a", labelled(&format!("old-{i}"), json!({ "foo": "", "rev": "v1" })));
    }
    place(&mut snapshot, "node-b", labelled("new-0", json!({ "foo": "", "rev": "v2" })));
    let labels = json!({ "foo": "", "rev": "v2" });
    let plugin = PodTopologySpread::default();

    let mut constraint = spread(1, "zone", DO_NOT_SCHEDULE, foo_selector());
    let p = incoming(vec![constraint.clone()], json!({ "labels": labels }));
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", U), ("node-c", S)]));

    constraint["matchLabelKeys"] = json!(["rev"]);
    let p = incoming(vec![constraint.clone()], json!({ "labels": labels }));
    assert_eq!(
        filter_all(&plugin, &p, &snapshot),
        codes(&[("node-a", S), ("node-b", U), ("node-c", S)]),
        "only rev=v2 pods count"
    );

    // A key the pod lacks adds nothing.
    constraint["matchLabelKeys"] = json!(["missing"]);
    let p = incoming(vec![constraint.clone()], json!({ "labels": labels }));
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", U), ("node-c", S)]));

    // A nil labelSelector selects nothing, but with matchLabelKeys it selects by those keys.
    let mut nil_selector = json!({ "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": DO_NOT_SCHEDULE });
    let p = incoming(vec![nil_selector.clone()], json!({ "labels": labels }));
    assert!(filter_all(&plugin, &p, &snapshot).iter().all(|(_, c)| *c == S));
    nil_selector["matchLabelKeys"] = json!(["rev"]);
    let p = incoming(vec![nil_selector], json!({ "labels": labels }));
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", S), ("node-b", U), ("node-c", S)]));
}

#[test]
fn a_pod_its_own_selector_does_not_match_adds_no_self_match() {
    let snapshot = cluster(vec![(zoned("node-a", "zone1"), 1), (zoned("node-b", "zone2"), 0)]);
    let constraint = spread(1, "zone", DO_NOT_SCHEDULE, foo_selector());
    let plugin = PodTopologySpread::default();
    let matching = incoming(vec![constraint.clone()], json!({}));
    assert_eq!(filter_all(&plugin, &matching, &snapshot), codes(&[("node-a", U), ("node-b", S)]));
    let other = incoming(vec![constraint], json!({ "labels": { "bar": "" } }));
    assert_eq!(filter_all(&plugin, &other, &snapshot), codes(&[("node-a", S), ("node-b", S)]), "skew 1 + 0 - 0");
}

#[test]
fn pods_of_other_namespaces_and_terminating_pods_are_not_counted() {
    let mut snapshot = cluster(vec![(zoned("node-a", "zone1"), 0), (zoned("node-b", "zone2"), 0)]);
    place(
        &mut snapshot,
        "node-a",
        with_metadata(labelled("elsewhere", json!({ "foo": "" })), json!({ "namespace": "ns1" })),
    );
    let leaving = json!({ "deletionTimestamp": "2025-01-01T00:00:00Z" });
    place(&mut snapshot, "node-a", with_metadata(labelled("leaving", json!({ "foo": "" })), leaving));
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector())], json!({}));
    assert_eq!(filter_all(&PodTopologySpread::default(), &p, &snapshot), codes(&[("node-a", S), ("node-b", S)]));
}

#[test]
fn pre_filter_skips_pods_without_hard_constraints_and_refuses_bad_selectors() {
    let snapshot = cluster(vec![(zoned("node-a", "zone1"), 0)]);
    let plugin = PodTopologySpread::with_system_defaults();
    for p in [incoming(vec![spread(1, "zone", SCHEDULE_ANYWAY, foo_selector())], json!({})), pod("plain", json!({}))] {
        assert!(plugin.pre_filter(&mut CycleState::default(), &p, &snapshot).is_skip());
    }
    let bad = json!({ "matchExpressions": [{ "key": "foo", "operator": "Exists", "values": ["x"] }] });
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, bad)], json!({}));
    assert_eq!(plugin.pre_filter(&mut CycleState::default(), &p, &snapshot).code, Code::Error);
}

#[test]
fn default_constraints_apply_to_pods_without_their_own_with_their_services_as_selector() {
    let snapshot = with_foo_service(cluster(vec![(zoned("node-a", "zone1"), 1), (zoned("node-b", "zone2"), 0)]));
    let hard = TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "zone".into(),
        when_unsatisfiable: DO_NOT_SCHEDULE.into(),
        ..Default::default()
    };
    let plugin = PodTopologySpread { default_constraints: vec![hard], system_defaulted: false };
    let p = labelled("p", json!({ "foo": "" }));
    assert_eq!(filter_all(&plugin, &p, &snapshot), codes(&[("node-a", U), ("node-b", S)]));
    for ungrouped in [labelled("q", json!({ "foo": "x" })), pod("u", json!({}))] {
        assert!(plugin.pre_filter(&mut CycleState::default(), &ungrouped, &snapshot).is_skip(), "{}", ungrouped.name);
    }
    assert!(plugin.pre_filter(&mut CycleState::default(), &p, &cluster(vec![])).is_skip(), "no service, no owner");
}

#[test]
fn add_pod_and_remove_pod_move_the_counts_and_the_minimum() {
    let mut snapshot =
        cluster(vec![(zoned("node-a", "zone1"), 1), (zoned("node-b", "zone2"), 1), (zoned("node-c", "zone3"), 0)]);
    snapshot.upsert_node(labelled_node("node-d", json!({ "node": "node-d" })).node);
    let plugin = PodTopologySpread::default();
    let p = incoming(vec![spread(1, "zone", DO_NOT_SCHEDULE, foo_selector())], json!({}));
    let mut state = CycleState::default();
    assert!(plugin.pre_filter(&mut state, &p, &snapshot).is_success());
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| snapshot.nodes[i].clone());
    let fits = |state: &CycleState, n: &NodeInfo| plugin.filter(state, &p, n, &snapshot).is_success();
    assert!(!fits(&state, &a) && fits(&state, &c));

    // Another matching pod in zone3 raises the minimum to 1: zones 1/1/1.
    let extra = labelled("extra", json!({ "foo": "" }));
    plugin.add_pod(&mut state, &p, &extra, &c);
    assert!(fits(&state, &a) && fits(&state, &b) && fits(&state, &c));

    // A simulation on a clone leaves the original alone.
    let mut simulated = state.clone();
    plugin.remove_pod(&mut simulated, &p, &extra, &c);
    assert!(!fits(&simulated, &a) && fits(&state, &a));

    // Removing zone1's pod makes zone1 the emptiest.
    let victim = snapshot.nodes[0].pods[0].clone();
    plugin.remove_pod(&mut state, &p, &victim, &a);
    assert!(fits(&state, &a) && !fits(&state, &b) && !fits(&state, &c));

    // Pods of other namespaces, pods not selected and nodes without the key change nothing.
    plugin.add_pod(&mut state, &p, &with_metadata(extra.clone(), json!({ "namespace": "ns1" })), &a);
    plugin.add_pod(&mut state, &p, &labelled("other", json!({ "bar": "" })), &a);
    plugin.add_pod(&mut state, &p, &extra, &d);
    assert!(fits(&state, &a) && !fits(&state, &b));
}

// ---- scoring ----

/// Pre-score over `candidates`, score and normalize: the final scores in order.
fn scores(plugin: &PodTopologySpread, p: &PodInfo, snapshot: &Snapshot, candidates: &[&str]) -> Vec<i64> {
    let nodes: Vec<&NodeInfo> = candidates.iter().map(|n| snapshot.node(n).expect("candidate")).collect();
    let mut state = CycleState::default();
    assert!(plugin.pre_score(&mut state, p, &nodes, snapshot).is_success(), "pre-score");
    let mut scores: Vec<i64> = nodes.iter().map(|n| plugin.score(&state, p, n, snapshot)).collect();
    plugin.normalize(&state, p, &mut scores);
    scores
}

fn soft(max_skew: i32, key: &str, selector: Value) -> Value {
    spread(max_skew, key, SCHEDULE_ANYWAY, selector)
}

#[test]
fn scoring_prefers_the_emptier_domains_as_upstream() {
    let plugin = PodTopologySpread::default();
    let four = |counts: [usize; 4]| {
        cluster(vec![
            (host("node-a"), counts[0]),
            (host("node-b"), counts[1]),
            (host("node-c"), counts[2]),
            (host("node-d"), counts[3]),
        ])
    };
    let all = ["node-a", "node-b", "node-c", "node-d"];
    let per_node = |max_skew| incoming(vec![soft(max_skew, LABEL_HOSTNAME, foo_selector())], json!({}));
    assert_eq!(scores(&plugin, &per_node(1), &four([0, 0, 0, 0]), &all), [100, 100, 100, 100]);
    assert_eq!(scores(&plugin, &per_node(1), &four([2, 1, 0, 3]), &all), [20, 60, 100, 0]);
    assert_eq!(scores(&plugin, &per_node(2), &four([2, 1, 0, 3]), &all), [33, 66, 100, 16]);
    assert_eq!(scores(&plugin, &per_node(3), &four([4, 3, 2, 1]), &all), [44, 66, 77, 100]);
    let null_selector = incoming(
        vec![json!({ "maxSkew": 1, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY })],
        json!({}),
    );
    assert_eq!(scores(&plugin, &null_selector, &four([2, 1, 0, 3]), &all), [100, 100, 100, 100]);
}

#[test]
fn scoring_counts_failed_nodes_in_candidate_domains_and_zeroes_nodes_without_keys() {
    let plugin = PodTopologySpread::default();
    // 4/2/1/~3~ by node: node-y is not a candidate.
    let snapshot = cluster(vec![(host("node-a"), 4), (host("node-b"), 2), (host("node-x"), 1), (host("node-y"), 3)]);
    let p = incoming(vec![soft(1, LABEL_HOSTNAME, foo_selector())], json!({}));
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a", "node-b", "node-x"]), [33, 83, 100]);
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a"]), [100], "a single candidate scores 100");

    // node-b lacks the key: it scores 0 and does not count as a domain.
    let snapshot = cluster(vec![
        (host("node-a"), 4),
        (labelled_node("node-b", json!({ "n": "node-b" })), 2),
        (host("node-x"), 1),
        (host("node-y"), 3),
    ]);
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a", "node-b", "node-x"]), [16, 0, 100]);

    // By zone, 4/2/1/~3~: node-y failed, yet its pods count for zone2.
    let snapshot = cluster(vec![
        (zoned("node-a", "zone1"), 4),
        (zoned("node-b", "zone1"), 2),
        (zoned("node-x", "zone2"), 1),
        (zoned("node-y", "zone2"), 3),
    ]);
    let p = incoming(vec![soft(1, "zone", foo_selector())], json!({}));
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a", "node-b", "node-x"]), [75, 75, 100]);
}

#[test]
fn scoring_sums_constraints_with_different_selectors() {
    // Zone constraint on foo (2/2/1/1 by zone), hostname constraint on bar (0/1/0/1).
    let mut snapshot = Snapshot::default();
    for (name, zone) in [("node-a", "zone1"), ("node-b", "zone1"), ("node-x", "zone2"), ("node-y", "zone2")] {
        snapshot.upsert_node(labelled_node(name, json!({ "zone": zone, LABEL_HOSTNAME: name })).node);
    }
    place(&mut snapshot, "node-a", labelled("p-a1", json!({ "foo": "" })));
    place(&mut snapshot, "node-b", labelled("p-b1", json!({ "foo": "", "bar": "" })));
    place(&mut snapshot, "node-y", labelled("p-y1", json!({ "foo": "" })));
    place(&mut snapshot, "node-y", labelled("p-y2", json!({ "bar": "" })));
    let p = incoming(
        vec![soft(1, "zone", foo_selector()), soft(1, LABEL_HOSTNAME, bar_selector())],
        json!({ "labels": { "foo": "", "bar": "" } }),
    );
    let all = ["node-a", "node-b", "node-x", "node-y"];
    assert_eq!(scores(&PodTopologySpread::default(), &p, &snapshot, &all), [60, 20, 100, 60]);
}

#[test]
fn scoring_leaves_out_other_namespaces_and_terminating_pods() {
    let plugin = PodTopologySpread::default();
    let p = incoming(vec![soft(1, LABEL_HOSTNAME, foo_selector())], json!({}));
    let mut snapshot = cluster(vec![(host("node-a"), 1), (host("node-b"), 2)]);
    place(
        &mut snapshot,
        "node-a",
        with_metadata(labelled("ns1-pod", json!({ "foo": "" })), json!({ "namespace": "ns1" })),
    );
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a", "node-b"]), [100, 33]);

    let mut snapshot = cluster(vec![(host("node-a"), 0), (host("node-b"), 1)]);
    let leaving = with_metadata(
        labelled("leaving", json!({ "foo": "" })),
        json!({ "deletionTimestamp": "2025-01-01T00:00:00Z" }),
    );
    place(&mut snapshot, "node-a", leaving);
    assert_eq!(scores(&plugin, &p, &snapshot, &["node-a", "node-b"]), [100, 0]);
}

#[test]
fn system_defaults_score_zoneless_nodes_by_hostname() {
    // Upstream: nodes without zone, pods matching the pod's selector spread 4/3/2/1.
    let snapshot = with_foo_service(cluster(vec![
        (host("node-a"), 4),
        (host("node-b"), 3),
        (host("node-c"), 2),
        (host("node-d"), 1),
    ]));
    let p = labelled("p", json!({ "foo": "" }));
    let all = ["node-a", "node-b", "node-c", "node-d"];
    assert_eq!(scores(&PodTopologySpread::with_system_defaults(), &p, &snapshot, &all), [44, 66, 77, 100]);

    // The same defaults as a plain list require every key: every node is left out.
    let listed = PodTopologySpread { default_constraints: system_default_constraints(), system_defaulted: false };
    assert_eq!(scores(&listed, &p, &snapshot, &all), [0, 0, 0, 0]);
}

#[test]
fn pre_score_skips_pods_without_soft_constraints() {
    let snapshot = with_foo_service(cluster(vec![(host("node-a"), 1)]));
    let nodes: Vec<&NodeInfo> = snapshot.nodes.iter().collect();
    let hard_only = incoming(vec![spread(1, LABEL_HOSTNAME, DO_NOT_SCHEDULE, foo_selector())], json!({}));
    let plain = labelled("plain", json!({ "foo": "" }));
    let unlabelled = pod("u", json!({}));
    let with_defaults = PodTopologySpread::with_system_defaults();
    for (plugin, p) in [
        (&PodTopologySpread::default(), &hard_only),
        (&PodTopologySpread::default(), &plain),
        (&with_defaults, &hard_only),
        (&with_defaults, &unlabelled),
    ] {
        assert!(plugin.pre_score(&mut CycleState::default(), p, &nodes, &snapshot).is_skip(), "{}", p.name);
    }
    assert!(with_defaults.pre_score(&mut CycleState::default(), &plain, &[], &Snapshot::default()).is_skip());
}
