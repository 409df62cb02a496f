//! Patches as kubectl sends them (apply's three-way diff, set image, rollout restart, edit) applied to
//! objects as a cluster stores them.

use serde_json::{Value, json};

use super::strategic_merge_patch;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A Deployment as kube-apiserver stores it after `kubectl apply` and defaulting.
fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6f1c", "resourceVersion": "1042", "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "1", LAST_APPLIED: "{\"old\":true}\n"}
        },
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}, {"name": "old", "mountPath": "/old"}],
                            "resources": {}, "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        },
                        {"name": "injected-sidecar", "image": "proxy:1", "resources": {}}
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "old", "emptyDir": {}}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30
                }
            }
        },
        "status": {"observedGeneration": 1, "replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    })
}

fn apply(kind: (&str, &str), live: &Value, patch: Value) -> Value {
    strategic_merge_patch(kind.0, kind.1, live, &patch).unwrap()
}

const DEPLOYMENT: (&str, &str) = ("apps", "Deployment");

fn app_container(v: &mut Value) -> &mut Value {
    &mut v["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn apply_after_removing_env_from_the_manifest_drops_it_and_updates_last_applied() {
    let live = live_deployment();
    let patch = json!({
        "metadata": {"annotations": {LAST_APPLIED: "{\"new\":true}\n"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"env": null, "name": "app"}]
        }}}
    });
    let mut want = live.clone();
    want["metadata"]["annotations"][LAST_APPLIED] = json!("{\"new\":true}\n");
    app_container(&mut want).as_object_mut().unwrap().remove("env");
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn apply_removing_one_env_var_and_changing_the_image_keeps_the_rest() {
    let live = live_deployment();
    let patch = json!({
        "metadata": {"annotations": {LAST_APPLIED: "{}\n"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                "env": [{"$patch": "delete", "name": "B"}],
                "image": "nginx:1.26",
                "name": "app"
            }]
        }}}
    });
    let mut want = live.clone();
    want["metadata"]["annotations"][LAST_APPLIED] = json!("{}\n");
    app_container(&mut want)["image"] = json!("nginx:1.26");
    app_container(&mut want)["env"] = json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]);
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn apply_removing_a_volume_and_its_mount_deletes_both() {
    let live = live_deployment();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "$setElementOrder/volumes": [{"name": "cache"}],
        "containers": [{
            "$setElementOrder/volumeMounts": [{"mountPath": "/cache"}],
            "name": "app",
            "volumeMounts": [{"$patch": "delete", "mountPath": "/old"}]
        }],
        "volumes": [{"$patch": "delete", "name": "old"}]
    }}}});
    let mut want = live.clone();
    app_container(&mut want)["volumeMounts"] = json!([{"name": "cache", "mountPath": "/cache"}]);
    want["spec"]["template"]["spec"]["volumes"] = json!([{"name": "cache", "emptyDir": {}}]);
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn apply_switching_a_volume_source_uses_retain_keys() {
    let live = live_deployment();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "cache"}, {"name": "old"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "settings"}, "name": "cache"}]
    }}}});
    let mut want = live.clone();
    want["spec"]["template"]["spec"]["volumes"][0] = json!({"name": "cache", "configMap": {"name": "settings"}});
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn apply_adding_a_container_places_it_per_set_element_order_before_server_only_ones() {
    let live = live_deployment();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "metrics"}],
        "containers": [{"image": "exporter:2", "name": "metrics"}]
    }}}});
    let got = apply(DEPLOYMENT, &live, patch);
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "metrics", "injected-sidecar"]);
}

#[test]
fn apply_switching_the_strategy_to_recreate_clears_rolling_update() {
    let cases = [
        (
            "rollingUpdate was in the last applied configuration",
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
        ),
        (
            "rollingUpdate was defaulted by the server",
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        ),
    ];
    for (name, patch) in cases {
        let live = live_deployment();
        let mut want = live.clone();
        want["spec"]["strategy"] = json!({"type": "Recreate"});
        assert_eq!(apply(DEPLOYMENT, &live, patch), want, "{name}");
    }
}

#[test]
fn apply_removing_a_label_nulls_it() {
    let live = live_deployment();
    let patch = json!({"metadata": {"annotations": {LAST_APPLIED: "{}\n"}, "labels": {"tier": null}}});
    let mut want = live.clone();
    want["metadata"]["annotations"][LAST_APPLIED] = json!("{}\n");
    want["metadata"]["labels"] = json!({"app": "web"});
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn set_image_changes_only_that_container() {
    let live = live_deployment();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "app"}]}}}});
    let mut want = live.clone();
    app_container(&mut want)["image"] = json!("nginx:1.27");
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn rollout_restart_adds_the_restarted_at_annotation_to_the_template() {
    let live = live_deployment();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"}}}}});
    let mut want = live.clone();
    want["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2025-06-01T10:00:00Z"});
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}

#[test]
fn apply_removing_a_service_port_deletes_it_by_port() {
    let live = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]}
    });
    let patch =
        json!({"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"$patch": "delete", "port": 443}]}});
    let mut want = live.clone();
    want["spec"]["ports"] = json!([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]);
    assert_eq!(apply(("", "Service"), &live, patch), want);
}

#[test]
fn edit_removing_a_finalizer_uses_the_parallel_deletion_list() {
    let live =
        json!({"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a.io/x", "a.io/y"]}, "data": {"k": "v"}});
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/x"], "$setElementOrder/finalizers": ["a.io/y"]}});
    let mut want = live.clone();
    want["metadata"]["finalizers"] = json!(["a.io/y"]);
    assert_eq!(apply(("", "ConfigMap"), &live, patch), want);
}

#[test]
fn apply_replacing_tolerations_of_a_pod_template_replaces_the_list() {
    let mut live = live_deployment();
    live["spec"]["template"]["spec"]["tolerations"] =
        json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]);
    let patch = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}});
    let mut want = live.clone();
    want["spec"]["template"]["spec"]["tolerations"] = json!([{"key": "b", "operator": "Exists"}]);
    assert_eq!(apply(DEPLOYMENT, &live, patch), want);
}
