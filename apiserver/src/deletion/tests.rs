use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::registry::{Registry, Resource};

fn resource(group: &str, version: &str, plural: &str) -> Resource {
    Registry::builtin().get(group, version, plural).cloned().unwrap_or_else(|| panic!("{group}/{version} {plural}"))
}

fn options(body: Value) -> DeleteOptions {
    DeleteOptions::parse(&body, |_| None).expect("valid options")
}

/// Finalizer names as the tables write them.
type Names = &'static [&'static str];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn now() -> Timestamp {
    "2025-05-01T10:00:00Z".parse().expect("time")
}

#[test]
fn v1_jobs_and_replication_controllers_orphan_by_default_and_events_take_no_finalizers() {
    let cases = [
        (("batch", "v1", "jobs"), GcPolicy::OrphanDependents),
        (("", "v1", "replicationcontrollers"), GcPolicy::OrphanDependents),
        (("batch", "v1", "cronjobs"), GcPolicy::DeleteDependents),
        (("apps", "v1", "deployments"), GcPolicy::DeleteDependents),
        (("apps", "v1", "replicasets"), GcPolicy::DeleteDependents),
        (("apps", "v1", "statefulsets"), GcPolicy::DeleteDependents),
        (("apps", "v1", "daemonsets"), GcPolicy::DeleteDependents),
        (("", "v1", "configmaps"), GcPolicy::DeleteDependents),
        (("", "v1", "events"), GcPolicy::Unsupported),
        (("events.k8s.io", "v1", "events"), GcPolicy::Unsupported),
    ];
    for ((group, version, plural), want) in cases {
        assert_eq!(default_gc_policy(&resource(group, version, plural)), want, "{group}/{version} {plural}");
    }
}

#[test]
fn gc_finalizers_follow_options_then_present_finalizers_then_the_default() {
    use GcPolicy::{DeleteDependents as Delete, OrphanDependents as Orphan, Unsupported};
    let cases: &[(&str, GcPolicy, Names, Value, Option<Names>)] = &[
        ("nothing asked, deleting kind", Delete, &[], json!({}), None),
        ("nothing asked, orphaning kind", Orphan, &[], json!({}), Some(&["orphan"])),
        ("background overrides an orphaning default", Orphan, &[], json!({ "propagationPolicy": "Background" }), None),
        ("orphanDependents=false overrides the default", Orphan, &[], json!({ "orphanDependents": false }), None),
        (
            "orphanDependents=true orphans",
            Delete,
            &["a/b"],
            json!({ "orphanDependents": true }),
            Some(&["a/b", "orphan"]),
        ),
        ("foreground", Delete, &[], json!({ "propagationPolicy": "Foreground" }), Some(&["foregroundDeletion"])),
        (
            "foreground replaces orphan",
            Delete,
            &["a/b", "orphan"],
            json!({ "propagationPolicy": "Foreground" }),
            Some(&["a/b", "foregroundDeletion"]),
        ),
        (
            "orphan replaces foreground",
            Delete,
            &["foregroundDeletion"],
            json!({ "propagationPolicy": "Orphan" }),
            Some(&["orphan"]),
        ),
        ("background removes orphan", Delete, &["orphan"], json!({ "propagationPolicy": "Background" }), Some(&[])),
        ("a present orphan stays", Delete, &["orphan"], json!({}), None),
        ("a present foreground beats the default", Orphan, &["foregroundDeletion"], json!({}), None),
        ("never both: the first present wins", Delete, &["orphan", "foregroundDeletion"], json!({}), Some(&["orphan"])),
        ("unsupported drops both", Unsupported, &["orphan"], json!({ "propagationPolicy": "Foreground" }), Some(&[])),
        ("unsupported ignores options", Unsupported, &[], json!({ "propagationPolicy": "Orphan" }), None),
    ];
    for (case, policy, current, body, want) in cases {
        let got = gc_finalizers(*policy, &strings(current), &options(body.clone()));
        assert_eq!(got, want.map(strings), "{case}");
    }
}

#[test]
fn a_namespace_deleted_with_orphan_dependents_false_gets_the_foreground_finalizer() {
    let cases: &[(Names, Value, Option<Names>)] = &[
        (&[], json!({}), None),
        (&["orphan"], json!({}), None),
        (&[], json!({ "orphanDependents": false }), Some(&["foregroundDeletion"])),
        (&[], json!({ "orphanDependents": true }), Some(&["orphan"])),
        (&["orphan"], json!({ "propagationPolicy": "Background" }), Some(&[])),
    ];
    for (current, body, want) in cases {
        let got = namespace_gc_finalizers(&strings(current), &options(body.clone()));
        assert_eq!(got, want.map(strings), "{current:?} {body}");
    }
}

#[test]
fn invalid_delete_options_get_upstreams_422() {
    let both = DeleteOptions::parse(&json!({ "orphanDependents": true, "propagationPolicy": "Foreground" }), |_| None)
        .expect_err("both set");
    assert_eq!((both.code, both.reason), (422, "Invalid"));
    assert_eq!(
        both.message,
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Foreground\": orphanDependents and deletionPropagation cannot be both set"
    );
    let details = both.details.expect("details");
    assert_eq!(details["group"], "meta.k8s.io");
    assert_eq!(details["kind"], "DeleteOptions");
    assert!(details.get("name").is_none());
    assert_eq!(details["causes"][0]["field"], "propagationPolicy");

    let unknown = DeleteOptions::parse(&json!({}), |k| (k == "propagationPolicy").then_some("Sideways"))
        .expect_err("unsupported");
    assert_eq!(
        unknown.message,
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
    );
    let bad_bool = DeleteOptions::parse(&json!({}), |k| (k == "orphanDependents").then_some("maybe"));
    assert_eq!(bad_bool.expect_err("not a bool").code, 400);
}

#[test]
fn options_come_from_the_body_then_the_query() {
    let query = |k: &str| match k {
        "orphanDependents" => Some("false"),
        "gracePeriodSeconds" => Some("-5"),
        _ => None,
    };
    let parsed = DeleteOptions::parse(&json!({ "preconditions": { "uid": "u1" } }), query).expect("valid");
    assert_eq!(parsed.orphan_dependents, Some(false));
    assert_eq!(parsed.grace_period_seconds, Some(1), "a negative grace period is one second");
    assert_eq!(parsed.uid.as_deref(), Some("u1"));
    let body_wins = DeleteOptions::parse(&json!({ "gracePeriodSeconds": 7 }), query).expect("valid");
    assert_eq!(body_wins.grace_period_seconds, Some(7));
}

fn object(meta: Value) -> Value {
    json!({ "metadata": meta, "spec": {} })
}

#[test]
fn plans_for_generic_kinds() {
    let maps = resource("", "v1", "configmaps");
    let plain = object(json!({ "name": "a", "resourceVersion": "5" }));
    assert_eq!(plan(&maps, &plain, &options(json!({})), now()).expect("plan"), Plan::Remove);

    let held = object(json!({ "name": "a", "finalizers": ["example.com/hold"] }));
    let Plan::Mark(marked) = plan(&maps, &held, &options(json!({})), now()).expect("plan") else { panic!("mark") };
    assert_eq!(marked["metadata"]["deletionTimestamp"], "2025-05-01T10:00:00Z");
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);

    let deployments = resource("apps", "v1", "deployments");
    let web = object(json!({ "name": "web", "generation": 3 }));
    let Plan::Mark(marked) =
        plan(&deployments, &web, &options(json!({ "propagationPolicy": "Foreground" })), now()).expect("plan")
    else {
        panic!("mark")
    };
    assert_eq!(marked["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert_eq!(marked["metadata"]["generation"], 4, "a first deletion counts as a generation");

    let jobs = resource("batch", "v1", "jobs");
    let job = object(json!({ "name": "pi" }));
    let Plan::Mark(marked) = plan(&jobs, &job, &options(json!({})), now()).expect("plan") else { panic!("mark") };
    assert_eq!(marked["metadata"]["finalizers"], json!(["orphan"]));
    assert_eq!(
        plan(&jobs, &job, &options(json!({ "propagationPolicy": "Background" })), now()).expect("plan"),
        Plan::Remove
    );
}

#[test]
fn a_repeated_delete_swaps_the_finalizer_and_keeps_the_first_timestamp() {
    let maps = resource("", "v1", "configmaps");
    let earlier = "2025-05-01T09:00:00Z";
    let terminating = object(json!({
        "name": "a", "generation": 2, "finalizers": ["orphan"],
        "deletionTimestamp": earlier, "deletionGracePeriodSeconds": 0,
    }));
    let Plan::Mark(marked) =
        plan(&maps, &terminating, &options(json!({ "propagationPolicy": "Foreground" })), now()).expect("plan")
    else {
        panic!("mark")
    };
    assert_eq!(marked["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert_eq!(marked["metadata"]["deletionTimestamp"], earlier);
    assert_eq!(marked["metadata"]["generation"], 2, "only the first deletion counts");
    let background = plan(&maps, &terminating, &options(json!({ "propagationPolicy": "Background" })), now());
    assert_eq!(background.expect("plan"), Plan::Remove, "with its last finalizer gone the object goes");
}

#[test]
fn plans_for_namespaces() {
    let namespaces = resource("", "v1", "namespaces");
    let active = json!({ "metadata": { "name": "team" }, "spec": { "finalizers": ["kubernetes"] }, "status": { "phase": "Active" } });
    let Plan::Mark(marked) = plan(&namespaces, &active, &options(json!({})), now()).expect("plan") else {
        panic!("mark")
    };
    assert_eq!(marked["status"]["phase"], "Terminating");
    assert_eq!(marked["metadata"]["deletionTimestamp"], "2025-05-01T10:00:00Z");
    assert!(marked["metadata"].get("deletionGracePeriodSeconds").is_none());
    assert!(marked["metadata"].get("finalizers").is_none());

    assert_eq!(plan(&namespaces, &marked, &options(json!({})), now()).expect("plan"), Plan::Keep);
    let mut finalized = marked.clone();
    finalized["spec"] = json!({});
    assert_eq!(plan(&namespaces, &finalized, &options(json!({})), now()).expect("plan"), Plan::Remove);
}

#[test]
fn plans_for_graceful_pod_deletion() {
    let pods = resource("", "v1", "pods");
    let running = json!({ "metadata": { "name": "p" }, "spec": { "nodeName": "n1", "terminationGracePeriodSeconds": 30 }, "status": { "phase": "Running" } });
    let Plan::Mark(marked) = plan(&pods, &running, &options(json!({})), now()).expect("plan") else { panic!("mark") };
    assert_eq!(marked["metadata"]["deletionTimestamp"], "2025-05-01T10:00:30Z");
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);

    let orphan = options(json!({ "propagationPolicy": "Orphan" }));
    assert_eq!(plan(&pods, &marked, &orphan, now()).expect("plan"), Plan::Keep, "pending: options change nothing");
    let Plan::Mark(shorter) = plan(&pods, &marked, &options(json!({ "gracePeriodSeconds": 10 })), now()).expect("plan")
    else {
        panic!("mark")
    };
    assert_eq!(shorter["metadata"]["deletionTimestamp"], "2025-05-01T10:00:10Z");
    assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 10);
    let force = plan(&pods, &marked, &options(json!({ "gracePeriodSeconds": 0 })), now());
    assert_eq!(force.expect("plan"), Plan::Remove);
}
