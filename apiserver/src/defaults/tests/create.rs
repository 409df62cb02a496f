use serde_json::{Value, json};

use crate::defaults::{apply_admission_defaults, apply_defaults, prepare_for_create};

/// The create pipeline in kube-apiserver's order.
fn create(group: &str, version: &str, kind: &str, mut object: Value) -> Value {
    apply_defaults(group, version, kind, &mut object);
    apply_admission_defaults(group, version, kind, &mut object);
    prepare_for_create(group, version, kind, &mut object);
    object
}

fn pod_with_resources(resources: Vec<Value>) -> Value {
    let containers: Vec<Value> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| json!({"name": format!("c{i}"), "image": "x:1", "resources": r}))
        .collect();
    json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn a_created_pod_looks_like_kubectl_run_output() {
    let pod = create(
        "",
        "v1",
        "Pod",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}, "status": {"phase": "Running"}}),
    );
    // The ServiceAccount admission's token volume has a random name, as upstream's.
    let volume = pod["spec"]["volumes"][0]["name"].as_str().unwrap_or_default().to_owned();
    assert!(volume.starts_with("kube-api-access-") && volume.len() == 21, "{volume}");
    let want = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
        "spec": {
            "containers": [{"name": "nginx", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": volume, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "volumes": [{"name": volume, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]}}]
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"}
    });
    assert_eq!(pod, want, "{}", super::pretty(&pod));
}

#[test]
fn pod_qos_class_follows_requests_and_limits() {
    let rows = [
        ("no resources", vec![json!({})], "BestEffort"),
        ("zero requests count as none", vec![json!({"requests": {"cpu": "0"}})], "BestEffort"),
        ("only non-compute resources", vec![json!({"limits": {"nvidia.com/gpu": "1"}})], "BestEffort"),
        ("requests only", vec![json!({"requests": {"cpu": "100m"}})], "Burstable"),
        ("limits only default requests", vec![json!({"limits": {"cpu": "1", "memory": "1Gi"}})], "Guaranteed"),
        (
            "equal with different spellings",
            vec![json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}})],
            "Guaranteed",
        ),
        (
            "numbers are quantities too",
            vec![json!({"limits": {"cpu": 2, "memory": "2e9"}, "requests": {"cpu": "2", "memory": "2G"}})],
            "Guaranteed",
        ),
        (
            "request below limit",
            vec![json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})],
            "Burstable",
        ),
        ("memory limit missing", vec![json!({"limits": {"cpu": "1"}})], "Burstable"),
        (
            "one container without limits",
            vec![json!({"limits": {"cpu": "1", "memory": "1Gi"}}), json!({})],
            "Burstable",
        ),
        (
            "two guaranteed containers",
            vec![json!({"limits": {"cpu": "1", "memory": "1Gi"}}), json!({"limits": {"cpu": "0.5", "memory": "1Mi"}})],
            "Guaranteed",
        ),
    ];
    for (name, resources, want) in rows {
        let pod = create("", "v1", "Pod", pod_with_resources(resources));
        assert_eq!(pod["status"]["qosClass"], want, "{name}");
    }
}

#[test]
fn a_gated_pod_starts_with_a_scheduling_gated_condition() {
    let pod = create("", "v1", "Pod", json!({"spec": {"schedulingGates": [{"name": "g"}], "containers": []}}));
    assert_eq!(
        pod["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [{
            "type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": null,
            "reason": "SchedulingGated", "message": "Scheduling is blocked due to non-empty scheduling gates"
        }]})
    );
}

#[test]
fn admission_resolves_service_account_and_priority_only_when_unset() {
    let rows = [
        (
            json!({}),
            json!({"serviceAccountName": "default", "serviceAccount": "default", "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
        ),
        (
            json!({"serviceAccountName": "sa"}),
            json!({"serviceAccountName": "sa", "serviceAccount": "sa", "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
        ),
        (
            json!({"priorityClassName": "system-node-critical"}),
            json!({"serviceAccountName": "default", "serviceAccount": "default",
            "priorityClassName": "system-node-critical", "priority": 2_000_001_000, "preemptionPolicy": "PreemptLowerPriority"}),
        ),
        (
            json!({"priorityClassName": "custom"}),
            json!({"serviceAccountName": "default", "serviceAccount": "default", "priorityClassName": "custom"}),
        ),
        (
            json!({"preemptionPolicy": "Never"}),
            json!({"serviceAccountName": "default", "serviceAccount": "default", "priority": 0, "preemptionPolicy": "Never"}),
        ),
    ];
    for (spec, want) in rows {
        let mut pod = json!({"spec": spec.clone()});
        apply_admission_defaults("", "v1", "Pod", &mut pod);
        pod["spec"].as_object_mut().map(|s| s.remove("tolerations"));
        assert_eq!(pod["spec"], want, "spec {spec}");
    }
    let mut mirror = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": {}});
    apply_admission_defaults("", "v1", "Pod", &mut mirror);
    assert!(mirror["spec"].get("serviceAccountName").is_none());
    let mut deployment = json!({"spec": {}});
    apply_admission_defaults("apps", "v1", "Deployment", &mut deployment);
    assert_eq!(deployment, json!({"spec": {}}));
}

#[test]
fn pods_tolerate_not_ready_and_unreachable_nodes_for_300_seconds_unless_they_say_otherwise() {
    let keys = |pod: &Value| -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (t["key"].as_str().unwrap_or("").to_owned(), t["tolerationSeconds"].as_i64()))
            .collect()
    };
    let rows = [
        (json!([]), vec![("node.kubernetes.io/not-ready", Some(300)), ("node.kubernetes.io/unreachable", Some(300))]),
        (
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]),
            vec![("node.kubernetes.io/unreachable", Some(5)), ("node.kubernetes.io/not-ready", Some(300))],
        ),
        (json!([{"operator": "Exists"}]), vec![("", None)]),
        (
            json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]),
            vec![("node.kubernetes.io/not-ready", None), ("node.kubernetes.io/unreachable", Some(300))],
        ),
    ];
    for (tolerations, want) in rows {
        let mut pod = json!({"spec": {"tolerations": tolerations.clone()}});
        apply_admission_defaults("", "v1", "Pod", &mut pod);
        let want: Vec<(String, Option<i64>)> = want.into_iter().map(|(k, s)| (k.to_owned(), s)).collect();
        assert_eq!(keys(&pod), want, "tolerations {tolerations}");
    }
}

#[test]
fn namespaces_are_created_active_with_the_kubernetes_finalizer() {
    let namespace = create("", "v1", "Namespace", json!({"metadata": {"name": "dev"}}));
    assert_eq!(
        namespace,
        json!({
            "metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}
        })
    );
    let custom = create(
        "",
        "v1",
        "Namespace",
        json!({"metadata": {"name": "x"}, "spec": {"finalizers": ["other", "kubernetes"]}}),
    );
    assert_eq!(custom["spec"]["finalizers"], json!(["other", "kubernetes"]));
    let appended = create("", "v1", "Namespace", json!({"metadata": {"name": "x"}, "spec": {"finalizers": ["other"]}}));
    assert_eq!(appended["spec"]["finalizers"], json!(["other", "kubernetes"]));
}

#[test]
fn created_workloads_start_from_their_initial_status() {
    let rows = [
        (("apps", "v1", "Deployment"), json!({})),
        (("apps", "v1", "ReplicaSet"), json!({"replicas": 0})),
        (("apps", "v1", "StatefulSet"), json!({"replicas": 0, "availableReplicas": 0})),
        (
            ("apps", "v1", "DaemonSet"),
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
        ),
        (("", "v1", "Service"), json!({"loadBalancer": {}})),
        (("", "v1", "PersistentVolumeClaim"), json!({"phase": "Pending"})),
        (
            ("policy", "v1", "PodDisruptionBudget"),
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        ),
        (("autoscaling", "v2", "HorizontalPodAutoscaler"), json!({"desiredReplicas": 0})),
        (("networking.k8s.io", "v1", "Ingress"), json!({"loadBalancer": {}})),
    ];
    for ((group, version, kind), want) in rows {
        let object = create(group, version, kind, json!({"spec": {}, "status": {"replicas": 7, "phase": "Bound"}}));
        assert_eq!(object["status"], want, "{kind}");
    }
    let node = create("", "v1", "Node", json!({"status": {"capacity": {"cpu": "1"}}}));
    assert_eq!(node["status"]["capacity"], json!({"cpu": "1"}), "nodes keep the status they are created with");
}

#[test]
fn services_copy_a_lone_cluster_ip_into_cluster_ips() {
    let service = create("", "v1", "Service", json!({"spec": {"clusterIP": "None", "selector": {"a": "b"}}}));
    assert_eq!(service["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(service["spec"]["ipFamilyPolicy"], "SingleStack");
    let plain = create("", "v1", "Service", json!({"spec": {"ports": [{"port": 80}]}}));
    assert!(plain["spec"].get("clusterIPs").is_none());
}

#[test]
fn jobs_get_a_generated_selector_from_their_uid() {
    let job = create(
        "batch",
        "v1",
        "Job",
        json!({"metadata": {"name": "pi", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}}),
    );
    let labels = json!({"job-name": "pi", "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"});
    assert_eq!(job["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}));
    assert_eq!(job["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(job["metadata"]["labels"], labels, "re-defaulting copies the generated labels to the job");
    assert_eq!(job["status"], json!({}));

    let labelled = create(
        "batch",
        "v1",
        "Job",
        json!({"metadata": {"name": "pi", "uid": "u-1"},
        "spec": {"template": {"metadata": {"labels": {"app": "pi"}}, "spec": {"containers": []}}}}),
    );
    assert_eq!(labelled["metadata"]["labels"], json!({"app": "pi"}));

    let manual = create(
        "batch",
        "v1",
        "Job",
        json!({"metadata": {"name": "pi", "uid": "u-1"},
        "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}}),
    );
    assert_eq!(manual["spec"]["selector"], json!({"matchLabels": {"a": "b"}}));

    let without_uid = create("batch", "v1", "Job", json!({"metadata": {"name": "pi"}, "spec": {"template": {}}}));
    assert!(without_uid["spec"].get("selector").is_none());
}

#[test]
fn creating_twice_changes_nothing_more() {
    let inputs = [
        (
            ("", "v1", "Pod"),
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}]}}),
        ),
        (("", "v1", "Namespace"), json!({"metadata": {"name": "n"}})),
        (
            ("batch", "v1", "Job"),
            json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": {"spec": {"containers": []}}}}),
        ),
        (
            ("apps", "v1", "Deployment"),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}}),
        ),
    ];
    for ((group, version, kind), input) in inputs {
        let once = create(group, version, kind, input);
        let twice = create(group, version, kind, once.clone());
        assert_eq!(once, twice, "{kind}");
    }
}
