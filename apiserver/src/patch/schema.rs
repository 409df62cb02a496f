//! Patch metadata of the built-in kinds: which fields merge lists by which key, which keep only the keys
//! a `$retainKeys` directive lists, which are replaced wholesale.
//!
//! Derived from the `patchStrategy` / `patchMergeKey` struct tags of k8s.io/api and
//! k8s.io/apimachinery/pkg/apis/meta/v1. Only fields that carry metadata, or lead to a type that does, are
//! described: every other field behaves as upstream does for an untagged field (objects merged
//! recursively, lists replaced), so a field missing here needs no entry.

/// How a field is patched (its `patchStrategy` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strategy {
    /// No tag: objects merge recursively, lists are replaced wholesale.
    Default,
    /// `merge`: lists merge element-wise (by merge key for objects, as a set for primitives).
    Merge,
    /// `merge,retainKeys` on a list of objects (e.g. volumes).
    MergeRetainKeys,
    /// `retainKeys` on an object (e.g. a deployment's strategy); clients send `$retainKeys` for it.
    RetainKeys,
    /// `replace`: the patch value replaces the object wholesale.
    Replace,
}

impl Strategy {
    /// Whether lists under this strategy merge element-wise.
    pub(super) fn merges_lists(self) -> bool {
        matches!(self, Strategy::Merge | Strategy::MergeRetainKeys)
    }
}

/// A field of a [`Type`]. For a list, `ty` is the type of its elements.
#[derive(Debug)]
pub(super) struct Field {
    pub name: &'static str,
    pub strategy: Strategy,
    /// `patchMergeKey`, empty when there is none.
    pub merge_key: &'static str,
    pub ty: Option<&'static Type>,
    /// Free-form JSON (a `RawExtension`): stored as sent, directives included.
    pub opaque: bool,
}

/// The fields of one API type that carry patch metadata.
#[derive(Debug)]
pub(super) struct Type {
    pub fields: &'static [Field],
}

/// Metadata of a field no table mentions.
static UNTAGGED: Field = Field { name: "", strategy: Strategy::Default, merge_key: "", ty: None, opaque: false };

/// The metadata of `key` in `ty` (an untagged field when unknown).
pub(super) fn field(ty: Option<&'static Type>, key: &str) -> &'static Field {
    ty.and_then(|t| t.fields.iter().find(|f| f.name == key)).unwrap_or(&UNTAGGED)
}

const fn nested(name: &'static str, ty: &'static Type) -> Field {
    Field { name, strategy: Strategy::Default, merge_key: "", ty: Some(ty), opaque: false }
}

const fn keyed(name: &'static str, merge_key: &'static str, ty: Option<&'static Type>) -> Field {
    Field { name, strategy: Strategy::Merge, merge_key, ty, opaque: false }
}

const fn keyed_retain(name: &'static str, merge_key: &'static str) -> Field {
    Field { name, strategy: Strategy::MergeRetainKeys, merge_key, ty: None, opaque: false }
}

const fn primitive_set(name: &'static str) -> Field {
    Field { name, strategy: Strategy::Merge, merge_key: "", ty: None, opaque: false }
}

const fn with(name: &'static str, strategy: Strategy) -> Field {
    Field { name, strategy, merge_key: "", ty: None, opaque: false }
}

const fn opaque(name: &'static str) -> Field {
    Field { name, strategy: Strategy::Default, merge_key: "", ty: None, opaque: true }
}

// ---- meta/v1 ----

static OBJECT_META: Type = Type { fields: &[primitive_set("finalizers"), keyed("ownerReferences", "uid", None)] };

/// Kinds whose only patch metadata is in `metadata`.
static METADATA_ONLY: Type = Type { fields: &[nested("metadata", &OBJECT_META)] };

/// A status whose only tagged field is `conditions`, merged by `type`.
static CONDITIONS: Type = Type { fields: &[keyed("conditions", "type", None)] };

// ---- core/v1 pods ----

/// Container, and the inlined EphemeralContainerCommon of EphemeralContainer.
static CONTAINER: Type = Type {
    fields: &[
        keyed("ports", "containerPort", None),
        keyed("env", "name", None),
        keyed("volumeMounts", "mountPath", None),
        keyed("volumeDevices", "devicePath", None),
    ],
};

static POD_SPEC: Type = Type {
    fields: &[
        keyed_retain("volumes", "name"),
        keyed("initContainers", "name", Some(&CONTAINER)),
        keyed("containers", "name", Some(&CONTAINER)),
        keyed("ephemeralContainers", "name", Some(&CONTAINER)),
        keyed("imagePullSecrets", "name", None),
        keyed("hostAliases", "ip", None),
        keyed("topologySpreadConstraints", "topologyKey", None),
        keyed("schedulingGates", "name", None),
        keyed_retain("resourceClaims", "name"),
        keyed("evictionResponders", "name", None),
    ],
};

static NODE_ALLOCATABLE_CLAIM_STATUS: Type =
    Type { fields: &[keyed("mapping", "name", None), keyed("overhead", "name", None)] };

static POD_STATUS: Type = Type {
    fields: &[
        keyed("conditions", "type", None),
        keyed("hostIPs", "ip", None),
        keyed("podIPs", "ip", None),
        keyed_retain("resourceClaimStatuses", "name"),
        keyed("nodeAllocatableResourceClaimStatuses", "resourceClaimName", Some(&NODE_ALLOCATABLE_CLAIM_STATUS)),
    ],
};

static POD: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC), nested("status", &POD_STATUS)] };

static POD_TEMPLATE_SPEC: Type = Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)] };

static POD_TEMPLATE: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("template", &POD_TEMPLATE_SPEC)] };

/// The spec of ReplicationController, ReplicaSet, StatefulSet and DaemonSet.
static TEMPLATED_SPEC: Type = Type { fields: &[nested("template", &POD_TEMPLATE_SPEC)] };

/// ReplicationController, ReplicaSet, StatefulSet, DaemonSet.
static WORKLOAD: Type = Type {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &TEMPLATED_SPEC), nested("status", &CONDITIONS)],
};

// ---- core/v1 others ----

static SERVICE_SPEC: Type = Type { fields: &[keyed("ports", "port", None)] };

static SERVICE: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &SERVICE_SPEC), nested("status", &CONDITIONS)] };

static SERVICE_ACCOUNT: Type = Type { fields: &[nested("metadata", &OBJECT_META), keyed("secrets", "name", None)] };

static NODE_SPEC: Type = Type { fields: &[primitive_set("podCIDRs")] };

static NODE_STATUS: Type = Type { fields: &[keyed("conditions", "type", None), keyed("addresses", "type", None)] };

static NODE: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &NODE_SPEC), nested("status", &NODE_STATUS)] };

/// Namespace, HorizontalPodAutoscaler, ServiceCIDR: conditions in status only.
static STATUS_CONDITIONS_ONLY: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("status", &CONDITIONS)] };

static VOLUME_HEALTH_STATUS: Type = Type { fields: &[keyed("healthConditions", "status", None)] };

static PVC_STATUS: Type =
    Type { fields: &[keyed("conditions", "type", None), nested("healthStatus", &VOLUME_HEALTH_STATUS)] };

static PVC: Type = Type { fields: &[nested("metadata", &OBJECT_META), nested("status", &PVC_STATUS)] };

static COMPONENT_STATUS: Type = Type { fields: &[nested("metadata", &OBJECT_META), keyed("conditions", "type", None)] };

// ---- apps/v1 ----

static DEPLOYMENT_SPEC: Type =
    Type { fields: &[nested("template", &POD_TEMPLATE_SPEC), with("strategy", Strategy::RetainKeys)] };

static DEPLOYMENT: Type = Type {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &DEPLOYMENT_SPEC), nested("status", &CONDITIONS)],
};

static CONTROLLER_REVISION: Type = Type { fields: &[nested("metadata", &OBJECT_META), opaque("data")] };

// ---- batch/v1 ----

static JOB_SPEC: Type = Type { fields: &[nested("template", &POD_TEMPLATE_SPEC)] };

static JOB: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC), nested("status", &CONDITIONS)] };

static JOB_TEMPLATE_SPEC: Type = Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC)] };

static CRON_JOB_SPEC: Type = Type { fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)] };

static CRON_JOB: Type = Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &CRON_JOB_SPEC)] };

// ---- policy/v1, storage/v1 ----

static PDB_SPEC: Type = Type { fields: &[with("selector", Strategy::Replace)] };

static PDB: Type =
    Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &PDB_SPEC), nested("status", &CONDITIONS)] };

static CSI_NODE_SPEC: Type = Type { fields: &[keyed("drivers", "name", None)] };

static CSI_NODE: Type = Type { fields: &[nested("metadata", &OBJECT_META), nested("spec", &CSI_NODE_SPEC)] };

/// The patch metadata of a kind, `None` when the kind is not in the table.
pub(super) fn kind_type(group: &str, kind: &str) -> Option<&'static Type> {
    let ty = match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "ReplicationController") | ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => &WORKLOAD,
        ("", "Service") => &SERVICE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Node") => &NODE,
        ("", "Namespace") | ("autoscaling", "HorizontalPodAutoscaler") | ("networking.k8s.io", "ServiceCIDR") => {
            &STATUS_CONDITIONS_ONLY
        }
        ("", "PersistentVolumeClaim") => &PVC,
        ("", "ComponentStatus") => &COMPONENT_STATUS,
        ("", "Endpoints" | "ConfigMap" | "Secret" | "Event" | "PersistentVolume" | "LimitRange" | "ResourceQuota")
        | ("coordination.k8s.io", "Lease")
        | ("events.k8s.io", "Event")
        | ("rbac.authorization.k8s.io", "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding")
        | ("networking.k8s.io", "NetworkPolicy" | "Ingress" | "IngressClass")
        | ("storage.k8s.io", "StorageClass")
        | ("scheduling.k8s.io", "PriorityClass")
        | ("discovery.k8s.io", "EndpointSlice") => &METADATA_ONLY,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ControllerRevision") => &CONTROLLER_REVISION,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("policy", "PodDisruptionBudget") => &PDB,
        ("storage.k8s.io", "CSINode") => &CSI_NODE,
        _ => return None,
    };
    Some(ty)
}

/// The patch metadata used for a kind: its table entry, or `metadata` alone for a kind not in the table.
pub(super) fn root_type(group: &str, kind: &str) -> &'static Type {
    kind_type(group, kind).unwrap_or(&METADATA_ONLY)
}

/// API groups served by kube-apiserver itself from Go types (everything else is a custom resource).
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Whether the group is one of kube-apiserver's built-in groups.
pub(super) fn is_built_in_group(group: &str) -> bool {
    BUILT_IN_GROUPS.contains(&group)
}
