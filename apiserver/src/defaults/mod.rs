//! kube-apiserver's defaulting of the built-in kinds, on objects held as `serde_json::Value`.
//!
//! Three steps, in the order kube-apiserver runs them on a create:
//! 1. [`apply_defaults`]: the scheme defaults (`SetDefaults_*` and the generated defaulters that
//!    reach every nested PodSpec, container, volume and probe), plus fields the v1 conversion or
//!    serialization always writes. Idempotent; also run on every update.
//! 2. [`apply_admission_defaults`]: the Pod mutations of the ServiceAccount and Priority admission
//!    plugins. Create only.
//! 3. [`prepare_for_create`]: the registries' create strategies (initial status, Pod QoS class,
//!    Namespace finalizer, Job selector, Service `clusterIPs`), then the defaults again, as
//!    kube-apiserver re-applies them when it reads the stored object back. Create only.
//!
//! Only features enabled by default in Kubernetes 1.33 are modelled. A field of an unexpected
//! JSON type is left alone (validation rejects it later); nothing here panics.
//!
//! Not covered: ClusterIP/NodePort allocation, the service-account token volume and the
//! not-ready/unreachable tolerations (admission plugins), quantity canonicalization and
//! milli-rounding, and pod-level resources (off by default in 1.33).

mod admission;
mod core_v1;
mod create;
mod image;
mod json;
mod others;
mod pod;
mod quantity;
mod token_volume;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::Value;

/// Fills in the defaults kube-apiserver sets on an object of this group/version/kind when it is
/// created or updated (the object is the whole JSON object as stored). Unknown kinds and
/// non-object values are left unchanged; applying it twice changes nothing more.
pub fn apply_defaults(group: &str, version: &str, kind: &str, object: &mut Value) {
    let Some(object) = object.as_object_mut() else { return };
    match (group, version) {
        ("", "v1") => core_v1::default_core(kind, object),
        ("apps", "v1") => workloads::default_apps(kind, object),
        ("batch", "v1") => workloads::default_batch(kind, object),
        ("networking.k8s.io", "v1") => others::default_networking(kind, object),
        ("rbac.authorization.k8s.io", "v1") => others::default_rbac(kind, object),
        ("storage.k8s.io", "v1") => others::default_storage(kind, object),
        ("scheduling.k8s.io", "v1") => others::default_scheduling(kind, object),
        ("discovery.k8s.io", "v1") => others::default_discovery(kind, object),
        ("autoscaling", "v1" | "v2") => others::default_autoscaling(version, kind, object),
        _ => {}
    }
}

/// Applies what admission plugins every cluster runs add to a new Pod: `serviceAccountName`
/// (and the deprecated `serviceAccount`) `default` unless set (not for mirror pods), and
/// `priority` 0 with `preemptionPolicy: PreemptLowerPriority` when no `priorityClassName` is given
/// (the built-in `system-node-critical`/`system-cluster-critical` classes are resolved too),
/// and 300 s tolerations of the not-ready and unreachable NoExecute taints unless it tolerates
/// them (DefaultTolerationSeconds), and the service account token volume `kube-api-access-*`
/// mounted in every container (ServiceAccount). Assumes no globalDefault PriorityClass. Call on create only, after [`apply_defaults`].
/// Other kinds are left unchanged.
pub fn apply_admission_defaults(group: &str, version: &str, kind: &str, object: &mut Value) {
    if (group, version, kind) == ("", "v1", "Pod")
        && let Some(pod) = object.as_object_mut()
    {
        admission::admit_pod(pod);
    }
}

/// Applies the create strategies users see right after a create, then the defaults: the kind's
/// initial status replaces any status sent (Pods start Pending with their QoS class, Namespaces
/// Active, workloads with zero counts), Namespaces get the `kubernetes` finalizer, a Service's
/// lone `clusterIP` is copied to `clusterIPs`, and a Job without `manualSelector` gets its
/// generated selector and template labels (this needs `metadata.uid` to be set already).
/// Call on create only; it includes [`apply_defaults`].
pub fn prepare_for_create(group: &str, version: &str, kind: &str, object: &mut Value) {
    apply_defaults(group, version, kind, object);
    if let Some(map) = object.as_object_mut() {
        create::prepare(group, version, kind, map);
    }
    apply_defaults(group, version, kind, object);
}
