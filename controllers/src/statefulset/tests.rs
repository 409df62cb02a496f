//! The StatefulSet controller's pure logic: identities, versioned pods,
//! claims and their owners, history trimming and rollout completion.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use serde_json::{Value, json};

use super::identity::{self, Versions};
use super::{claims, revisions, status};
use crate::history;

fn set(spec: Value) -> StatefulSet {
    let mut base = json!({
        "metadata": { "name": "web", "namespace": "ns", "uid": "set-uid", "generation": 2 },
        "spec": {
            "replicas": 3, "serviceName": "nginx",
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } },
                          "spec": { "containers": [{ "name": "c", "image": "nginx:1" }],
                                    "volumes": [{ "name": "www", "emptyDir": {} }, { "name": "cache", "emptyDir": {} }] } },
            "volumeClaimTemplates": [{ "metadata": { "name": "www", "labels": { "tier": "data" } },
                "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } }],
            "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 0 } },
        },
    });
    if let (Some(base), Value::Object(extra)) = (base["spec"].as_object_mut(), spec) {
        base.extend(extra);
    }
    serde_json::from_value(base).expect("a StatefulSet")
}

fn pod(name: &str, uid: &str) -> Pod {
    serde_json::from_value(json!({ "metadata": { "name": name, "namespace": "ns", "uid": uid } })).expect("a pod")
}

fn claim(name: &str, refs: Value) -> PersistentVolumeClaim {
    serde_json::from_value(json!({ "metadata": { "name": name, "namespace": "ns", "ownerReferences": refs } }))
        .expect("a claim")
}

#[test]
fn ordinals_come_from_the_end_of_the_name() {
    assert_eq!(identity::parent_and_ordinal("web-3"), Some(("web", 3)));
    assert_eq!(identity::parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
    assert_eq!(identity::parent_and_ordinal("web-"), None);
    assert_eq!(identity::parent_and_ordinal("web-x1"), None);
    assert_eq!(identity::parent_and_ordinal("web"), None);
    assert_eq!(identity::parent_and_ordinal("web-99999999999"), None, "no i32 ordinal");
    let shifted = set(json!({ "ordinals": { "start": 5 } }));
    assert!(identity::in_range(&shifted, &pod("web-5", "u")));
    assert!(identity::in_range(&shifted, &pod("web-7", "u")));
    assert!(!identity::in_range(&shifted, &pod("web-8", "u")));
    assert!(!identity::in_range(&shifted, &pod("web-0", "u")));
}

#[test]
fn a_new_pod_has_its_identity_and_its_claims_volumes() {
    let web = set(json!({}));
    let pod = identity::new_pod(&web, 1);
    assert_eq!(pod.name_any(), "web-1");
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(pod.labels().get(identity::POD_NAME_LABEL).map(String::as_str), Some("web-1"));
    assert_eq!(pod.labels().get(identity::POD_INDEX_LABEL).map(String::as_str), Some("1"));
    let spec = pod.spec.clone().expect("a spec");
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
    let volumes: Vec<(String, Option<String>)> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.clone(), v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone())))
        .collect();
    assert_eq!(volumes, [("www".into(), Some("www-web-1".into())), ("cache".into(), None)]);
    assert!(identity::identity_matches(&web, &pod) && identity::storage_matches(&web, &pod));
    assert!(!identity::storage_matches(&web, &self::pod("web-1", "u")));
    let owner = pod.owner_references().first().cloned().expect("an owner");
    assert_eq!((owner.kind.as_str(), owner.controller), ("StatefulSet", Some(true)));
}

#[test]
fn pods_below_the_partition_are_made_at_the_current_revision() {
    let current = set(json!({ "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } } }));
    let mut update = current.clone();
    update.spec.as_mut().expect("spec").template.spec.as_mut().expect("pod spec").containers[0].image =
        Some("nginx:2".into());
    let versions = Versions {
        current_set: &current,
        update_set: &update,
        current_revision: "web-a",
        update_revision: "web-b",
        current_replicas: 0,
    };
    let image = |p: &Pod| p.spec.as_ref().and_then(|s| s.containers[0].image.clone()).unwrap_or_default();
    let (below, at) = (versions.pod(1), versions.pod(2));
    assert_eq!((identity::revision_of(&below), image(&below).as_str()), ("web-a", "nginx:1"));
    assert_eq!((identity::revision_of(&at), image(&at).as_str()), ("web-b", "nginx:2"));
    // OnDelete: new pods always take the update revision.
    let on_delete = set(json!({ "updateStrategy": { "type": "OnDelete" } }));
    let versions = Versions { current_set: &on_delete, update_set: &on_delete, current_replicas: 3, ..versions };
    assert_eq!(identity::revision_of(&versions.pod(0)), "web-b");
}

#[test]
fn claims_carry_the_template_and_selector_labels() {
    let claims = claims::claims_for(&set(json!({})), 2);
    assert_eq!(claims.len(), 1);
    let (template, claim) = &claims[0];
    assert_eq!(template, "www");
    assert_eq!(claim.name_any(), "www-web-2");
    assert_eq!(claim.labels().get("tier").map(String::as_str), Some("data"));
    assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
    assert!(claim.spec.is_some() && claim.status.is_none());
}

#[test]
fn claim_owners_follow_the_retention_policy() {
    let policy = |deleted: &str, scaled: &str| {
        set(json!({ "persistentVolumeClaimRetentionPolicy": { "whenDeleted": deleted, "whenScaled": scaled } }))
    };
    let (live, gone) = (pod("web-1", "pod-1"), pod("web-4", "pod-4"));
    let bare = claim("www-web-1", json!([]));
    let owners = |refs: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>| {
        refs.into_iter().map(|r| r.kind).collect::<Vec<_>>()
    };
    let retain = policy("Retain", "Retain");
    assert!(claims::owner_up_to_date(&bare, &retain, &live));
    let delete_both = policy("Delete", "Delete");
    assert!(!claims::owner_up_to_date(&bare, &delete_both, &live));
    assert_eq!(owners(claims::wanted_refs(&bare, &delete_both, &live)), ["StatefulSet"]);
    assert_eq!(owners(claims::wanted_refs(&bare, &delete_both, &gone)), ["Pod"], "a scaled-down pod owns its claim");
    let on_scale = policy("Retain", "Delete");
    assert!(claims::wanted_refs(&bare, &on_scale, &live).is_empty());
    assert_eq!(owners(claims::wanted_refs(&bare, &on_scale, &gone)), ["Pod"]);
    let owned_by_set = claim(
        "www-web-1",
        json!([{ "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid", "controller": true }]),
    );
    assert!(claims::owner_up_to_date(&owned_by_set, &delete_both, &live));
    assert!(!claims::owner_up_to_date(&owned_by_set, &retain, &live), "retain drops the reference");
    assert!(claims::wanted_refs(&owned_by_set, &retain, &live).is_empty());
    // A reference to an earlier pod of that name: the claim is stale and must go first.
    let earlier = claim(
        "www-web-4",
        json!([{ "apiVersion": "v1", "kind": "Pod", "name": "web-4", "uid": "old-pod", "controller": true }]),
    );
    assert!(claims::is_stale(&earlier, &on_scale, &pod("web-4", "")));
    assert!(!claims::is_stale(&earlier, &retain, &pod("web-4", "")));
    assert!(claims::owner_up_to_date(&earlier, &on_scale, &gone), "stale references are not touched");
    // Another controller: the policy leaves the claim alone.
    let foreign = claim(
        "www-web-1",
        json!([{ "apiVersion": "v1", "kind": "Thing", "name": "x", "uid": "x-uid", "controller": true }]),
    );
    assert!(claims::has_unexpected_controller(&foreign, &delete_both, &live));
    assert!(claims::owner_up_to_date(&foreign, &delete_both, &live));
}

fn revision(name: &str, number: i64) -> Arc<ControllerRevision> {
    Arc::new(ControllerRevision {
        metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
        data: None,
        revision: number,
    })
}

#[test]
fn history_keeps_the_live_revisions_and_the_newest_old_ones() {
    let sorted: Vec<_> = (1..=6).map(|n| revision(&format!("web-{n}"), n)).collect();
    let live: BTreeSet<String> = ["web-2".to_owned(), "web-6".to_owned()].into();
    let names =
        |limit| -> Vec<String> { revisions::to_truncate(limit, &sorted, &live).iter().map(|r| r.name_any()).collect() };
    assert_eq!(names(2), ["web-1", "web-3"]);
    assert_eq!(names(0), ["web-1", "web-3", "web-4", "web-5"]);
    assert!(names(10).is_empty());
    assert!(names(-1).is_empty());
}

#[test]
fn a_revision_restores_its_template_and_a_new_one_is_named_by_its_hash() {
    let web = set(json!({}));
    let first = revisions::new_revision(&web, 1, 0);
    let hash = first.labels().get(history::HASH_LABEL).cloned().expect("a hash label");
    assert_eq!(first.name_any(), format!("web-{hash}"));
    assert_eq!(first.labels().get("app").map(String::as_str), Some("web"));
    assert_ne!(revisions::new_revision(&web, 1, 1).name_any(), first.name_any(), "collisions rename");
    let mut changed = web.clone();
    changed.spec.as_mut().expect("spec").template.spec.as_mut().expect("pod spec").containers[0].image =
        Some("nginx:2".into());
    let second = revisions::new_revision(&changed, 2, 0);
    assert!(!history::equal(&first, &second));
    let restored = revisions::apply(&changed, &first);
    assert_eq!(restored.spec.map(|s| s.template), web.spec.map(|s| s.template));
}

#[test]
fn a_rolling_update_completes_when_every_pod_is_updated_and_ready() {
    let web = set(json!({}));
    let mut progress = StatefulSetStatus {
        replicas: 3,
        ready_replicas: Some(3),
        updated_replicas: Some(2),
        current_replicas: Some(1),
        current_revision: Some("web-a".into()),
        update_revision: Some("web-b".into()),
        ..StatefulSetStatus::default()
    };
    status::complete_rolling_update(&web, &mut progress);
    assert_eq!(progress.current_revision.as_deref(), Some("web-a"));
    progress.updated_replicas = Some(3);
    status::complete_rolling_update(&web, &mut progress);
    assert_eq!(progress.current_revision.as_deref(), Some("web-b"));
    assert_eq!(progress.current_replicas, Some(3));
    let on_delete = set(json!({ "updateStrategy": { "type": "OnDelete" } }));
    let mut status = StatefulSetStatus { current_revision: Some("web-a".into()), ..progress.clone() };
    status::complete_rolling_update(&on_delete, &mut status);
    assert_eq!(status.current_revision.as_deref(), Some("web-a"), "OnDelete never completes by itself");
}
