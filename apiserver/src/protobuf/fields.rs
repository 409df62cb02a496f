//! Which decoded field values Kubernetes' JSON would not show.
//!
//! Go's generated protobuf code writes every non-pointer field, zero or not, while its JSON encoding
//! drops zero values of `omitempty` fields. Pointer fields are written only when set, and then their
//! zero value is meaningful (`replicas: 0`, `allowPrivilegeEscalation: false`). The wire cannot tell the
//! two apart, so the field name decides: empty strings are dropped except where a pointer's "" matters;
//! zero numbers and `false` are kept except for the fields listed here, which are non-pointer `omitempty`
//! (gathered from k8s.io/api and apimachinery's v1.33 types.go). A plain name holds in every type that
//! uses it; `Type.field` (prost type name) only in that type, for names that are pointers elsewhere.

use super::debug_tree::Node;
use serde_json::Value;

/// Non-pointer `omitempty` number/bool fields (and value-typed IntOrString `targetPort`): zero is unset.
const ZERO_IS_UNSET: &[&str] = &[
    "active",
    "authenticated",
    "availableReplicas",
    "chapAuthDiscovery",
    "chapAuthSession",
    "awselasticblockstorevolumesource.partition",
    "code",
    "currentReplicas",
    "daemonsetstatus.observedGeneration",
    "deploymentstatus.observedGeneration",
    "deploymentstatus.replicas",
    "denied",
    "deprecatedCount",
    "event.count",
    "failed",
    "failureThreshold",
    "follow",
    "fullyLabeledReplicas",
    "gcepersistentdiskvolumesource.partition",
    "generation",
    "globalDefault",
    "healthCheckNodePort",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostPort",
    "initialDelaySeconds",
    "insecureSkipTLSVerifyBackend",
    "minReadySeconds",
    "nodePort",
    "number",
    "numberAvailable",
    "numberUnavailable",
    "paused",
    "periodSeconds",
    "podcondition.observedGeneration",
    "poddisruptionbudgetstatus.observedGeneration",
    "podstatus.observedGeneration",
    "previous",
    "probe.timeoutSeconds",
    "publishNotReadyAddresses",
    "readOnly",
    "readyReplicas",
    "replicasetstatus.observedGeneration",
    "replicationcontrollerstatus.observedGeneration",
    "retryAfterSeconds",
    "signal",
    "sizeBytes",
    "sslEnabled",
    "statefulsetstatus.observedGeneration",
    "stderr",
    "stdin",
    "stdinOnce",
    "stdout",
    "succeeded",
    "successThreshold",
    "targetPort",
    "timestamps",
    "tty",
    "unavailableReplicas",
    "unschedulable",
    "updatedNumberScheduled",
    "updatedReplicas",
];

/// Pointer fields sharing a name listed in [`ZERO_IS_UNSET`]: zero is a value.
const ZERO_IS_SET: &[&str] = &["azurediskvolumesource.readOnly", "csivolumesource.readOnly"];

/// Pointer string fields whose explicit "" means something (no storage class at all).
const EMPTY_STRING_IS_SET: &[&str] = &["storageClassName"];

/// Whether the field `json_name` of the message type `parent` with this value is left out of the JSON.
pub(super) fn omitted(parent: &str, json_name: &str, node: &Node) -> bool {
    let zero_is_unset = || {
        let qualified = format!("{}.{json_name}", parent.to_lowercase());
        !ZERO_IS_SET.contains(&qualified.as_str())
            && (ZERO_IS_UNSET.contains(&json_name) || ZERO_IS_UNSET.contains(&qualified.as_str()))
    };
    match node {
        Node::Null | Node::Json(Value::Null) => true,
        Node::List(items) => items.is_empty(),
        Node::Map(entries) => entries.is_empty(),
        Node::Str(s) => s.is_empty() && !EMPTY_STRING_IS_SET.contains(&json_name),
        Node::Bool(false) | Node::Int(0) | Node::UInt(0) => zero_is_unset(),
        Node::Float(f) => *f == 0.0 && zero_is_unset(),
        _ => false,
    }
}
