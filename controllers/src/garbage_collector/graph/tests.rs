//! The graph's cases, after upstream's graph_builder_test.go and garbagecollector_test.go.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;

/// A ConfigMap (uid = name) in `namespace` ("" for a ClusterRole-like cluster object).
fn object(name: &str, namespace: &str) -> Observed {
    let (kind, api_version) =
        if namespace.is_empty() { ("ClusterRole", "rbac.authorization.k8s.io/v1") } else { ("ConfigMap", "v1") };
    Observed {
        identity: Identity {
            kind: kind.into(),
            api_version: api_version.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: name.into(),
        },
        ..Observed::default()
    }
}

fn reference(owner: &Observed, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: owner.identity.api_version.clone(),
        kind: owner.identity.kind.clone(),
        name: owner.identity.name.clone(),
        uid: owner.identity.uid.clone(),
        block_owner_deletion: block.then_some(true),
        controller: None,
    }
}

fn owned_by(mut dependent: Observed, owner: &Observed, block: bool) -> Observed {
    dependent.owners.push(reference(owner, block));
    dependent
}

fn deleting(mut object: Observed, finalizer: &str) -> Observed {
    object.deleting = true;
    object.finalizers.push(finalizer.into());
    object
}

fn upsert(graph: &mut Graph, object: &Observed) -> Vec<Effect> {
    graph.apply(Change::Upsert(object.clone()))
}

fn delete(graph: &mut Graph, object: &Observed, virtual_: bool) -> Vec<Effect> {
    graph.apply(Change::Delete { object: object.clone(), virtual_ })
}

fn look_at(uid: &str) -> Effect {
    Effect::AttemptToDelete(uid.into())
}

#[test]
fn a_dependent_of_an_unseen_owner_makes_a_virtual_owner_that_is_checked() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    let effects = upsert(&mut graph, &owned_by(object("child", "ns"), &owner, false));
    assert_eq!(effects, [look_at("owner")]);
    let virtual_owner = graph.node("owner").expect("a virtual node");
    assert!(virtual_owner.virtual_);
    assert_eq!(virtual_owner.identity, owner.identity);
    assert_eq!(graph.dependents("owner").len(), 1);

    assert_eq!(upsert(&mut graph, &owner), [], "the owner observed as named");
    assert!(!graph.node("owner").is_some_and(|n| n.virtual_));
}

#[test]
fn an_owner_deleted_gets_its_dependents_looked_at_and_is_remembered_absent() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    upsert(&mut graph, &owned_by(object("a", "ns"), &owner, false));
    upsert(&mut graph, &owned_by(object("b", "ns"), &owner, true));
    let effects = delete(&mut graph, &owner, false);
    assert_eq!(effects, [Effect::Absent(owner.identity.clone()), look_at("a"), look_at("b")]);
    assert!(graph.node("owner").is_none());
    assert_eq!(graph.len(), 2);
}

#[test]
fn an_owner_without_dependents_is_not_remembered_absent() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    assert_eq!(delete(&mut graph, &owner, false), []);
    assert!(graph.is_empty());
}

#[test]
fn foreground_deletion_starts_once_and_queues_the_dependents_and_the_owner() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    upsert(&mut graph, &owned_by(object("child", "ns"), &owner, true));
    let effects = upsert(&mut graph, &deleting(owner.clone(), FOREGROUND));
    assert_eq!(effects, [look_at("child"), look_at("owner")]);
    let node = graph.node("owner").expect("the owner");
    assert!(node.being_deleted && node.deleting_dependents);
    assert_eq!(upsert(&mut graph, &deleting(owner, FOREGROUND)), [], "already started");
}

#[test]
fn an_owner_first_seen_deleting_in_the_foreground_waits_for_its_dependents() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    assert_eq!(upsert(&mut graph, &deleting(owner, FOREGROUND)), [look_at("owner")]);
    assert!(graph.node("owner").is_some_and(|n| n.deleting_dependents));
}

#[test]
fn orphan_deletion_queues_the_owner_for_orphaning_once() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    let orphaning = deleting(owner, ORPHAN);
    assert_eq!(upsert(&mut graph, &orphaning), [Effect::AttemptToOrphan("owner".into())]);
    assert_eq!(upsert(&mut graph, &orphaning), []);
    let node = graph.node("owner").expect("the owner");
    assert!(node.being_deleted && !node.deleting_dependents);
}

#[test]
fn only_dependents_with_block_owner_deletion_block() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    upsert(&mut graph, &owned_by(object("blocking", "ns"), &owner, true));
    upsert(&mut graph, &owned_by(object("free", "ns"), &owner, false));
    let blocking: Vec<&str> = graph.blocking_dependents("owner").iter().map(|n| n.identity.name.as_str()).collect();
    assert_eq!(blocking, ["blocking"]);
}

#[test]
fn a_dependent_unblocking_or_dropping_its_reference_gets_the_owner_looked_at() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    let blocking = owned_by(object("child", "ns"), &owner, true);
    upsert(&mut graph, &blocking);
    let mut unblocked = blocking.clone();
    unblocked.owners[0].block_owner_deletion = Some(false);
    assert_eq!(upsert(&mut graph, &unblocked), [look_at("owner")]);
    upsert(&mut graph, &blocking);
    assert_eq!(upsert(&mut graph, &object("child", "ns")), [look_at("owner")], "reference removed");
    assert!(graph.dependents("owner").is_empty());
}

#[test]
fn a_dependent_gone_gets_its_owner_deleting_dependents_looked_at() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    let child = owned_by(object("child", "ns"), &owner, true);
    upsert(&mut graph, &child);
    upsert(&mut graph, &deleting(owner, FOREGROUND));
    assert_eq!(delete(&mut graph, &child, false), [look_at("owner")]);
    assert!(graph.blocking_dependents("owner").is_empty());
}

#[test]
fn a_reference_to_an_owner_observed_in_another_namespace_is_reported() {
    let mut graph = Graph::default();
    let owner = object("owner", "a");
    upsert(&mut graph, &owner);
    let child = owned_by(object("child", "b"), &owner, false);
    let effects = upsert(&mut graph, &child);
    let invalid = Effect::InvalidNamespace {
        dependent: child.identity.clone(),
        owner: Identity { namespace: "b".into(), ..owner.identity.clone() },
    };
    assert_eq!(effects, [invalid, look_at("child")]);
    assert_eq!(
        Identity { namespace: "b".into(), ..owner.identity }.to_string(),
        "[v1/ConfigMap, namespace: b, name: owner, uid: owner]"
    );
}

#[test]
fn a_reference_with_other_coordinates_gets_the_dependent_looked_at() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    let mut child = owned_by(object("child", "ns"), &owner, false);
    child.owners[0].name = "renamed".into();
    assert_eq!(upsert(&mut graph, &child), [look_at("child")]);
}

#[test]
fn a_virtual_cluster_scoped_owner_named_from_another_namespace_gets_the_dependent_looked_at() {
    let mut graph = Graph::default();
    let owner = object("role", "");
    upsert(&mut graph, &owned_by(object("a", "one"), &owner, false));
    assert_eq!(upsert(&mut graph, &owned_by(object("b", "two"), &owner, false)), [look_at("b")]);
    // Observed cluster-scoped, it may own objects in any namespace.
    upsert(&mut graph, &owner);
    assert_eq!(upsert(&mut graph, &owned_by(object("c", "three"), &owner, false)), []);
}

#[test]
fn a_virtual_owner_found_absent_is_removed_and_its_dependents_looked_at() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owned_by(object("child", "ns"), &owner, false));
    let effects = delete(&mut graph, &owner, true);
    assert_eq!(effects, [Effect::Absent(owner.identity.clone()), look_at("child")]);
    assert!(graph.node("owner").is_none());
}

#[test]
fn a_virtual_owner_named_otherwise_by_some_dependents_lives_on_under_that_identity() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owned_by(object("good", "ns"), &owner, false));
    let mut other = owner.clone();
    other.identity.kind = "Secret".into();
    upsert(&mut graph, &owned_by(object("bad", "ns"), &other, false));
    let effects = delete(&mut graph, &owner, true);
    assert_eq!(
        effects,
        [Effect::Absent(owner.identity.clone()), look_at("good"), Effect::AttemptToDeleteLater("owner".into())]
    );
    let node = graph.node("owner").expect("kept");
    assert_eq!(node.identity.kind, "Secret");
    assert!(node.virtual_);
}

#[test]
fn a_virtual_delete_never_removes_an_observed_object_of_other_coordinates() {
    let mut graph = Graph::default();
    let owner = object("owner", "ns");
    upsert(&mut graph, &owner);
    let mut stale = owner.clone();
    stale.identity.kind = "Secret".into();
    let child = owned_by(object("child", "ns"), &stale, false);
    upsert(&mut graph, &child);
    let effects = delete(&mut graph, &stale, true);
    assert_eq!(effects, [Effect::Absent(stale.identity), look_at("child")]);
    assert!(graph.node("owner").is_some_and(|n| !n.virtual_));
}

#[test]
fn an_owner_observed_with_other_coordinates_than_its_dependents_gave_gets_them_looked_at() {
    let mut graph = Graph::default();
    let owner = object("owner", "a");
    let child = owned_by(
        object("child", "b"),
        &Observed { identity: Identity { namespace: "b".into(), ..owner.identity.clone() }, ..owner.clone() },
        false,
    );
    upsert(&mut graph, &child);
    let effects = upsert(&mut graph, &owner);
    let invalid = Effect::InvalidNamespace {
        dependent: child.identity.clone(),
        owner: Identity { namespace: "b".into(), ..owner.identity.clone() },
    };
    assert_eq!(effects, [invalid, look_at("child")]);
    assert_eq!(graph.node("owner").map(|n| n.identity.namespace.as_str()), Some("a"));
}

#[test]
fn references_are_diffed_by_uid() {
    let (a, b, c) = (object("a", "ns"), object("b", "ns"), object("c", "ns"));
    let old = [reference(&a, false), reference(&b, false)];
    let new = [reference(&b, true), reference(&c, false)];
    let (added, removed, changed) = references_diffs(&old, &new);
    assert_eq!(added, [reference(&c, false)]);
    assert_eq!(removed, [reference(&a, false)]);
    assert_eq!(changed, [(reference(&b, false), reference(&b, true))]);
}

#[test]
fn the_alternate_identity_is_the_first_following_the_absent_one_else_the_first() {
    let absent = object("owner", "ns");
    let alias = |kind: &str| {
        let mut o = absent.clone();
        o.identity.kind = kind.into();
        o
    };
    let nodes: Vec<Node> = ["Apple", "Zebra", "ConfigMap"]
        .iter()
        .map(|kind| Node {
            identity: object(kind, "ns").identity,
            owners: vec![reference(&alias(kind), false)],
            ..Node::default()
        })
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let next = alternate_identity(&refs, &absent.identity).expect("an alternate");
    assert_eq!(next.kind, "Zebra", "ConfigMap < Zebra: the first following");
    let after_zebra = Identity { kind: "Zebra".into(), ..absent.identity.clone() };
    let wrapped = alternate_identity(&refs, &after_zebra).expect("an alternate");
    assert_eq!(wrapped.kind, "Apple", "nothing follows Zebra: the first of all");
    assert_eq!(alternate_identity(&refs[2..], &absent.identity), None, "exact matches are no alternates");
}
