//! Workloads, the remaining kinds, the defaults, and invariants over every kind.

use serde_json::{Value, json};

use super::tests::{ago, now, row};
use super::{columns, row_cells, uses_custom_resource_default};

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": ago(5 * 3600)})
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
}

#[test]
fn deployments_print_ready_up_to_date_available() {
    let d = json!({"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        row("apps", "deployments", d),
        ["web", "2/3", "3", "2", "5h", "app,log", "nginx:1.27,busybox", "app=web"]
    );
    let bare = json!({"metadata": {"name": "x"}});
    assert_eq!(row("apps", "deployments", bare), ["x", "0/1", "0", "0", "<unknown>", "", "", ""]);
}

#[test]
fn replica_sets_stateful_sets_daemon_sets_and_controllers_print_counts() {
    let rs = json!({"metadata": meta("web-5d"), "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d"}}, "template": template()},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        row("apps", "replicasets", rs),
        ["web-5d", "2", "2", "1", "5h", "app,log", "nginx:1.27,busybox", "app=web,pod-template-hash=5d"]
    );
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()}, "status": {"readyReplicas": 3}});
    assert_eq!(row("apps", "statefulsets", sts), ["db", "3/3", "5h", "app,log", "nginx:1.27,busybox"]);
    let mut ds_template = template();
    ds_template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = json!({"metadata": meta("proxy"), "spec": {"selector": {"matchLabels": {"k8s-app": "proxy"}}, "template": ds_template},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(
        row("apps", "daemonsets", ds),
        [
            "proxy",
            "3",
            "3",
            "2",
            "3",
            "2",
            "kubernetes.io/os=linux",
            "5h",
            "app,log",
            "nginx:1.27,busybox",
            "k8s-app=proxy"
        ]
    );
    let rc = json!({"metadata": meta("old"), "spec": {"replicas": 1, "selector": {"app": "old"}}});
    assert_eq!(row("", "replicationcontrollers", rc), ["old", "1", "0", "0", "5h", "", "", "app=old"]);
}

#[test]
fn jobs_print_status_completions_and_duration() {
    let finished = json!({"metadata": meta("pi"), "spec": {"completions": 1, "parallelism": 1, "template": template(),
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}},
        "status": {"succeeded": 1, "startTime": ago(7000), "completionTime": ago(6990),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
    assert_eq!(
        row("batch", "jobs", finished),
        [
            "pi",
            "Complete",
            "1/1",
            "10s",
            "5h",
            "app,log",
            "nginx:1.27,busybox",
            "batch.kubernetes.io/controller-uid=abc"
        ]
    );
    let cases: Vec<(Value, [&str; 3])> = vec![
        (
            json!({"spec": {"parallelism": 3}, "status": {"startTime": ago(400), "succeeded": 1}}),
            ["Running", "1/1 of 3", "6m40s"],
        ),
        (json!({"spec": {}, "status": {}}), ["Running", "0/1", ""]),
        (
            json!({"spec": {"completions": 5}, "status": {"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]}}),
            ["Failed", "0/5", ""],
        ),
        (
            json!({"spec": {"suspend": true}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
            ["Suspended", "0/1", ""],
        ),
        (
            json!({"status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}}),
            ["FailureTarget", "0/1", ""],
        ),
        (json!({"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}}), ["Running", "0/1", ""]),
        (json!({"metadata": {"deletionTimestamp": ago(1)}}), ["Terminating", "0/1", ""]),
    ];
    for (job, want) in cases {
        assert_eq!(&row("batch", "jobs", job)[1..4], &want);
    }
}

#[test]
fn cron_jobs_print_schedule_timezone_suspend_active_last_schedule() {
    let cj = json!({"metadata": meta("backup"), "spec": {"schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "suspend": false,
        "jobTemplate": {"spec": {"template": template()}}},
        "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": ago(150)}});
    assert_eq!(
        row("batch", "cronjobs", cj),
        ["backup", "*/5 * * * *", "Etc/UTC", "False", "1", "2m30s", "5h", "app,log", "nginx:1.27,busybox", "<none>"]
    );
    let never = json!({"metadata": meta("n"), "spec": {"schedule": "@daily", "suspend": true}});
    assert_eq!(&row("batch", "cronjobs", never)[1..6], ["@daily", "<none>", "True", "0", "<none>"]);
}

#[test]
fn controller_revisions_and_pod_templates_print_owner_and_containers() {
    let cr = json!({"metadata": {"name": "web-7c9", "creationTimestamp": ago(60),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}, "revision": 2});
    assert_eq!(row("apps", "controllerrevisions", cr), ["web-7c9", "statefulset.apps/web", "2", "60s"]);
    let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
    assert_eq!(row("apps", "controllerrevisions", orphan)[1], "<none>");
    let pt = json!({"metadata": meta("tpl"), "template": template()});
    assert_eq!(row("", "podtemplates", pt), ["tpl", "app,log", "nginx:1.27,busybox", "app=web"]);
}

#[test]
fn policy_autoscaling_and_coordination_kinds_print_their_columns() {
    let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(row("policy", "poddisruptionbudgets", pdb), ["web", "50%", "N/A", "1", "5h"]);
    let hpa = json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]},
        "status": {"currentReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "90m"}}}]}});
    assert_eq!(
        row("autoscaling", "horizontalpodautoscalers", hpa),
        ["web", "Deployment/web", "cpu: 45%/80%, memory: <unknown>/1Gi + 1 more...", "1", "10", "3", "5h"]
    );
    let empty = json!({"metadata": meta("e"), "spec": {"minReplicas": 2, "maxReplicas": 4}});
    assert_eq!(&row("autoscaling", "horizontalpodautoscalers", empty)[1..4], ["/", "<none>", "2"]);
    let lease = json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_abc"}});
    assert_eq!(row("coordination.k8s.io", "leases", lease), ["kube-scheduler", "cp-1_abc", "5h"]);
}

#[test]
fn rbac_bindings_print_role_and_subjects_while_roles_use_the_default_convertor() {
    let rb = json!({"metadata": meta("admins"), "roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": [
        {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "ops"},
        {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}]});
    assert_eq!(
        row("rbac.authorization.k8s.io", "rolebindings", rb.clone()),
        ["admins", "ClusterRole/admin", "5h", "alice, bob", "ops", "ci/deployer"]
    );
    assert_eq!(row("rbac.authorization.k8s.io", "clusterrolebindings", rb)[1], "ClusterRole/admin");
    let role = json!({"metadata": {"name": "view", "creationTimestamp": "2024-03-04T05:06:07Z"}});
    assert_eq!(row("rbac.authorization.k8s.io", "clusterroles", role.clone()), ["view", "2024-03-04T05:06:07Z"]);
    assert_eq!(row("", "limitranges", json!({"metadata": {"name": "lr"}})), ["lr", "0001-01-01T00:00:00Z"]);
    assert_eq!(columns("rbac.authorization.k8s.io", "roles")[1].name, "Created At");
}

#[test]
fn networking_kinds_print_selectors_hosts_and_addresses() {
    let np = json!({"metadata": meta("deny"), "spec": {"podSelector": {}}});
    assert_eq!(row("networking.k8s.io", "networkpolicies", np), ["deny", "<none>", "5h"]);
    let ing = json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
        "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.10"}]}}});
    assert_eq!(
        row("networking.k8s.io", "ingresses", ing),
        ["web", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...", "192.0.2.10", "80, 443", "5h"]
    );
    let plain = json!({"metadata": meta("p"), "spec": {"defaultBackend": {}}});
    assert_eq!(row("networking.k8s.io", "ingresses", plain), ["p", "<none>", "*", "", "80", "5h"]);
    let class = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        row("networking.k8s.io", "ingressclasses", class),
        ["nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "5h"]
    );
}

#[test]
fn storage_scheduling_and_discovery_kinds_print_their_columns() {
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(5 * 3600),
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        row("storage.k8s.io", "storageclasses", sc),
        ["standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", "false", "5h"]
    );
    let pc = json!({"metadata": meta("system-cluster-critical"), "value": 2000000000, "globalDefault": false});
    assert_eq!(
        row("scheduling.k8s.io", "priorityclasses", pc),
        ["system-cluster-critical", "2000000000", "false", "5h", "PreemptLowerPriority"]
    );
    let slice = json!({"metadata": meta("web-abc"), "addressType": "IPv4", "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", slice),
        ["web-abc", "IPv4", "80,named,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5h"]
    );
    let empty = json!({"metadata": meta("e"), "addressType": "IPv4"});
    assert_eq!(&row("discovery.k8s.io", "endpointslices", empty)[2..4], ["<unset>", "<unset>"]);
}

#[test]
fn custom_resources_default_to_name_and_age() {
    let cols = columns("example.com", "widgets");
    assert_eq!(cols.iter().map(|c| (c.name, c.kind)).collect::<Vec<_>>(), [("Name", "string"), ("Age", "date")]);
    assert!(uses_custom_resource_default("example.com", "widgets"));
    assert!(!uses_custom_resource_default("apps", "deployments"));
    let cells =
        row_cells("example.com", "widgets", &json!({"metadata": {"name": "w", "creationTimestamp": ago(90)}}), now());
    assert_eq!(cells, [json!("w"), json!("90s")]);
    let cells = row_cells("example.com", "widgets", &json!({"metadata": {"name": "w"}}), now());
    assert_eq!(cells, [json!("w"), Value::Null]);
    let cells = row_cells(
        "example.com",
        "widgets",
        &json!({"metadata": {"name": "w", "creationTimestamp": "yesterday"}}),
        now(),
    );
    assert_eq!(cells[1], json!("<invalid>"));
}

const KINDS: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "podtemplates"),
    ("", "replicationcontrollers"),
    ("", "services"),
    ("", "endpoints"),
    ("", "nodes"),
    ("", "events"),
    ("", "namespaces"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("", "limitranges"),
    ("", "resourcequotas"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "controllerrevisions"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("coordination.k8s.io", "leases"),
    ("events.k8s.io", "events"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("storage.k8s.io", "storageclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("policy", "poddisruptionbudgets"),
    ("discovery.k8s.io", "endpointslices"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("example.com", "widgets"),
];

#[test]
fn every_kind_starts_with_a_name_column_except_events_which_lead_with_last_seen() {
    for (group, resource) in KINDS {
        let cols = columns(group, resource);
        assert!(!cols.is_empty(), "{group}/{resource}");
        let names: Vec<_> = cols.iter().filter(|c| c.format == "name").collect();
        assert_eq!(names.len(), 1, "{group}/{resource} has one name-formatted column");
        assert_eq!(names[0].name, "Name");
        if *resource == "events" {
            assert_eq!(cols[0].name, "Last Seen");
            assert_eq!(names[0].priority, 1);
        } else {
            assert_eq!((cols[0].name, cols[0].format), ("Name", "name"), "{group}/{resource}");
        }
        for c in cols {
            assert!(
                ["string", "integer", "date", "number", "boolean"].contains(&c.kind),
                "{group}/{resource} {}",
                c.name
            );
            assert!(c.priority == 0 || c.priority == 1);
            assert!(!c.description.is_empty());
        }
    }
}

#[test]
fn odd_input_never_panics_and_still_fills_every_column() {
    let odd = [
        json!(null),
        json!(42),
        json!("pod"),
        json!([]),
        json!({}),
        json!({"metadata": "x", "spec": [], "status": 7}),
        json!({"metadata": {"name": 5, "creationTimestamp": 9, "deletionTimestamp": "bad", "labels": [], "annotations": "a",
            "ownerReferences": [{"controller": true, "apiVersion": "a/b/c"}]},
            "spec": {"containers": [1, null, {"name": []}], "initContainers": {"x": 1}, "replicas": "3", "selector": {"matchLabels": {"a": 1}, "matchExpressions": "x"},
                "ports": [{"port": "80", "nodePort": -1}], "type": "LoadBalancer", "metrics": [{"type": "Resource"}, {"type": "External", "external": {"target": {"averageValue": "1e999"}}}],
                "capacity": {"storage": "12Zi"}, "claimRef": 4, "rules": [null], "template": {"spec": {"containers": "no"}}},
            "status": {"conditions": [null, {"type": "Ready"}], "containerStatuses": [{"state": {"terminated": {"exitCode": "1"}}}],
                "initContainerStatuses": [{"state": {"waiting": {}}}], "hard": {"cpu": {}}, "currentMetrics": [1], "loadBalancer": {"ingress": [{}]},
                "addresses": [1], "podIPs": [null]},
            "subsets": [{"addresses": [{}], "ports": [{}]}], "endpoints": [{"addresses": [1]}], "series": {}, "involvedObject": 3}),
    ];
    for (group, resource) in KINDS {
        for object in &odd {
            let cells = row_cells(group, resource, object, now());
            assert_eq!(cells.len(), columns(group, resource).len(), "{group}/{resource} on {object}");
        }
    }
}
