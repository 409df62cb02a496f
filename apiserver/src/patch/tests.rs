//! Strategic merge patch: directives, merge keys, errors.

use serde_json::{Value, json};

use super::{StrategicPatchError, strategic_merge_patch, supports_strategic_merge};

fn smp(group: &str, kind: &str, original: Value, patch: Value) -> Value {
    strategic_merge_patch(group, kind, &original, &patch).unwrap()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn pod_err(spec: Value, patch: Value) -> StrategicPatchError {
    strategic_merge_patch("", "Pod", &pod(spec), &patch).unwrap_err()
}

/// (case, original spec, patch, expected spec) for pods.
type PodCase = (&'static str, Value, Value, Value);

fn check_pod_cases(cases: Vec<PodCase>) {
    for (name, spec, patch, want) in cases {
        let got = smp("", "Pod", pod(spec), patch);
        assert_eq!(got, pod(want), "{name}");
    }
}

#[test]
fn pod_spec_lists_merge_by_their_keys() {
    check_pod_cases(vec![
        (
            "containers merge by name keeping unmentioned containers",
            json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}),
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}]}}),
            json!({"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}),
        ),
        (
            "a new container goes first, as upstream orders patch items before later server items",
            json!({"containers": [{"name": "a", "image": "a:1"}]}),
            json!({"spec": {"containers": [{"name": "c", "image": "c:1"}]}}),
            json!({"containers": [{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:1"}]}),
        ),
        (
            "env merges by name inside a container",
            json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}),
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]}]}}),
            json!({"containers": [{"name": "a", "env": [
                {"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]}]}),
        ),
        (
            "container ports merge by containerPort",
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}]}]}}),
            json!({"containers": [{"name": "a", "ports": [
                {"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}]}]}),
        ),
        (
            "volume mounts merge by mountPath",
            json!({"containers": [{"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/a"}]}]}),
            json!({"spec": {"containers": [{"name": "a", "volumeMounts": [{"name": "w", "mountPath": "/a", "readOnly": true}]}]}}),
            json!({"containers": [{"name": "a", "volumeMounts": [{"name": "w", "mountPath": "/a", "readOnly": true}]}]}),
        ),
        (
            "init containers merge by name",
            json!({"initContainers": [{"name": "i", "image": "i:1"}, {"name": "j"}], "containers": []}),
            json!({"spec": {"initContainers": [{"name": "i", "image": "i:2"}]}}),
            json!({"initContainers": [{"name": "i", "image": "i:2"}, {"name": "j"}], "containers": []}),
        ),
        (
            "imagePullSecrets merge by name",
            json!({"imagePullSecrets": [{"name": "r1"}]}),
            json!({"spec": {"imagePullSecrets": [{"name": "r2"}]}}),
            json!({"imagePullSecrets": [{"name": "r2"}, {"name": "r1"}]}),
        ),
        (
            "hostAliases merge by ip",
            json!({"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}]}),
            json!({"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}]}}),
            json!({"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}]}),
        ),
        (
            "topologySpreadConstraints merge by topologyKey alone",
            json!({"topologySpreadConstraints": [{"topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "maxSkew": 1}]}),
            json!({"spec": {"topologySpreadConstraints": [{"topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}}),
            json!({"topologySpreadConstraints": [{"topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 1}]}),
        ),
        (
            "tolerations are replaced wholesale",
            json!({"tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}),
            json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}),
            json!({"tolerations": [{"key": "c", "operator": "Exists"}]}),
        ),
        (
            "container args are replaced wholesale",
            json!({"containers": [{"name": "a", "args": ["x", "y"]}]}),
            json!({"spec": {"containers": [{"name": "a", "args": ["z"]}]}}),
            json!({"containers": [{"name": "a", "args": ["z"]}]}),
        ),
        (
            "envFrom is replaced wholesale",
            json!({"containers": [{"name": "a", "envFrom": [{"configMapRef": {"name": "x"}}]}]}),
            json!({"spec": {"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "y"}}]}]}}),
            json!({"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "y"}}]}]}),
        ),
        (
            "a new patch item lands before the server items that follow it",
            json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            json!({"spec": {"containers": [{"name": "b", "image": "b"}, {"name": "d"}]}}),
            json!({"containers": [{"name": "a"}, {"name": "b", "image": "b"}, {"name": "d"}, {"name": "c"}]}),
        ),
        (
            "a value of another type replaces the original",
            json!({"nodeSelector": {"a": "b"}}),
            json!({"spec": {"nodeSelector": "x"}}),
            json!({"nodeSelector": "x"}),
        ),
        (
            "nulls inside a value added to the object are discarded",
            json!({}),
            json!({"spec": {"securityContext": {"runAsUser": 1, "runAsGroup": null}}}),
            json!({"securityContext": {"runAsUser": 1}}),
        ),
        (
            "null removes a field and is ignored when the field is absent",
            json!({"hostname": "h", "containers": []}),
            json!({"spec": {"hostname": null, "subdomain": null}}),
            json!({"containers": []}),
        ),
    ]);
}

#[test]
fn patch_directives_apply_as_upstream() {
    check_pod_cases(vec![
        (
            "$patch delete removes the container with that name",
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            json!({"containers": [{"name": "b"}]}),
        ),
        (
            "$patch delete of an absent element changes nothing",
            json!({"containers": [{"name": "a"}]}),
            json!({"spec": {"containers": [{"name": "z", "$patch": "delete"}]}}),
            json!({"containers": [{"name": "a"}]}),
        ),
        (
            "$patch delete in a list the object lacks adds nothing",
            json!({"containers": []}),
            json!({"spec": {"volumes": [{"name": "z", "$patch": "delete"}, {"name": "v"}]}}),
            json!({"containers": [], "volumes": [{"name": "v"}]}),
        ),
        (
            "$patch replace in a list makes the other patch elements the list",
            json!({"containers": [{"name": "a", "image": "a"}, {"name": "b"}]}),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}),
            json!({"containers": [{"name": "c"}]}),
        ),
        (
            "$patch replace in a map replaces the map",
            json!({"securityContext": {"runAsUser": 1, "fsGroup": 2}}),
            json!({"spec": {"securityContext": {"$patch": "replace", "runAsGroup": 3}}}),
            json!({"securityContext": {"runAsGroup": 3}}),
        ),
        (
            "$patch delete in a map empties the map",
            json!({"securityContext": {"runAsUser": 1}}),
            json!({"spec": {"securityContext": {"$patch": "delete"}}}),
            json!({"securityContext": {}}),
        ),
        (
            "a map with $patch is dropped where the object has nothing",
            json!({}),
            json!({"spec": {"securityContext": {"$patch": "replace", "runAsUser": 1}, "dnsPolicy": "None"}}),
            json!({"dnsPolicy": "None"}),
        ),
        (
            "$retainKeys clears unlisted keys of a volume",
            json!({"volumes": [{"name": "v", "emptyDir": {}}]}),
            json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}]}}),
            json!({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}),
        ),
        (
            "$setElementOrder reorders merged containers",
            json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "x"}]}}),
            json!({"containers": [{"name": "c"}, {"name": "a", "image": "x"}, {"name": "b"}]}),
        ),
        (
            "$setElementOrder puts a server-only container before the patch items it preceded",
            json!({"containers": [{"name": "a"}, {"name": "sidecar"}, {"name": "b"}]}),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
            json!({"containers": [{"name": "sidecar"}, {"name": "b"}, {"name": "a"}]}),
        ),
        (
            "$setElementOrder without the list in the object adds it",
            json!({}),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "b"}, {"name": "a"}]}}),
            json!({"containers": [{"name": "b"}, {"name": "a"}]}),
        ),
    ]);
}

#[test]
fn finalizers_merge_as_a_set_and_delete_through_the_parallel_list() {
    let meta = |finalizers: Value| json!({"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let cases = [
        ("union", json!(["a", "b"]), json!({"metadata": {"finalizers": ["b", "c"]}}), json!(["a", "b", "c"])),
        (
            "deleteFromPrimitiveList",
            json!(["a", "b", "c"]),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            json!(["a", "c"]),
        ),
        (
            "setElementOrder of primitives",
            json!(["a", "b"]),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}),
            json!(["c", "b", "a"]),
        ),
        ("null clears", json!(["a"]), json!({"metadata": {"finalizers": null}}), Value::Null),
    ];
    for (name, original, patch, want) in cases {
        let got = smp("", "ConfigMap", meta(original), patch);
        assert_eq!(got.pointer("/metadata/finalizers").cloned().unwrap_or(Value::Null), want, "{name}");
    }
}

#[test]
fn delete_from_primitive_list_for_an_absent_list_adds_nothing() {
    let got = smp(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c"}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
    );
    assert_eq!(got, json!({"metadata": {"name": "c"}}));
}

#[test]
fn null_deletes_a_label_and_keeps_the_others() {
    let original = json!({"metadata": {"name": "c", "labels": {"app": "web", "tier": "fe"}}, "data": {"k": "v"}});
    let got = smp("", "ConfigMap", original, json!({"metadata": {"labels": {"tier": null, "new": "1"}}}));
    assert_eq!(got, json!({"metadata": {"name": "c", "labels": {"app": "web", "new": "1"}}, "data": {"k": "v"}}));
}

#[test]
fn owner_references_merge_by_uid() {
    let original =
        json!({"metadata": {"name": "p", "ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]}});
    let patch = json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "kind": "X", "name": "x"}]}});
    let got = smp("", "Pod", original, patch);
    assert_eq!(
        got["metadata"]["ownerReferences"],
        json!([{"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": true}, {"uid": "2", "kind": "X", "name": "x"}])
    );
}

#[test]
fn service_ports_merge_by_port() {
    let original = json!({"kind": "Service", "spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8081, "name": "admin"}]}});
    let got = smp("", "Service", original, patch);
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"},
            {"name": "admin", "port": 8081},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        ])
    );
}

#[test]
fn deployment_strategy_switches_from_rolling_update_to_recreate_with_retain_keys() {
    let original = json!({"kind": "Deployment", "spec": {"replicas": 1, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let got = smp("apps", "Deployment", original, patch);
    assert_eq!(got, json!({"kind": "Deployment", "spec": {"replicas": 1, "strategy": {"type": "Recreate"}}}));
}

#[test]
fn pdb_selector_is_replaced_not_merged() {
    let original = json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "1"}}}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
    let got = smp("policy", "PodDisruptionBudget", original, patch);
    assert_eq!(got, json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"b": "2"}}}}));
}

#[test]
fn conditions_merge_by_type_in_status() {
    let cases = [
        ("apps", "Deployment"),
        ("", "Node"),
        ("", "Pod"),
        ("batch", "Job"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("", "Namespace"),
    ];
    for (group, kind) in cases {
        let original =
            json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        let patch = json!({"status": {"conditions": [{"type": "B", "status": "True"}]}});
        let got = smp(group, kind, original, patch);
        assert_eq!(
            got["status"]["conditions"],
            json!([{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]),
            "{group}/{kind}"
        );
    }
}

#[test]
fn cron_job_pod_template_containers_merge_by_name() {
    let original = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}}});
    let got = smp("batch", "CronJob", original, patch);
    assert_eq!(
        got["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}])
    );
}

#[test]
fn node_pod_cidrs_merge_as_a_set_and_addresses_by_type() {
    let original =
        json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}, "status": {"addresses": [{"type": "Hostname", "address": "n"}]}});
    let patch = json!({"spec": {"podCIDRs": ["fd00::/64"]}, "status": {"addresses": [{"type": "InternalIP", "address": "1.2.3.4"}]}});
    let got = smp("", "Node", original, patch);
    assert_eq!(
        got,
        json!({"spec": {"podCIDRs": ["fd00::/64", "10.0.0.0/24"]}, "status": {"addresses": [
            {"type": "InternalIP", "address": "1.2.3.4"}, {"type": "Hostname", "address": "n"}]}})
    );
}

#[test]
fn kinds_without_a_table_entry_merge_maps_and_replace_lists() {
    let original = json!({"spec": {"items": [1, 2], "a": {"b": 1}}, "metadata": {"finalizers": ["x"]}});
    let patch = json!({"spec": {"items": [3], "a": {"c": 2}}, "metadata": {"finalizers": ["y"]}});
    let got = smp("example.com", "Widget", original, patch);
    assert_eq!(got, json!({"spec": {"items": [3], "a": {"b": 1, "c": 2}}, "metadata": {"finalizers": ["y", "x"]}}));
}

#[test]
fn only_built_in_groups_support_strategic_merge() {
    let cases = [
        ("", "Pod", true),
        ("apps", "Deployment", true),
        ("example.com", "Widget", false),
        ("gateway.networking.k8s.io", "Gateway", false),
    ];
    for (group, kind, want) in cases {
        assert_eq!(supports_strategic_merge(group, kind), want, "{group}/{kind}");
    }
}

#[test]
fn leftover_directives_are_not_stored_except_in_controller_revision_data() {
    let patch = json!({"spec": {"containers": [{"name": "new", "$setElementOrder/env": [{"name": "A"}],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "$patch": "delete"}]}]}});
    let got = smp("", "Pod", pod(json!({"containers": [{"name": "a"}]})), patch);
    assert_eq!(
        got,
        pod(
            json!({"containers": [{"name": "new", "env": [{"name": "A", "value": "1"}, {"name": "B"}]}, {"name": "a"}]})
        )
    );

    let data = json!({"spec": {"template": {"$patch": "replace", "spec": {}}}});
    let revision = json!({"metadata": {"name": "r"}, "revision": 1, "data": data.clone()});
    let got = smp("apps", "ControllerRevision", revision, json!({"revision": 2}));
    assert_eq!(got["data"], data);
}

#[test]
fn a_null_patch_changes_nothing() {
    let original = pod(json!({"containers": []}));
    assert_eq!(smp("", "Pod", original.clone(), Value::Null), original);
}

#[test]
fn invalid_patches_fail_with_upstream_messages_and_statuses() {
    let containers = json!({"containers": [{"name": "a"}]});
    let cases: Vec<(&str, Value, &str, u16)> = vec![
        (
            "merge key missing",
            json!({"spec": {"containers": [{"image": "nginx"}]}}),
            "map: map[image:nginx] does not contain declared merge key: name",
            500,
        ),
        (
            "delete without merge key",
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "map: map[$patch:delete] does not contain declared merge key: name",
            500,
        ),
        (
            "unknown $patch in a map",
            json!({"spec": {"securityContext": {"$patch": "bogus"}}}),
            "unknown patch type: bogus in map: map[$patch:bogus]",
            500,
        ),
        (
            "$patch merge in a map",
            json!({"spec": {"$patch": "merge"}}),
            "unknown patch type: merge in map: map[$patch:merge]",
            500,
        ),
        (
            "unknown $patch in a list element",
            json!({"spec": {"containers": [{"name": "a", "$patch": 1}]}}),
            "unknown patch type: %!s(int64=1) in map: map[$patch:1 name:a]",
            500,
        ),
        (
            "$patch merge in a list element",
            json!({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}),
            "merging lists cannot yet be specified in the patch",
            500,
        ),
        ("$retainKeys not a list", json!({"spec": {"$retainKeys": "x"}}), "invalid patch format of retainKeys", 400),
        (
            "field outside $retainKeys",
            json!({"spec": {"$retainKeys": ["containers"], "hostname": "h"}}),
            "invalid patch format of retainKeys",
            400,
        ),
        (
            "malformed $deleteFromPrimitiveList",
            json!({"spec": {"$deleteFromPrimitiveListcontainers": []}}),
            "invalid patch format of primitive list",
            400,
        ),
        (
            "malformed $setElementOrder",
            json!({"spec": {"$setElementOrder": []}}),
            "invalid patch format of setElementOrder list",
            400,
        ),
        (
            "$setElementOrder not a list",
            json!({"spec": {"$setElementOrder/containers": {}}}),
            "expected a []interface {}, but received a map[string]interface {}",
            500,
        ),
        (
            "patch order contradicts $setElementOrder",
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b"}, {"name": "a"}]}}),
            "The order in patch list:\n[map[name:b] map[name:a]]\n doesn't match $setElementOrder list:\n[map[name:a] map[name:b]]\n",
            500,
        ),
        ("list of lists", json!({"spec": {"imagePullSecrets": [["a"]]}}), "lists of lists are not supported", 422),
        (
            "mixed element types",
            json!({"spec": {"containers": ["a"]}}),
            "list element types are not identical: [[map[name:a]] [a]]",
            500,
        ),
    ];
    for (name, patch, message, status) in cases {
        let mut original = json!({"metadata": {"name": "p", "finalizers": ["f"]}, "spec": containers.clone()});
        original["spec"]["securityContext"] = json!({"runAsUser": 1});
        original["spec"]["imagePullSecrets"] = json!([]);
        let result = strategic_merge_patch("", "Pod", &original, &patch);
        let Err(err) = result else { panic!("{name}: {result:?}") };
        assert_eq!((err.to_string().as_str(), err.status_code()), (message, status), "{name}");
    }
}

#[test]
fn a_patch_that_is_not_an_object_is_a_bad_request() {
    let err = pod_err(json!({}), json!([1]));
    assert_eq!(err.to_string(), "json: cannot unmarshal array into Go value of type map[string]interface {}");
    assert_eq!(err.status_code(), 400);
}
