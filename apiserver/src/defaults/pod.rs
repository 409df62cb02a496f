//! Defaults for PodSpec and what it contains (core/v1 `SetDefaults_PodSpec`, `SetDefaults_Container`,
//! volume and probe defaults, as the generated defaulters walk them), plus the Pod-only extras of
//! `SetDefaults_Pod`.

use serde_json::{Value, json};

use super::image::default_pull_policy;
use super::json::{
    Obj, default_int, default_ptr, default_str, each_obj, ensure_obj, get_str, is_nil, obj_mut, str_is_empty,
};

/// The volume source fields of core/v1 `VolumeSource`; a volume with none of them becomes an emptyDir.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// The container lists of a PodSpec that get container defaults.
const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

/// Defaults of a PodSpec wherever it appears (Pods and every pod template).
pub(crate) fn default_pod_spec(spec: &mut Obj) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_ptr(spec, "securityContext", json!({}));
    default_ptr(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    sync_service_account(spec);
    each_obj(spec, "volumes", default_volume);
    for list in CONTAINER_LISTS {
        each_obj(spec, list, default_container);
    }
}

/// The v1 conversion keeps the deprecated `serviceAccount` equal to `serviceAccountName`
/// (taking it from `serviceAccount` when only that one is given).
fn sync_service_account(spec: &mut Obj) {
    if str_is_empty(spec, "serviceAccountName")
        && let Some(old) = get_str(spec, "serviceAccount").filter(|s| !s.is_empty())
    {
        let old = old.to_owned();
        spec.insert("serviceAccountName".into(), Value::from(old));
    }
    if let Some(name) = get_str(spec, "serviceAccountName").filter(|s| !s.is_empty()) {
        let name = name.to_owned();
        spec.insert("serviceAccount".into(), Value::from(name));
    }
}

/// The Pod-only defaults (`SetDefaults_Pod`): requests from limits, `enableServiceLinks`, and host
/// ports for host-network pods. Pod templates do not get these.
pub(crate) fn default_pod_only(spec: &mut Obj) {
    for list in ["containers", "initContainers"] {
        each_obj(spec, list, default_requests_from_limits);
    }
    default_ptr(spec, "enableServiceLinks", Value::Bool(true));
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        for list in ["containers", "initContainers"] {
            each_obj(spec, list, |container| {
                each_obj(container, "ports", |port| {
                    if let Some(container_port) = port.get("containerPort").filter(|p| p.is_number()).cloned() {
                        let unset = match port.get("hostPort") {
                            None | Some(Value::Null) => true,
                            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
                            Some(_) => false,
                        };
                        if unset {
                            port.insert("hostPort".into(), container_port);
                        }
                    }
                });
            });
        }
    }
}

/// A container's missing requests are copied from its limits.
fn default_requests_from_limits(container: &mut Obj) {
    let Some(resources) = obj_mut(container, "resources") else { return };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else { return };
    if limits.is_empty() || !(is_nil(resources, "requests") || resources.get("requests").is_some_and(Value::is_object))
    {
        return;
    }
    if let Some(requests) = ensure_obj(resources, "requests") {
        for (name, quantity) in limits {
            requests.entry(name).or_insert(quantity);
        }
    }
}

/// `SetDefaults_Container` and the generated walk over ports, env, probes and lifecycle hooks.
fn default_container(container: &mut Obj) {
    if str_is_empty(container, "imagePullPolicy") {
        let image = match container.get("image") {
            Some(Value::String(image)) => Some(image.as_str()),
            None | Some(Value::Null) => Some(""),
            Some(_) => None,
        };
        if let Some(image) = image {
            let policy = default_pull_policy(image);
            container.insert("imagePullPolicy".into(), Value::from(policy));
        }
    }
    default_str(container, "terminationMessagePath", "/dev/termination-log");
    default_str(container, "terminationMessagePolicy", "File");
    // ResourceRequirements is a struct, so kube-apiserver always writes it, if only as `{}`.
    default_ptr(container, "resources", json!({}));
    each_obj(container, "ports", |port| default_str(port, "protocol", "TCP"));
    each_obj(container, "env", |env| {
        if let Some(field_ref) = obj_mut(env, "valueFrom").and_then(|from| obj_mut(from, "fieldRef")) {
            default_str(field_ref, "apiVersion", "v1");
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = obj_mut(container, probe) {
            default_probe(probe);
        }
    }
    if let Some(lifecycle) = obj_mut(container, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(http_get) = obj_mut(lifecycle, hook).and_then(|h| obj_mut(h, "httpGet")) {
                default_http_get(http_get);
            }
        }
    }
}

/// `SetDefaults_Probe` plus its handler's defaults.
fn default_probe(probe: &mut Obj) {
    default_int(probe, "timeoutSeconds", 1);
    default_int(probe, "periodSeconds", 10);
    default_int(probe, "successThreshold", 1);
    default_int(probe, "failureThreshold", 3);
    if let Some(http_get) = obj_mut(probe, "httpGet") {
        default_http_get(http_get);
    }
    if let Some(grpc) = obj_mut(probe, "grpc") {
        default_ptr(grpc, "service", Value::from(""));
    }
}

fn default_http_get(http_get: &mut Obj) {
    default_str(http_get, "path", "/");
    default_str(http_get, "scheme", "HTTP");
}

/// `SetDefaults_Volume` and the defaults of each volume source kind.
fn default_volume(volume: &mut Obj) {
    if VOLUME_SOURCES.iter().all(|source| is_nil(volume, source)) {
        volume.insert("emptyDir".into(), json!({}));
    }
    // ImageVolume is off by default in 1.33, so an image volume's pullPolicy is not defaulted.
    default_volume_source_common(volume);
    for source in ["secret", "configMap"] {
        if let Some(source) = obj_mut(volume, source) {
            default_ptr(source, "defaultMode", json!(420));
        }
    }
    if let Some(downward) = obj_mut(volume, "downwardAPI") {
        default_ptr(downward, "defaultMode", json!(420));
        default_downward_items(downward);
    }
    if let Some(projected) = obj_mut(volume, "projected") {
        default_ptr(projected, "defaultMode", json!(420));
        each_obj(projected, "sources", |source| {
            if let Some(downward) = obj_mut(source, "downwardAPI") {
                default_downward_items(downward);
            }
            if let Some(token) = obj_mut(source, "serviceAccountToken") {
                default_ptr(token, "expirationSeconds", json!(3600));
            }
        });
    }
    if let Some(claim) = obj_mut(volume, "ephemeral").and_then(|e| obj_mut(e, "volumeClaimTemplate")) {
        default_embedded_meta(claim);
        if let Some(spec) = obj_mut(claim, "spec") {
            default_pvc_spec(spec);
        }
    }
}

/// Defaults of the volume sources shared by Pod volumes and PersistentVolumes.
pub(crate) fn default_volume_source_common(source: &mut Obj) {
    if let Some(host_path) = obj_mut(source, "hostPath") {
        default_ptr(host_path, "type", Value::from(""));
    }
    if let Some(iscsi) = obj_mut(source, "iscsi") {
        default_str(iscsi, "iscsiInterface", "default");
    }
    if let Some(rbd) = obj_mut(source, "rbd") {
        default_str(rbd, "pool", "rbd");
        default_str(rbd, "user", "admin");
        default_str(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(azure) = obj_mut(source, "azureDisk") {
        default_ptr(azure, "cachingMode", Value::from("ReadWrite"));
        default_ptr(azure, "fsType", Value::from("ext4"));
        default_ptr(azure, "readOnly", Value::Bool(false));
        default_ptr(azure, "kind", Value::from("Shared"));
    }
    if let Some(scale_io) = obj_mut(source, "scaleIO") {
        default_str(scale_io, "storageMode", "ThinProvisioned");
        default_str(scale_io, "fsType", "xfs");
    }
}

fn default_downward_items(downward: &mut Obj) {
    each_obj(downward, "items", |item| {
        if let Some(field_ref) = obj_mut(item, "fieldRef") {
            default_str(field_ref, "apiVersion", "v1");
        }
    });
}

/// `SetDefaults_PersistentVolumeClaimSpec`.
pub(crate) fn default_pvc_spec(spec: &mut Obj) {
    default_ptr(spec, "volumeMode", Value::from("Filesystem"));
}

/// Defaults of a PodTemplateSpec: the embedded ObjectMeta is always written (as
/// `{"creationTimestamp": null}` when empty) and its spec gets the PodSpec defaults.
pub(crate) fn default_pod_template(template: &mut Obj) {
    default_embedded_meta(template);
    if let Some(spec) = obj_mut(template, "spec") {
        default_pod_spec(spec);
    }
}

/// An ObjectMeta embedded by value (templates) is always written, with `creationTimestamp: null`
/// when unset.
pub(crate) fn default_embedded_meta(owner: &mut Obj) {
    if let Some(metadata) = ensure_obj(owner, "metadata") {
        metadata.entry("creationTimestamp").or_insert(Value::Null);
    }
}
