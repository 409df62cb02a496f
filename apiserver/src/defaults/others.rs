//! Defaults of the smaller API groups: networking, rbac, storage, scheduling, autoscaling and
//! discovery.

use serde_json::{Value, json};

use super::json::{Obj, default_ptr, default_str, each_obj, ensure_obj, get_str, has_items, obj_mut};

/// networking.k8s.io/v1: NetworkPolicy and IngressClass (Ingress has no defaults).
pub(crate) fn default_networking(kind: &str, object: &mut Obj) {
    match kind {
        "NetworkPolicy" => {
            let Some(spec) = ensure_obj(object, "spec") else { return };
            let no_types = match spec.get("policyTypes") {
                None | Some(Value::Null) => true,
                Some(Value::Array(types)) => types.is_empty(),
                Some(_) => false,
            };
            if no_types {
                let mut types = vec![Value::from("Ingress")];
                if has_items(spec, "egress") {
                    types.push(Value::from("Egress"));
                }
                spec.insert("policyTypes".into(), Value::Array(types));
            }
            for direction in ["ingress", "egress"] {
                each_obj(spec, direction, |rule| {
                    each_obj(rule, "ports", |port| default_ptr(port, "protocol", Value::from("TCP")));
                });
            }
        }
        "IngressClass" => {
            if let Some(parameters) = obj_mut(object, "spec").and_then(|s| obj_mut(s, "parameters")) {
                default_ptr(parameters, "scope", Value::from("Cluster"));
            }
        }
        _ => {}
    }
}

/// rbac.authorization.k8s.io/v1: role references and subjects get their API group.
pub(crate) fn default_rbac(kind: &str, object: &mut Obj) {
    if !matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
        return;
    }
    if let Some(role_ref) = ensure_obj(object, "roleRef") {
        default_str(role_ref, "apiGroup", "rbac.authorization.k8s.io");
    }
    each_obj(object, "subjects", |subject| {
        // ServiceAccount subjects default to "", which `omitempty` never shows.
        if matches!(get_str(subject, "kind"), Some("User" | "Group")) {
            default_str(subject, "apiGroup", "rbac.authorization.k8s.io");
        }
    });
}

/// storage.k8s.io/v1: StorageClass and CSIDriver.
pub(crate) fn default_storage(kind: &str, object: &mut Obj) {
    match kind {
        "StorageClass" => {
            default_ptr(object, "reclaimPolicy", Value::from("Delete"));
            default_ptr(object, "volumeBindingMode", Value::from("Immediate"));
        }
        "CSIDriver" => {
            let Some(spec) = ensure_obj(object, "spec") else { return };
            default_ptr(spec, "attachRequired", Value::Bool(true));
            default_ptr(spec, "podInfoOnMount", Value::Bool(false));
            default_ptr(spec, "storageCapacity", Value::Bool(false));
            default_ptr(spec, "fsGroupPolicy", Value::from("ReadWriteOnceWithFSType"));
            let no_modes = match spec.get("volumeLifecycleModes") {
                None | Some(Value::Null) => true,
                Some(Value::Array(modes)) => modes.is_empty(),
                Some(_) => false,
            };
            if no_modes {
                spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
            }
            default_ptr(spec, "requiresRepublish", Value::Bool(false));
            default_ptr(spec, "seLinuxMount", Value::Bool(false));
        }
        _ => {}
    }
}

/// scheduling.k8s.io/v1: PriorityClass.
pub(crate) fn default_scheduling(kind: &str, object: &mut Obj) {
    if kind == "PriorityClass" {
        default_ptr(object, "preemptionPolicy", Value::from("PreemptLowerPriority"));
    }
}

/// discovery.k8s.io/v1: EndpointSlice ports get name "" and protocol TCP.
pub(crate) fn default_discovery(kind: &str, object: &mut Obj) {
    if kind == "EndpointSlice" {
        each_obj(object, "ports", |port| {
            default_ptr(port, "name", Value::from(""));
            default_ptr(port, "protocol", Value::from("TCP"));
        });
    }
}

/// autoscaling: HorizontalPodAutoscaler in v1 (minReplicas) and v2 (minReplicas, a CPU metric
/// when none is given, and complete scaling rules when `behavior` is given).
pub(crate) fn default_autoscaling(version: &str, kind: &str, object: &mut Obj) {
    if kind != "HorizontalPodAutoscaler" {
        return;
    }
    let Some(spec) = ensure_obj(object, "spec") else { return };
    default_ptr(spec, "minReplicas", json!(1));
    if version != "v2" {
        return;
    }
    let no_metrics = match spec.get("metrics") {
        None | Some(Value::Null) => true,
        Some(Value::Array(metrics)) => metrics.is_empty(),
        Some(_) => false,
    };
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(behavior) = obj_mut(spec, "behavior") {
        if let Some(scale_up) = ensure_obj(behavior, "scaleUp") {
            default_ptr(scale_up, "stabilizationWindowSeconds", json!(0));
            default_ptr(scale_up, "selectPolicy", Value::from("Max"));
            default_ptr(
                scale_up,
                "policies",
                json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]),
            );
        }
        if let Some(scale_down) = ensure_obj(behavior, "scaleDown") {
            // The scale-down stabilization window is left unset: the controller's flag decides it.
            default_ptr(scale_down, "selectPolicy", Value::from("Max"));
            default_ptr(scale_down, "policies", json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]));
        }
    }
}
