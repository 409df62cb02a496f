//! The Node object the kubelet registers (upstream's initialNode): the
//! well-known labels, `--node-label`s, `--node-taint`s and the pod CIDR;
//! and, when the Node already exists, the labels it owns brought up to
//! date while every other label stays.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec};
use kube::api::ObjectMeta;
use serde_json::{Value, json};

use super::host::go_os_arch;
use crate::config::KubeletConfig;

/// The labels the kubelet sets on its Node from the host (upstream's default labels).
pub fn default_labels(node_name: &str) -> BTreeMap<String, String> {
    let (os, arch) = go_os_arch();
    [
        ("kubernetes.io/hostname", node_name),
        ("kubernetes.io/os", os),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", os),
        ("beta.kubernetes.io/arch", arch),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Every label the kubelet owns: the default ones and `--node-label`s.
pub fn owned_labels(config: &KubeletConfig) -> BTreeMap<String, String> {
    let mut labels = default_labels(&config.node_name);
    labels.extend(config.node_labels.iter().cloned());
    labels
}

/// The Node to create.
pub fn initial_node(config: &KubeletConfig) -> Node {
    let taints = (!config.node_taints.is_empty()).then(|| config.node_taints.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(owned_labels(config)),
            // As upstream: the kubelet manages the node's volume attachments itself.
            annotations: Some(
                [("volumes.kubernetes.io/controller-managed-attach-detach".to_owned(), "true".to_owned())].into(),
            ),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: config.pod_cidr.clone(),
            pod_cidrs: config.pod_cidr.clone().map(|cidr| vec![cidr]),
            taints,
            ..Default::default()
        }),
        status: None,
    }
}

/// A merge patch bringing an existing Node's owned labels (and an unset pod
/// CIDR) up to date; `None` when it already is.
pub fn reconcile_patch(existing: &Node, config: &KubeletConfig) -> Option<Value> {
    let current = existing.metadata.labels.clone().unwrap_or_default();
    let labels: serde_json::Map<String, Value> = owned_labels(config)
        .into_iter()
        .filter(|(key, value)| current.get(key) != Some(value))
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let mut patch = serde_json::Map::new();
    if !labels.is_empty() {
        patch.insert("metadata".into(), json!({ "labels": labels }));
    }
    let spec = existing.spec.as_ref();
    let has_cidr = spec.and_then(|s| s.pod_cidr.as_deref()).is_some_and(|c| !c.is_empty());
    if let (Some(cidr), false) = (&config.pod_cidr, has_cidr) {
        patch.insert("spec".into(), json!({ "podCIDR": cidr, "podCIDRs": [cidr] }));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}
