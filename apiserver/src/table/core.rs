//! Printers of core/v1 kinds other than pods and controllers.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::access::{count, get, has, int, list, name, object, opt_int, opt_str, parse_time, string, time};
use super::duration::since;
use super::labels::format_labels;
use super::quantity::quantity_string;

fn age(o: &Value, now: Timestamp) -> Value {
    since(time(o, &["metadata", "creationTimestamp"]), now).into()
}

/// loadBalancerStatusStringer (wide, so never clipped): sorted unique IPs or hostnames.
pub(super) fn load_balancer_ingress(o: &Value, path: &[&str]) -> String {
    let set: BTreeSet<&str> = list(o, path)
        .iter()
        .filter_map(|i| {
            let ip = string(i, &["ip"]);
            let host = string(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn external_ip(o: &Value) -> String {
    let external: Vec<&str> = list(o, &["spec", "externalIPs"]).iter().filter_map(Value::as_str).collect();
    match service_type(o) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(o, &["status", "loadBalancer", "ingress"]);
            if !external.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() { Vec::new() } else { lb.split(',').collect() };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".into()
            }
        }
        "ExternalName" => string(o, &["spec", "externalName"]).into(),
        _ => "<unknown>".into(),
    }
}

fn ports(o: &Value) -> String {
    let pieces: Vec<String> = list(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int(p, &["port"]);
            let protocol = opt_str(p, &["protocol"]).unwrap_or("TCP");
            let node_port = int(p, &["nodePort"]);
            if node_port > 0 { format!("{port}:{node_port}/{protocol}") } else { format!("{port}/{protocol}") }
        })
        .collect();
    if pieces.is_empty() { "<none>".into() } else { pieces.join(",") }
}

/// `spec.type`, defaulted to ClusterIP as the v1 defaulting does.
fn service_type(o: &Value) -> &str {
    opt_str(o, &["spec", "type"]).unwrap_or("ClusterIP")
}

pub(super) fn service(o: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = list(o, &["spec", "clusterIPs"]).first().and_then(Value::as_str).unwrap_or("<none>");
    vec![
        name(o).into(),
        service_type(o).into(),
        cluster_ip.into(),
        external_ip(o).into(),
        ports(o).into(),
        age(o, now),
        format_labels(object(o, &["spec", "selector"])).into(),
    ]
}

/// net.JoinHostPort: brackets around IPv6 addresses.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// formatEndpoints: up to three "ip:port" entries, then "+ N more...".
fn format_endpoints(o: &Value) -> String {
    let subsets = list(o, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    let mut total = 0usize;
    for subset in subsets {
        let addresses = list(subset, &["addresses"]);
        let subset_ports = list(subset, &["ports"]);
        if subset_ports.is_empty() {
            total += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(string(address, &["ip"]).to_string());
            }
            continue;
        }
        for port in subset_ports {
            total += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(join_host_port(string(address, &["ip"]), int(port, &["port"])));
            }
        }
    }
    let joined = shown.join(",");
    if more { format!("{joined} + {} more...", total.saturating_sub(MAX)) } else { joined }
}

pub(super) fn endpoints(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(o).into(), format_endpoints(o).into(), age(o, now)]
}

fn node_roles(o: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in object(o, &["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role"
            && let Some(v) = value.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    if roles.is_empty() { "<none>".into() } else { roles.into_iter().collect::<Vec<_>>().join(",") }
}

fn node_address(o: &Value, kind: &str) -> String {
    list(o, &["status", "addresses"])
        .iter()
        .find(|a| string(a, &["type"]) == kind)
        .map(|a| string(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".into())
}

pub(super) fn node(o: &Value, now: Timestamp) -> Vec<Value> {
    // The last Ready condition wins, as in upstream's condition map.
    let ready = list(o, &["status", "conditions"]).iter().rev().find(|c| string(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if string(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if get(o, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| {
        let v = string(o, &["status", "nodeInfo", field]);
        if v.is_empty() { "<unknown>".to_string() } else { v.to_string() }
    };
    vec![
        name(o).into(),
        status.join(",").into(),
        node_roles(o).into(),
        age(o, now),
        string(o, &["status", "nodeInfo", "kubeletVersion"]).into(),
        node_address(o, "InternalIP").into(),
        node_address(o, "ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

pub(super) fn namespace(o: &Value, now: Timestamp) -> Vec<Value> {
    // A namespace is created Active; only deletion moves it to Terminating.
    vec![name(o).into(), opt_str(o, &["status", "phase"]).unwrap_or("Active").into(), age(o, now)]
}

pub(super) fn secret(o: &Value, now: Timestamp) -> Vec<Value> {
    // v1 defaults an empty secret type to Opaque.
    let kind = opt_str(o, &["type"]).filter(|t| !t.is_empty()).unwrap_or("Opaque");
    vec![name(o).into(), kind.into(), count(o, &["data"]).into(), age(o, now)]
}

pub(super) fn config_map(o: &Value, now: Timestamp) -> Vec<Value> {
    let data = count(o, &["data"]).saturating_add(count(o, &["binaryData"]));
    vec![name(o).into(), data.into(), age(o, now)]
}

pub(super) fn service_account(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(o).into(), count(o, &["secrets"]).into(), age(o, now)]
}

/// GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order, each once.
fn access_modes(o: &Value, path: &[&str]) -> String {
    let modes: Vec<&str> = list(o, path).iter().filter_map(Value::as_str).collect();
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.contains(mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class of a PV or PVC: the beta annotation when present, else `spec.storageClassName`.
fn storage_class(o: &Value) -> String {
    match object(o, &["metadata", "annotations"]).and_then(|a| a.get(BETA_STORAGE_CLASS)) {
        Some(v) => v.as_str().unwrap_or_default().to_string(),
        None => string(o, &["spec", "storageClassName"]).to_string(),
    }
}

/// The phase (defaulted to Pending as v1 does), or Terminating once deletion started.
fn phase_or_terminating(o: &Value) -> &str {
    if has(o, &["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else {
        opt_str(o, &["status", "phase"]).filter(|p| !p.is_empty()).unwrap_or("Pending")
    }
}

pub(super) fn persistent_volume(o: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match get(o, &["spec", "claimRef"]) {
        Some(r) => format!("{}/{}", string(r, &["namespace"]), string(r, &["name"])),
        None => String::new(),
    };
    vec![
        name(o).into(),
        quantity_string(get(o, &["spec", "capacity", "storage"])).into(),
        access_modes(o, &["spec", "accessModes"]).into(),
        opt_str(o, &["spec", "persistentVolumeReclaimPolicy"]).unwrap_or("Retain").into(),
        phase_or_terminating(o).into(),
        claim.into(),
        storage_class(o).into(),
        opt_str(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>").into(),
        string(o, &["status", "reason"]).into(),
        age(o, now),
        opt_str(o, &["spec", "volumeMode"]).unwrap_or("Filesystem").into(),
    ]
}

pub(super) fn persistent_volume_claim(o: &Value, now: Timestamp) -> Vec<Value> {
    let volume = string(o, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity_string(get(o, &["status", "capacity", "storage"])), access_modes(o, &["status", "accessModes"]))
    };
    vec![
        name(o).into(),
        phase_or_terminating(o).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(o).into(),
        opt_str(o, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>").into(),
        age(o, now),
        opt_str(o, &["spec", "volumeMode"]).unwrap_or("Filesystem").into(),
    ]
}

pub(super) fn resource_quota(o: &Value, now: Timestamp) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    let mut resources: Vec<&String> = object(o, &["status", "hard"]).into_iter().flatten().map(|(k, _)| k).collect();
    resources.sort();
    for resource in resources {
        let used = quantity_string(get(o, &["status", "used", resource]));
        let hard = quantity_string(get(o, &["status", "hard", resource]));
        let entry = format!("{resource}: {used}/{hard}");
        let is_limit = resource.split_once('.').is_some_and(|(prefix, _)| prefix == "limits");
        if is_limit { limits.push(entry) } else { requests.push(entry) }
    }
    vec![name(o).into(), requests.join(", ").into(), limits.join(", ").into(), age(o, now)]
}

/// A field of an event under its core/v1 name or its events.k8s.io/v1 name.
fn event_field<'a>(o: &'a Value, core: &[&str], events: &[&str]) -> Option<&'a Value> {
    get(o, core).or_else(|| get(o, events))
}

fn event_str<'a>(o: &'a Value, core: &[&str], events: &[&str]) -> &'a str {
    event_field(o, core, events).and_then(Value::as_str).unwrap_or("")
}

fn event_time(o: &Value, core: &[&str], events: &[&str]) -> Option<Timestamp> {
    event_field(o, core, events).and_then(Value::as_str).and_then(parse_time)
}

/// printEvent (wide, as the server prints): for core/v1 and events.k8s.io/v1 objects alike.
pub(super) fn event(o: &Value, now: Timestamp) -> Vec<Value> {
    let first = match event_time(o, &["firstTimestamp"], &["deprecatedFirstTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => since(time(o, &["eventTime"]), now),
    };
    let mut last = match event_time(o, &["lastTimestamp"], &["deprecatedLastTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut event_count = event_field(o, &["count"], &["deprecatedCount"]).and_then(super::access::as_int).unwrap_or(0);
    if let Some(series) = get(o, &["series"]) {
        last = since(time(series, &["lastObservedTime"]), now);
        event_count = opt_int(series, &["count"]).unwrap_or(0);
    } else if event_count == 0 {
        event_count = 1;
    }
    let involved = event_field(o, &["involvedObject"], &["regarding"]).unwrap_or(&Value::Null);
    let kind = string(involved, &["kind"]).to_lowercase();
    let involved_name = string(involved, &["name"]);
    let target = if involved_name.is_empty() { kind } else { format!("{kind}/{involved_name}") };
    let component = event_str(o, &["source", "component"], &["deprecatedSource", "component"]);
    let host = event_str(o, &["source", "host"], &["deprecatedSource", "host"]);
    let component = if component.is_empty() { string(o, &["reportingController"]) } else { component };
    let host = if host.is_empty() { string(o, &["reportingInstance"]) } else { host };
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    vec![
        last.into(),
        string(o, &["type"]).into(),
        string(o, &["reason"]).into(),
        target.into(),
        string(involved, &["fieldPath"]).into(),
        source.into(),
        event_str(o, &["message"], &["note"]).trim().into(),
        first.into(),
        event_count.into(),
        name(o).into(),
    ]
}
