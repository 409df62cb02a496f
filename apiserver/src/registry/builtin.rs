//! The built-in resources, with the names, verbs, short names and
//! categories `kubectl api-resources` shows for a v1.33 kube-apiserver, and
//! kube-apiserver's etcd key prefixes.

use super::{ALL_VERBS, Resource};

const NO_COLLECTION_DELETE: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const CREATE: &[&str] = &["create"];
const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// A compact row of the table below.
struct Row {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    subresources: &'static [&'static str],
    storage: &'static str,
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // core/v1
    Row { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, short_names: &["cm"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/configmaps" },
    Row { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true, short_names: &["ep"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/services/endpoints" },
    Row { group: "", version: "v1", kind: "Event", plural: "events", namespaced: true, short_names: &["ev"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/events" },
    Row { group: "", version: "v1", kind: "LimitRange", plural: "limitranges", namespaced: true, short_names: &["limits"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/limitranges" },
    Row { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, short_names: &["ns"], categories: NONE, verbs: NO_COLLECTION_DELETE, subresources: &["finalize", "status"], storage: "/registry/namespaces" },
    Row { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false, short_names: &["no"], categories: NONE, verbs: ALL_VERBS, subresources: &["proxy", "status"], storage: "/registry/minions" },
    Row { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", namespaced: true, short_names: &["pvc"], categories: NONE, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/persistentvolumeclaims" },
    Row { group: "", version: "v1", kind: "PersistentVolume", plural: "persistentvolumes", namespaced: false, short_names: &["pv"], categories: NONE, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/persistentvolumes" },
    Row { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, short_names: &["po"], categories: ALL, verbs: ALL_VERBS, subresources: &["attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy", "resize", "status"], storage: "/registry/pods" },
    Row { group: "", version: "v1", kind: "PodTemplate", plural: "podtemplates", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/podtemplates" },
    Row { group: "", version: "v1", kind: "ReplicationController", plural: "replicationcontrollers", namespaced: true, short_names: &["rc"], categories: ALL, verbs: ALL_VERBS, subresources: &["scale", "status"], storage: "/registry/controllers" },
    Row { group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true, short_names: &["quota"], categories: NONE, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/resourcequotas" },
    Row { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/secrets" },
    Row { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true, short_names: &["sa"], categories: NONE, verbs: ALL_VERBS, subresources: &["token"], storage: "/registry/serviceaccounts" },
    Row { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, short_names: &["svc"], categories: ALL, verbs: ALL_VERBS, subresources: &["proxy", "status"], storage: "/registry/services/specs" },
    // apps/v1
    Row { group: "apps", version: "v1", kind: "ControllerRevision", plural: "controllerrevisions", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/controllerrevisions" },
    Row { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true, short_names: &["ds"], categories: ALL, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/daemonsets" },
    Row { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, short_names: &["deploy"], categories: ALL, verbs: ALL_VERBS, subresources: &["scale", "status"], storage: "/registry/deployments" },
    Row { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true, short_names: &["rs"], categories: ALL, verbs: ALL_VERBS, subresources: &["scale", "status"], storage: "/registry/replicasets" },
    Row { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true, short_names: &["sts"], categories: ALL, verbs: ALL_VERBS, subresources: &["scale", "status"], storage: "/registry/statefulsets" },
    // authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, answered and not stored (no storage prefix)
    Row { group: "authentication.k8s.io", version: "v1", kind: "SelfSubjectReview", plural: "selfsubjectreviews", namespaced: false, short_names: NONE, categories: NONE, verbs: CREATE, subresources: NONE, storage: "" },
    Row { group: "authorization.k8s.io", version: "v1", kind: "LocalSubjectAccessReview", plural: "localsubjectaccessreviews", namespaced: true, short_names: NONE, categories: NONE, verbs: CREATE, subresources: NONE, storage: "" },
    Row { group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview", plural: "selfsubjectaccessreviews", namespaced: false, short_names: NONE, categories: NONE, verbs: CREATE, subresources: NONE, storage: "" },
    Row { group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectRulesReview", plural: "selfsubjectrulesreviews", namespaced: false, short_names: NONE, categories: NONE, verbs: CREATE, subresources: NONE, storage: "" },
    Row { group: "authorization.k8s.io", version: "v1", kind: "SubjectAccessReview", plural: "subjectaccessreviews", namespaced: false, short_names: NONE, categories: NONE, verbs: CREATE, subresources: NONE, storage: "" },
    // autoscaling/v2
    Row { group: "autoscaling", version: "v2", kind: "HorizontalPodAutoscaler", plural: "horizontalpodautoscalers", namespaced: true, short_names: &["hpa"], categories: ALL, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/horizontalpodautoscalers" },
    // batch/v1
    Row { group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", namespaced: true, short_names: &["cj"], categories: ALL, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/cronjobs" },
    Row { group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true, short_names: NONE, categories: ALL, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/jobs" },
    // coordination.k8s.io/v1
    Row { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/leases" },
    // discovery.k8s.io/v1
    Row { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/endpointslices" },
    // events.k8s.io/v1: the core events, converted (see convert.rs), as kube-apiserver stores them
    Row { group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", namespaced: true, short_names: &["ev"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/events" },
    // networking.k8s.io/v1
    Row { group: "networking.k8s.io", version: "v1", kind: "IngressClass", plural: "ingressclasses", namespaced: false, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/ingressclasses" },
    Row { group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", namespaced: true, short_names: &["ing"], categories: NONE, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/ingress" },
    Row { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true, short_names: &["netpol"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/networkpolicies" },
    // policy/v1
    Row { group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", namespaced: true, short_names: &["pdb"], categories: NONE, verbs: ALL_VERBS, subresources: &["status"], storage: "/registry/poddisruptionbudgets" },
    // rbac.authorization.k8s.io/v1
    Row { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", namespaced: false, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/clusterrolebindings" },
    Row { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", namespaced: false, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/clusterroles" },
    Row { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/rolebindings" },
    Row { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true, short_names: NONE, categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/roles" },
    // scheduling.k8s.io/v1
    Row { group: "scheduling.k8s.io", version: "v1", kind: "PriorityClass", plural: "priorityclasses", namespaced: false, short_names: &["pc"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/priorityclasses" },
    // storage.k8s.io/v1
    Row { group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses", namespaced: false, short_names: &["sc"], categories: NONE, verbs: ALL_VERBS, subresources: NONE, storage: "/registry/storageclasses" },
];

/// The built-in resources as registry entries.
pub(super) fn resources() -> Vec<Resource> {
    ROWS.iter()
        .map(|row| Resource {
            group: row.group,
            version: row.version,
            kind: row.kind,
            plural: row.plural,
            namespaced: row.namespaced,
            short_names: row.short_names,
            categories: row.categories,
            verbs: row.verbs,
            subresources: row.subresources,
            storage_prefix: row.storage,
        })
        .collect()
}
