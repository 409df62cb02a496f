//! Defaults of the core/v1 kinds (`pkg/apis/core/v1/defaults.go` as the generated defaulters apply it).

use serde_json::{Value, json};

use super::json::{
    Obj, default_ptr, default_str, each_obj, ensure_obj, get_str, has_entries, is_empty_map, is_nil, obj_mut,
    str_is_empty, template_labels,
};
use super::pod::{
    default_pod_only, default_pod_spec, default_pod_template, default_pvc_spec, default_volume_source_common,
};

/// Dispatches a core/v1 kind to its defaults.
pub(crate) fn default_core(kind: &str, object: &mut Obj) {
    match kind {
        "Pod" => default_pod(object),
        "PodTemplate" => {
            if let Some(template) = obj_mut(object, "template") {
                default_pod_template(template);
            }
        }
        "ReplicationController" => default_replication_controller(object),
        "Service" => default_service(object),
        "Secret" => default_str(object, "type", "Opaque"),
        "Namespace" => default_namespace(object),
        "PersistentVolume" => default_persistent_volume(object),
        "PersistentVolumeClaim" => default_persistent_volume_claim(object),
        "Endpoints" => each_obj(object, "subsets", |subset| {
            each_obj(subset, "ports", |port| default_str(port, "protocol", "TCP"));
        }),
        "LimitRange" => {
            if let Some(spec) = obj_mut(object, "spec") {
                each_obj(spec, "limits", default_limit_range_item);
            }
        }
        "Node" => default_node(object),
        _ => {}
    }
}

fn default_pod(pod: &mut Obj) {
    if let Some(spec) = ensure_obj(pod, "spec") {
        default_pod_only(spec);
        default_pod_spec(spec);
    }
}

/// `SetDefaults_ReplicationController`: selector and labels come from the template's labels.
fn default_replication_controller(rc: &mut Obj) {
    let Some(spec) = ensure_obj(rc, "spec") else { return };
    default_ptr(spec, "replicas", json!(1));
    let template_labels = template_labels(spec);
    if let Some(template) = obj_mut(spec, "template") {
        default_pod_template(template);
    }
    let Some(labels) = template_labels else { return };
    if is_empty_map(spec, "selector") {
        spec.insert("selector".into(), labels.clone());
    }
    if let Some(metadata) = ensure_obj(rc, "metadata")
        && is_empty_map(metadata, "labels")
    {
        metadata.insert("labels".into(), labels);
    }
}

/// `SetDefaults_Service`, plus the IP-family fields the service registry fills in for a
/// single-stack IPv4 cluster (ClusterIP and NodePort allocation themselves are not defaulting).
fn default_service(service: &mut Obj) {
    let Some(spec) = ensure_obj(service, "spec") else { return };
    default_str(spec, "sessionAffinity", "None");
    match get_str(spec, "sessionAffinity") {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    each_obj(spec, "ports", |port| {
        default_str(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if unset && let Some(number) = port.get("port").filter(|p| p.is_number()).cloned() {
            port.insert("targetPort".into(), number);
        }
    });
    let service_type = get_str(spec, "type").unwrap_or_default().to_owned();
    let externally_accessible = matches!(service_type.as_str(), "LoadBalancer" | "NodePort")
        || (service_type == "ClusterIP"
            && spec.get("externalIPs").and_then(Value::as_array).is_some_and(|ips| !ips.is_empty()));
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(service_type.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_ptr(spec, "internalTrafficPolicy", Value::from("Cluster"));
    }
    if service_type == "LoadBalancer" {
        default_ptr(spec, "allocateLoadBalancerNodePorts", Value::Bool(true));
    }
    if service_type != "ExternalName" {
        default_ip_families(spec);
    }
    if service_type == "LoadBalancer"
        && let Some(load_balancer) = obj_mut(service, "status").and_then(|s| obj_mut(s, "loadBalancer"))
    {
        each_obj(load_balancer, "ingress", |ingress| {
            if !str_is_empty(ingress, "ip") {
                default_ptr(ingress, "ipMode", Value::from("VIP"));
            }
        });
    }
}

/// The registry's `ipFamilyPolicy`/`ipFamilies` defaults on a single-stack IPv4 cluster.
fn default_ip_families(spec: &mut Obj) {
    let headless_selectorless = get_str(spec, "clusterIP") == Some("None") && !has_entries(spec, "selector");
    if is_nil(spec, "ipFamilyPolicy") {
        let policy = if headless_selectorless { "RequireDualStack" } else { "SingleStack" };
        spec.insert("ipFamilyPolicy".into(), Value::from(policy));
    }
    let single_stack = get_str(spec, "ipFamilyPolicy") == Some("SingleStack");
    let cluster_ips: Vec<String> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|ips| ips.iter().map(|ip| ip.as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    if is_nil(spec, "ipFamilies") {
        spec.insert("ipFamilies".into(), Value::Array(Vec::new()));
    }
    let Some(families) = spec.get_mut("ipFamilies").and_then(Value::as_array_mut) else { return };
    for (i, ip) in cluster_ips.iter().enumerate() {
        if ip == "None" {
            break;
        }
        if i >= families.len() {
            families.push(Value::from(if ip.contains(':') { "IPv6" } else { "IPv4" }));
        }
    }
    if families.is_empty() {
        families.push(Value::from("IPv4"));
    }
    if headless_selectorless && families.len() < 2 && !single_stack {
        let other = if families.first().and_then(Value::as_str) == Some("IPv4") { "IPv6" } else { "IPv4" };
        families.push(Value::from(other));
    }
}

/// `SetDefaults_Namespace` and `SetDefaults_NamespaceStatus`.
fn default_namespace(namespace: &mut Obj) {
    let name = namespace
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(name) = name
        && let Some(labels) = ensure_obj(namespace, "metadata").and_then(|m| ensure_obj(m, "labels"))
    {
        labels.insert("kubernetes.io/metadata.name".into(), Value::from(name));
    }
    if let Some(status) = ensure_obj(namespace, "status") {
        default_str(status, "phase", "Active");
    }
}

fn default_persistent_volume(volume: &mut Obj) {
    if let Some(status) = ensure_obj(volume, "status") {
        default_str(status, "phase", "Pending");
    }
    if let Some(spec) = ensure_obj(volume, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_ptr(spec, "volumeMode", Value::from("Filesystem"));
        default_volume_source_common(spec);
    }
}

/// `SetDefaults_PersistentVolumeClaim` and its spec's defaults (also used for StatefulSet claim templates).
pub(crate) fn default_persistent_volume_claim(claim: &mut Obj) {
    if let Some(status) = ensure_obj(claim, "status") {
        default_str(status, "phase", "Pending");
    }
    if let Some(spec) = ensure_obj(claim, "spec") {
        default_pvc_spec(spec);
    }
}

/// `SetDefaults_LimitRangeItem`: for containers, default limits come from max, default requests
/// from the default limits and then from min.
fn default_limit_range_item(item: &mut Obj) {
    if get_str(item, "type") != Some("Container") {
        return;
    }
    let entries = |item: &Obj, key: &str| item.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
    let fill = |item: &mut Obj, key: &str, from: Obj| {
        if from.is_empty() || !(is_nil(item, key) || item.get(key).is_some_and(Value::is_object)) {
            return;
        }
        if let Some(target) = ensure_obj(item, key) {
            for (name, quantity) in from {
                target.entry(name).or_insert(quantity);
            }
        }
    };
    let max = entries(item, "max");
    fill(item, "default", max);
    let defaults = entries(item, "default");
    fill(item, "defaultRequest", defaults);
    let min = entries(item, "min");
    fill(item, "defaultRequest", min);
}

/// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
fn default_node(node: &mut Obj) {
    if let Some(status) = obj_mut(node, "status")
        && is_nil(status, "allocatable")
        && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}
