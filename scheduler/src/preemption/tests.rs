use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use serde_json::json;

use super::*;
use crate::cycle::schedule;
use crate::plugins::testing::pod;

/// A pod already placed: name, priority, CPU request.
type Placed<'a> = (&'a str, i32, &'a str);

fn snapshot_with(nodes: &[(&str, &[Placed<'_>])]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (name, pods) in nodes {
        let node: Node = serde_json::from_value(json!({
            "metadata": { "name": name },
            "status": { "allocatable": { "cpu": "2", "memory": "8Gi", "pods": "110" } },
        }))
        .expect("node");
        snapshot.upsert_node(Arc::new(node));
        for (pod_name, priority, cpu) in pods.iter() {
            let info = pod(
                pod_name,
                json!({ "priority": priority, "nodeName": name,
                "containers": [{ "name": "c", "resources": { "requests": { "cpu": cpu } } }] }),
            );
            if let Some(node) = snapshot.node_mut(name) {
                node.add_pod(Arc::new(info));
            }
        }
    }
    snapshot
}

fn preemptor(priority: i32, cpu: &str) -> PodInfo {
    pod(
        "important",
        json!({ "priority": priority, "containers": [{ "name": "c", "resources": { "requests": { "cpu": cpu } } }] }),
    )
}

#[test]
fn the_node_with_the_least_important_victims_is_chosen() {
    let snapshot = snapshot_with(&[("n1", &[("mid", 50, "1500m")]), ("n2", &[("low-a", 10, "1"), ("low-b", 10, "1")])]);
    let profile = Profile::default_profile();
    let incoming = preemptor(100, "1");
    let error = schedule(&profile, &snapshot, &incoming, &mut 0).expect_err("full");
    let candidate = preempt(&profile, &snapshot, &incoming, &error.diagnosis).expect("a candidate");
    assert_eq!(candidate.node, "n2", "priority 10 victims beat a priority 50 one");
    assert_eq!(candidate.victims.len(), 1, "one of the two is enough: {:?}", candidate.victims);
}

#[test]
fn no_victims_and_not_helpful_are_explained_as_upstream() {
    let snapshot = snapshot_with(&[("n1", &[("peer", 100, "2")]), ("n2", &[("peer2", 100, "2")])]);
    let profile = Profile::default_profile();
    let incoming = preemptor(100, "1");
    let mut error = schedule(&profile, &snapshot, &incoming, &mut 0).expect_err("full");
    let message =
        preempt(&profile, &snapshot, &incoming, &error.diagnosis).expect_err("equal priority cannot be evicted");
    assert_eq!(message, "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
    error.diagnosis.post_filter_message = Some(message);
    assert_eq!(
        error.to_string(),
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.."
    );
    let picky = pod("picky", json!({ "priority": 1000, "nodeSelector": { "gpu": "yes" } }));
    let error = schedule(&profile, &snapshot, &picky, &mut 0).expect_err("no gpu nodes");
    assert_eq!(
        preempt(&profile, &snapshot, &picky, &error.diagnosis).expect_err("not helpful"),
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    let never = pod("never", json!({ "priority": 1000, "preemptionPolicy": "Never" }));
    assert_eq!(
        preempt(&profile, &snapshot, &never, &Diagnosis::default()).expect_err("not eligible"),
        "preemption: not eligible due to preemptionPolicy=Never."
    );
}

/// A budget for the pods named `names`' label (`protected: "yes"`), allowing no disruption.
fn protect(snapshot: &mut Snapshot, names: &[&str]) {
    for node in &mut snapshot.nodes {
        let pods: Vec<Arc<PodInfo>> = node.pods.drain(..).collect();
        for p in pods {
            let labelled = match names.contains(&p.name.as_str()) {
                true => {
                    let mut raw = (*p.pod).clone();
                    raw.metadata.labels = Some([("protected".to_owned(), "yes".to_owned())].into());
                    Arc::new(PodInfo::new(Arc::new(raw)))
                }
                false => p,
            };
            node.pods.push(labelled);
        }
    }
    let budget = serde_json::from_value(json!({ "metadata": { "name": "pdb", "namespace": "default" },
        "spec": { "selector": { "matchLabels": { "protected": "yes" } } }, "status": { "disruptionsAllowed": 0,
        "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1 } }))
    .expect("budget");
    snapshot.budgets.insert("default/pdb".into(), crate::framework::budgets::DisruptionBudget::new(&budget));
}

#[test]
fn nodes_whose_victims_a_budget_protects_are_chosen_last() {
    let mut snapshot = snapshot_with(&[("n1", &[("guarded", 10, "2")]), ("n2", &[("more-important", 50, "2")])]);
    protect(&mut snapshot, &["guarded"]);
    let profile = Profile::default_profile();
    let incoming = preemptor(100, "1");
    let error = schedule(&profile, &snapshot, &incoming, &mut 0).expect_err("full");
    let candidate = preempt(&profile, &snapshot, &incoming, &error.diagnosis).expect("a candidate");
    assert_eq!((candidate.node.as_str(), candidate.budget_violations), ("n2", 0), "no violation beats lower priority");
}

#[test]
fn protected_pods_are_spared_first_on_a_node() {
    // Either pod's eviction makes room; the one the budget protects is reprieved.
    let mut snapshot = snapshot_with(&[("n1", &[("free", 10, "1"), ("guarded", 10, "1")])]);
    protect(&mut snapshot, &["guarded"]);
    let profile = Profile::default_profile();
    let incoming = preemptor(100, "1");
    let error = schedule(&profile, &snapshot, &incoming, &mut 0).expect_err("full");
    let candidate = preempt(&profile, &snapshot, &incoming, &error.diagnosis).expect("a candidate");
    let victims: Vec<&str> = candidate.victims.iter().map(|v| v.name.as_str()).collect();
    assert_eq!((victims, candidate.budget_violations), (vec!["free"], 0));

    // When only evicting the protected pod helps, it goes, counted as a violation.
    let mut snapshot = snapshot_with(&[("n1", &[("guarded", 10, "2")])]);
    protect(&mut snapshot, &["guarded"]);
    let error = schedule(&profile, &snapshot, &incoming, &mut 0).expect_err("full");
    let candidate = preempt(&profile, &snapshot, &incoming, &error.diagnosis).expect("a candidate");
    assert_eq!((candidate.victims.len(), candidate.budget_violations), (1, 1));
}
