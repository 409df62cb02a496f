//! kube-apiserver's validation of the built-in kinds, on `serde_json::Value`,
//! with upstream's (v1.33) field paths and message texts.
//!
//! Objects are expected to be defaulted already (restartPolicy, dnsPolicy,
//! imagePullPolicy, a Job's generated selector, a Service's clusterIPs...),
//! and on update the server-owned metadata (uid, creationTimestamp,
//! resourceVersion) to be carried over from the stored object.
//!
//! Covered: ObjectMeta for every kind (names per kind, namespace
//! required/forbidden by scope, labels, annotations, finalizers, owner
//! references); Pods; Deployments, ReplicaSets, StatefulSets, DaemonSets,
//! ReplicationControllers, PodTemplates; Jobs and CronJobs; Services,
//! ConfigMaps, Secrets, Namespaces, Nodes; RBAC roles and bindings. Every
//! other kind gets ObjectMeta validation only.
//!
//! A JSON value of the wrong type is reported as a [`FieldError`] whose
//! [`FieldError::is_decode_error`] is true: kube-apiserver refuses those
//! while decoding, with a 400 (see [`decode_message`]), before validating.

mod access;
mod apps;
mod batch;
mod container;
mod core_api;
mod cron;
mod events;
mod field;
pub(crate) mod gofmt;
mod meta;
mod names;
mod pod;
mod pod_update;
mod rbac;

#[cfg(test)]
mod tests;

use serde_json::Value;

use access::Errs;
use field::Path;
pub use field::{FieldError, FieldErrorKind};
use names::NameRule;
pub use names::{dns1123_subdomain, label_value, qualified_name};

/// The scope and name rule of a built-in kind: `(namespaced, rule)`.
fn kind_info(group: &str, kind: &str) -> Option<(bool, NameRule)> {
    use NameRule::{Anything, Dns1035, Label, PathSegment, Subdomain};
    let info = match (group, kind) {
        ("", "Namespace") => (false, Label),
        ("", "Service") => (true, Dns1035),
        ("", "Node" | "PersistentVolume" | "ComponentStatus") => (false, Subdomain),
        (
            "",
            "Pod"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Endpoints"
            | "Event"
            | "LimitRange"
            | "ResourceQuota"
            | "PersistentVolumeClaim"
            | "PodTemplate"
            | "ReplicationController"
            | "Binding",
        ) => (true, Subdomain),
        ("apps", "StatefulSet") => (true, Label),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "ControllerRevision") => (true, Subdomain),
        ("batch", "Job" | "CronJob") => (true, Subdomain),
        ("rbac.authorization.k8s.io", "Role" | "RoleBinding") => (true, PathSegment),
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding") => (false, PathSegment),
        ("autoscaling", "HorizontalPodAutoscaler") => (true, Subdomain),
        ("policy", "PodDisruptionBudget") => (true, Subdomain),
        ("networking.k8s.io", "Ingress" | "NetworkPolicy") => (true, Subdomain),
        ("networking.k8s.io", "IngressClass" | "IPAddress" | "ServiceCIDR") => (false, Subdomain),
        ("discovery.k8s.io", "EndpointSlice") => (true, Subdomain),
        ("coordination.k8s.io", "Lease") => (true, Subdomain),
        ("events.k8s.io", "Event") => (true, Subdomain),
        ("storage.k8s.io", "CSIStorageCapacity") => (true, Subdomain),
        ("storage.k8s.io", "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment" | "VolumeAttributesClass") => {
            (false, Subdomain)
        }
        ("scheduling.k8s.io", "PriorityClass") => (false, Subdomain),
        ("node.k8s.io", "RuntimeClass") => (false, Subdomain),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (false, Subdomain),
        ("apiregistration.k8s.io", "APIService") => (false, Subdomain),
        ("certificates.k8s.io", "CertificateSigningRequest") => (false, Anything),
        ("certificates.k8s.io", "ClusterTrustBundle") => (false, Subdomain),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding",
        ) => (false, Subdomain),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => (false, Subdomain),
        ("resource.k8s.io", "ResourceClaim" | "ResourceClaimTemplate") => (true, Subdomain),
        ("resource.k8s.io", "DeviceClass" | "ResourceSlice") => (false, Subdomain),
        _ => return None,
    };
    Some(info)
}

/// Whether a built-in kind is namespaced (`None` for kinds not known here).
pub fn is_namespaced(group: &str, kind: &str) -> Option<bool> {
    kind_info(group, kind).map(|(namespaced, _)| namespaced)
}

fn rule_of(group: &str, kind: &str) -> (Option<bool>, NameRule) {
    match kind_info(group, kind) {
        Some((namespaced, rule)) => (Some(namespaced), rule),
        None => (None, NameRule::Subdomain),
    }
}

/// The kind-specific checks of a new object (after its ObjectMeta).
fn validate_kind(errs: &mut Errs, group: &str, kind: &str, object: &Value, old: Option<&Value>) {
    match (group, kind) {
        ("", "Service") => core_api::service(errs, object),
        ("", "ConfigMap") => core_api::config_map(errs, object),
        ("", "Secret") => core_api::secret(errs, object),
        ("", "Namespace") => core_api::namespace(errs, object),
        ("", "Node") => core_api::node(errs, object),
        ("", "ReplicationController") => apps::replication_controller(errs, object),
        ("", "PodTemplate") => {
            let template = errs.obj(object, "template", &Path::new("")).unwrap_or(&Value::Null);
            pod::validate_template(errs, template, &Path::new("template"));
        }
        ("apps", "Deployment") => apps::deployment(errs, object),
        ("apps", "ReplicaSet") => apps::replica_set(errs, object),
        ("apps", "StatefulSet") => apps::stateful_set(errs, object),
        ("apps", "DaemonSet") => apps::daemon_set(errs, object),
        ("batch", "Job") => batch::job(errs, object, old.is_none()),
        ("batch", "CronJob") => batch::cron_job(errs, object, old),
        ("rbac.authorization.k8s.io", "Role") => rbac::role(errs, object, true),
        ("rbac.authorization.k8s.io", "ClusterRole") => rbac::role(errs, object, false),
        ("rbac.authorization.k8s.io", "RoleBinding") => rbac::binding(errs, object, true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => rbac::binding(errs, object, false),
        ("", "Event") => events::event(errs, object, false, old),
        ("events.k8s.io", "Event") => events::event(errs, object, true, old),
        _ => {}
    }
}

/// Drops exact repeats (upstream's aggregate shows each message once).
fn finish(errs: Errs) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errs.list.len());
    for error in errs.list {
        if !out.contains(&error) {
            out.push(error);
        }
    }
    out
}

fn not_object(object: &Value) -> Option<Vec<FieldError>> {
    (!object.is_object()).then(|| vec![FieldError::wrong_type("", object, "struct")])
}

/// Errors in a new object of this kind.
pub fn validate_create(group: &str, kind: &str, object: &Value) -> Vec<FieldError> {
    if let Some(errors) = not_object(object) {
        return errors;
    }
    let mut errs = Errs::default();
    if (group, kind) == ("", "Pod") {
        pod::validate_create(&mut errs, object);
    } else {
        let (namespaced, rule) = rule_of(group, kind);
        meta::validate_create(&mut errs, object, namespaced, rule);
        validate_kind(&mut errs, group, kind, object, None);
    }
    finish(errs)
}

/// Errors in an update of `old` to `new` (immutability rules included, plus
/// the create rules of the new object where upstream applies them).
pub fn validate_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    if let Some(errors) = not_object(new) {
        return errors;
    }
    let mut errs = Errs::default();
    let (namespaced, rule) = rule_of(group, kind);
    match (group, kind) {
        ("", "Pod") => pod::validate_update(&mut errs, new, old),
        ("", "Service") => {
            meta::validate_update(&mut errs, new, old);
            core_api::service_update(&mut errs, new, old);
            meta::validate_create(&mut errs, new, namespaced, rule);
            core_api::service(&mut errs, new);
        }
        ("", "ConfigMap" | "Secret") => {
            meta::validate_update(&mut errs, new, old);
            let keys: &[&str] = if kind == "Secret" { &["type", "data"] } else { &["data", "binaryData"] };
            core_api::immutable_data_update(&mut errs, new, old, keys);
            meta::validate_create(&mut errs, new, namespaced, rule);
            validate_kind(&mut errs, group, kind, new, Some(old));
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            meta::validate_create(&mut errs, new, namespaced, rule);
            validate_kind(&mut errs, group, kind, new, Some(old));
            meta::validate_update(&mut errs, new, old);
            rbac::binding_update(&mut errs, new, old);
        }
        ("", "ServiceAccount" | "Endpoints") | ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            meta::validate_update(&mut errs, new, old);
            meta::validate_create(&mut errs, new, namespaced, rule);
            validate_kind(&mut errs, group, kind, new, Some(old));
        }
        _ => {
            meta::validate_update(&mut errs, new, old);
            validate_kind(&mut errs, group, kind, new, Some(old));
            match (group, kind) {
                ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => apps::selector_immutable(&mut errs, new, old),
                ("apps", "StatefulSet") => apps::stateful_set_update(&mut errs, new, old),
                ("batch", "Job") => batch::job_update(&mut errs, new, old),
                ("", "Node") => core_api::node_update(&mut errs, new, old),
                _ => {}
            }
        }
    }
    finish(errs)
}

/// The message of the 422 Status, as errors.NewInvalid builds it:
/// `Deployment.apps "web" is invalid: spec.selector: Required value`, or the
/// bracketed list `[a, b]` for several distinct errors.
pub fn invalid_message(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let mut messages: Vec<String> = Vec::new();
    for error in errors {
        let message = error.to_string();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    let name = gofmt::quote(name);
    match messages.as_slice() {
        [] => format!("{qualified} {name} is invalid"),
        [one] => format!("{qualified} {name} is invalid: {one}"),
        many => format!("{qualified} {name} is invalid: [{}]", many.join(", ")),
    }
}

/// The message of kube-apiserver's 400 for a body that does not decode
/// (`error` being one for which [`FieldError::is_decode_error`] holds).
pub fn decode_message(kind: &str, version: &str, error: &FieldError) -> String {
    format!("{kind} in version {} cannot be handled as a {kind}: {}", gofmt::quote(version), error.detail)
}

/// Whether `name` is a valid name for this kind: upstream's messages, empty
/// when valid (used for the path name too).
pub fn validate_name(group: &str, kind: &str, name: &str) -> Vec<String> {
    rule_of(group, kind).1.check(name, false)
}
