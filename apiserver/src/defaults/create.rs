//! What the registries' `PrepareForCreate` strategies do that users see right after a create:
//! the initial status of each kind, a Pod's phase and QoS class, a Namespace's `kubernetes`
//! finalizer, a Job's generated selector, and a Service's `clusterIPs`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::json::{Obj, ensure_obj, has_items, is_nil, obj_mut, str_is_empty};
use super::quantity::parse_nanos;

/// Applies the create-time strategy effects for one kind (the caller has already defaulted it).
pub(crate) fn prepare(group: &str, version: &str, kind: &str, object: &mut Obj) {
    if let Some(status) = initial_status(group, version, kind) {
        object.insert("status".into(), status);
    }
    match (group, kind) {
        ("", "Pod") => prepare_pod(object),
        ("", "Namespace") => prepare_namespace(object),
        ("", "Service") => prepare_service(object),
        ("batch", "Job") => generate_job_selector(object),
        _ => {}
    }
}

/// The status a kind's create strategy starts from, as kube-apiserver serializes it (integer
/// fields without `omitempty` show as 0). `None` keeps the status the client sent.
fn initial_status(group: &str, version: &str, kind: &str) -> Option<Value> {
    let status = match (group, kind) {
        ("", "Pod") => json!({"phase": "Pending"}),
        ("", "Namespace") => json!({"phase": "Active"}),
        ("", "Service") | ("networking.k8s.io", "Ingress") => json!({"loadBalancer": {}}),
        ("", "PersistentVolumeClaim" | "PersistentVolume") => json!({"phase": "Pending"}),
        ("", "ReplicationController") | ("apps", "ReplicaSet") => json!({"replicas": 0}),
        ("", "ResourceQuota") | ("apps", "Deployment") | ("batch", "Job" | "CronJob") => json!({}),
        ("apps", "StatefulSet") => json!({"replicas": 0, "availableReplicas": 0}),
        ("apps", "DaemonSet") => json!({
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        }),
        ("autoscaling", "HorizontalPodAutoscaler") if version == "v1" => {
            json!({"currentReplicas": 0, "desiredReplicas": 0})
        }
        ("autoscaling", "HorizontalPodAutoscaler") => json!({"desiredReplicas": 0}),
        ("policy", "PodDisruptionBudget") => {
            json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
        }
        _ => return None,
    };
    Some(status)
}

/// A new Pod is Pending with its QoS class; scheduling gates add a PodScheduled=False condition.
fn prepare_pod(pod: &mut Obj) {
    let Some(spec) = pod.get("spec").and_then(Value::as_object) else { return };
    let qos = qos_class(spec);
    let gated = has_items(spec, "schedulingGates");
    let Some(status) = obj_mut(pod, "status") else { return };
    status.insert("qosClass".into(), Value::from(qos));
    if gated {
        status.insert(
            "conditions".into(),
            json!([{
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": null,
                "lastTransitionTime": null,
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
            }]),
        );
    }
}

/// The pod's QoS class from the summed CPU and memory requests and limits of its containers and
/// init containers.
pub(crate) fn qos_class(spec: &Obj) -> &'static str {
    let mut requests: BTreeMap<&'static str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&'static str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = ["containers", "initContainers"]
        .into_iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_object);
    for container in containers {
        let resources = container.get("resources");
        let positive = |kind: &str, name: &str| {
            let quantity = resources?.get(kind)?.get(name)?;
            let nanos = match quantity {
                Value::String(text) => parse_nanos(text.trim())?,
                Value::Number(number) => parse_nanos(&number.to_string())?,
                _ => return None,
            };
            (nanos > 0).then_some(nanos)
        };
        let mut limited = 0;
        for name in ["cpu", "memory"] {
            if let Some(request) = positive("requests", name) {
                let sum = requests.entry(name).or_insert(0);
                *sum = sum.saturating_add(request);
            }
            if let Some(limit) = positive("limits", name) {
                let sum = limits.entry(name).or_insert(0);
                *sum = sum.saturating_add(limit);
                limited += 1;
            }
        }
        if limited < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(name, request)| limits.get(name) == Some(request))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

/// A new Namespace always carries the `kubernetes` finalizer (it may be removed later, which is
/// why this is not a default).
fn prepare_namespace(namespace: &mut Obj) {
    let Some(spec) = ensure_obj(namespace, "spec") else { return };
    if is_nil(spec, "finalizers") {
        spec.insert("finalizers".into(), Value::Array(Vec::new()));
    }
    if let Some(finalizers) = spec.get_mut("finalizers").and_then(Value::as_array_mut)
        && !finalizers.iter().any(|f| f.as_str() == Some("kubernetes"))
    {
        finalizers.push(Value::from("kubernetes"));
    }
}

/// An old client's lone `clusterIP` also becomes `clusterIPs` (allocation itself is not done here).
fn prepare_service(service: &mut Obj) {
    let Some(spec) = obj_mut(service, "spec") else { return };
    let no_cluster_ips = match spec.get("clusterIPs") {
        None | Some(Value::Null) => true,
        Some(Value::Array(ips)) => ips.is_empty(),
        Some(_) => false,
    };
    if no_cluster_ips
        && !str_is_empty(spec, "clusterIP")
        && let Some(ip) = spec.get("clusterIP").filter(|ip| ip.is_string()).cloned()
    {
        spec.insert("clusterIPs".into(), Value::Array(vec![ip]));
    }
}

/// Unless `manualSelector` is true, a Job selects its pods by its UID: the template gets the
/// job-name and controller-uid labels (legacy and prefixed) and the selector matches the UID.
/// Needs `metadata.name` and `metadata.uid`; without a UID nothing is generated.
fn generate_job_selector(job: &mut Obj) {
    let metadata = job.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(uid) = metadata.and_then(|m| m.get("uid")).and_then(Value::as_str).map(str::to_owned) else { return };
    let Some(spec) = obj_mut(job, "spec") else { return };
    if spec.get("manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    let Some(labels) =
        obj_mut(spec, "template").and_then(|t| ensure_obj(t, "metadata")).and_then(|m| ensure_obj(m, "labels"))
    else {
        return;
    };
    for key in ["job-name", "batch.kubernetes.io/job-name"] {
        labels.entry(key).or_insert_with(|| Value::from(name.as_str()));
    }
    for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        labels.entry(key).or_insert_with(|| Value::from(uid.as_str()));
    }
    if let Some(match_labels) = ensure_obj(spec, "selector").and_then(|s| ensure_obj(s, "matchLabels")) {
        match_labels.entry("batch.kubernetes.io/controller-uid").or_insert_with(|| Value::from(uid.as_str()));
    }
}
