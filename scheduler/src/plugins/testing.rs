//! Nodes and pods for the plugins' unit tests, from JSON specs.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::framework::{NodeInfo, PodInfo};

/// A node named `name` with `spec`, labels from `spec["labels"]` (moved to
/// metadata) and 4 CPUs, 8 GiB and 110 pods allocatable unless `spec["allocatable"]` says otherwise.
pub fn node(name: &str, mut spec: Value) -> NodeInfo {
    let labels = spec.as_object_mut().and_then(|s| s.remove("labels")).unwrap_or_else(|| json!({}));
    let allocatable = spec
        .as_object_mut()
        .and_then(|s| s.remove("allocatable"))
        .unwrap_or_else(|| json!({ "cpu": "4", "memory": "8Gi", "pods": "110" }));
    let node: Node = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": labels },
        "spec": spec,
        "status": { "allocatable": allocatable, "capacity": allocatable },
    }))
    .unwrap_or_else(|e| panic!("node {name}: {e}"));
    NodeInfo::new(Arc::new(node))
}

/// A pod named `name` in `default` with `spec` (a container is added if it has none),
/// labels and owner references from `spec["labels"]` and `spec["ownerReferences"]`.
pub fn pod(name: &str, mut spec: Value) -> PodInfo {
    let labels = spec.as_object_mut().and_then(|s| s.remove("labels")).unwrap_or_else(|| json!({}));
    let owners = spec.as_object_mut().and_then(|s| s.remove("ownerReferences")).unwrap_or_else(|| json!([]));
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{ "name": "c", "image": "busybox" }]);
    }
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": labels,
            "ownerReferences": owners },
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("pod {name}: {e}"));
    PodInfo::new(Arc::new(pod))
}
