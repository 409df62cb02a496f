//! Services, endpoints, nodes, events, namespaces, config, storage and quotas.

use serde_json::{Value, json};

use super::tests::{ago, row};

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": ago(3 * 86400)})
}

#[test]
fn services_print_type_ips_and_ports() {
    let cases: Vec<(Value, [&str; 7])> = vec![
        (
            json!({"metadata": meta("kubernetes"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
            ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "3d", "<none>"],
        ),
        (
            json!({"metadata": meta("web"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.12.7"], "selector": {"app": "web", "tier": "fe"},
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}),
            ["web", "NodePort", "10.96.12.7", "<none>", "80:30080/TCP,53/UDP", "3d", "app=web,tier=fe"],
        ),
        (
            json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.3"],
                "ports": [{"port": 80, "nodePort": 31000}]}, "status": {"loadBalancer": {}}}),
            ["lb", "LoadBalancer", "10.96.3.3", "<pending>", "80:31000/TCP", "3d", "<none>"],
        ),
        (
            json!({"metadata": meta("lb2"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.4"], "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 443, "nodePort": 31001}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "a-very-long-hostname.example.com"}]}}}),
            [
                "lb2",
                "LoadBalancer",
                "10.96.3.4",
                "203.0.113.9,a-very-long-hostname.example.com,1.2.3.4",
                "443:31001/TCP",
                "3d",
                "<none>",
            ],
        ),
        (
            json!({"metadata": meta("db"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
            ["db", "ExternalName", "<none>", "db.example.com", "<none>", "3d", "<none>"],
        ),
        (
            json!({"metadata": meta("headless"), "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}}),
            ["headless", "ClusterIP", "None", "<none>", "5432/TCP", "3d", "<none>"],
        ),
    ];
    for (svc, want) in cases {
        assert_eq!(row("", "services", svc), want);
    }
}

#[test]
fn endpoints_list_three_addresses_then_a_count() {
    let ep = json!({"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(row("", "endpoints", ep), ["web", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...", "3d"]);
    assert_eq!(row("", "endpoints", json!({"metadata": meta("none")})), ["none", "<none>", "3d"]);
    let headless = json!({"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}]}]});
    assert_eq!(row("", "endpoints", headless), ["h", "fd00::1", "3d"]);
}

fn node(labels: Value, unschedulable: bool, ready: Option<&str>) -> Value {
    let conditions: Vec<Value> = ready.map(|s| json!({"type": "Ready", "status": s})).into_iter().collect();
    json!({"metadata": {"name": "node-1", "creationTimestamp": ago(40 * 86400), "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": conditions, "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "containerd://1.7.13"}}})
}

#[test]
fn nodes_print_status_roles_and_version() {
    let control = json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "", "kubernetes.io/role": "infra"});
    assert_eq!(
        row("", "nodes", node(control, false, Some("True"))),
        [
            "node-1",
            "Ready",
            "control-plane,infra,master",
            "40d",
            "v1.33.1",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0-18-amd64",
            "containerd://1.7.13"
        ]
    );
    let cases = [
        (true, Some("True"), "Ready,SchedulingDisabled"),
        (false, Some("False"), "NotReady"),
        (false, Some("Unknown"), "NotReady"),
        (false, None, "Unknown"),
        (true, None, "Unknown,SchedulingDisabled"),
    ];
    for (cordoned, ready, want) in cases {
        let cells = row("", "nodes", node(json!({}), cordoned, ready));
        assert_eq!(cells[1], want);
        assert_eq!(cells[2], "<none>");
    }
    let bare = row("", "nodes", json!({"metadata": {"name": "n"}}));
    assert_eq!(&bare[4..], ["", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]);
}

#[test]
fn core_events_print_last_seen_type_reason_object_message() {
    let ev = json!({"metadata": {"name": "web.17a", "creationTimestamp": ago(600)},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 7});
    assert_eq!(
        row("", "events", ev),
        [
            "30s",
            "Warning",
            "BackOff",
            "pod/web",
            "spec.containers{app}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "10m",
            "7",
            "web.17a"
        ]
    );
}

#[test]
fn new_style_events_use_event_time_series_and_reporting_controller() {
    let ev = json!({"metadata": {"name": "e1"}, "eventTime": "2025-01-01T11:58:00.123456Z", "reportingController": "default-scheduler",
        "reportingInstance": "", "regarding": {"kind": "Pod", "name": "p"}, "note": "Successfully assigned", "reason": "Scheduled",
        "type": "Normal", "series": {"count": 4, "lastObservedTime": "2025-01-01T11:59:50.000000Z"}});
    assert_eq!(
        row("events.k8s.io", "events", ev.clone()),
        ["10s", "Normal", "Scheduled", "pod/p", "", "default-scheduler", "Successfully assigned", "119s", "4", "e1"]
    );
    let single = json!({"metadata": {"name": "e2"}, "involvedObject": {"kind": "Node"}, "eventTime": ago(5)});
    assert_eq!(row("", "events", single), ["5s", "", "", "node", "", "", "", "5s", "1", "e2"]);
}

#[test]
fn namespaces_config_maps_secrets_and_service_accounts_count_their_entries() {
    let ns = json!({"metadata": meta("default"), "status": {"phase": "Active"}});
    assert_eq!(row("", "namespaces", ns), ["default", "Active", "3d"]);
    let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(row("", "configmaps", cm), ["cfg", "3", "3d"]);
    let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(row("", "secrets", secret), ["tls", "kubernetes.io/tls", "2", "3d"]);
    let sa = json!({"metadata": meta("default")});
    assert_eq!(row("", "serviceaccounts", sa), ["default", "0", "3d"]);
}

#[test]
fn persistent_volumes_print_capacity_modes_and_claim() {
    let pv = json!({"metadata": meta("pv-1"), "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard", "claimRef": {"namespace": "default", "name": "data"},
        "volumeMode": "Block"}, "status": {"phase": "Bound"}});
    assert_eq!(
        row("", "persistentvolumes", pv),
        ["pv-1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "standard", "<unset>", "", "3d", "Block"]
    );
    let mut released = json!({"metadata": meta("pv-2"), "spec": {"persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Released", "reason": "Gone"}});
    released["metadata"]["deletionTimestamp"] = json!(ago(1));
    released["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "old"});
    assert_eq!(
        row("", "persistentvolumes", released),
        ["pv-2", "0", "", "Delete", "Terminating", "", "old", "<unset>", "Gone", "3d", "Filesystem"]
    );
}

#[test]
fn persistent_volume_claims_show_capacity_only_once_bound() {
    let pending = json!({"metadata": meta("data"), "spec": {"resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "standard"},
        "status": {"phase": "Pending"}});
    assert_eq!(
        row("", "persistentvolumeclaims", pending),
        ["data", "Pending", "", "", "", "standard", "<unset>", "3d", "Filesystem"]
    );
    let bound = json!({"metadata": meta("data"), "spec": {"volumeName": "pv-1", "volumeAttributesClassName": "gold", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}}});
    assert_eq!(
        row("", "persistentvolumeclaims", bound),
        ["data", "Bound", "pv-1", "5Gi", "RWO", "", "gold", "3d", "Filesystem"]
    );
}

#[test]
fn resource_quotas_split_requests_and_limits() {
    let rq = json!({"metadata": meta("quota"), "status": {
        "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2", "requests.memory": "1024Mi"},
        "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "512Mi", "requests.memory": "0"}}});
    assert_eq!(
        row("", "resourcequotas", rq),
        [
            "quota",
            "pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi",
            "limits.cpu: 0/2, limits.memory: 512Mi/2Gi",
            "3d"
        ]
    );
}

#[test]
fn fields_that_v1_defaulting_fills_print_their_defaults_when_absent() {
    let svc = json!({"metadata": meta("s"), "spec": {"ports": [{"port": 80}]}});
    assert_eq!(&row("", "services", svc)[1..5], ["ClusterIP", "<none>", "<none>", "80/TCP"]);
    assert_eq!(row("", "secrets", json!({"metadata": meta("s")}))[1], "Opaque");
    assert_eq!(row("", "namespaces", json!({"metadata": meta("n")}))[1], "Active");
    let pv = row("", "persistentvolumes", json!({"metadata": meta("p")}));
    assert_eq!((pv[3].as_str(), pv[4].as_str(), pv[10].as_str()), ("Retain", "Pending", "Filesystem"));
    assert_eq!(row("", "persistentvolumeclaims", json!({"metadata": meta("c")}))[1], "Pending");
}
