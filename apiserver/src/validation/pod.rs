//! Pods, pod specs and pod templates (ValidatePodSpec, ValidatePodCreate,
//! ValidatePodUpdate, ValidatePodTemplateSpec).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::access::Errs;
use super::container;
use super::field::{FieldError, Path};
use super::meta;
use super::names::{self, NameRule};

/// Volume sources in upstream's checking order, with the path upstream
/// names in "may not specify more than 1 volume type" (typos included).
const VOLUME_SOURCES: [(&str, &str); 30] = [
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// ValidatePodCreate (metadata included).
pub fn validate_create(errs: &mut Errs, pod: &Value) {
    validate_metadata_and_spec(errs, pod);
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    if spec.get("ephemeralContainers").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create"));
    }
    let node_name = spec.get("nodeName").and_then(Value::as_str).unwrap_or("");
    if !node_name.is_empty() && spec.get("schedulingGates").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"));
    }
}

/// validatePodMetadataAndSpec.
fn validate_metadata_and_spec(errs: &mut Errs, pod: &Value) {
    meta::validate_create(errs, pod, Some(true), NameRule::Subdomain);
    let spec_path = Path::new("spec");
    let spec = errs.obj(pod, "spec", &Path::new("")).unwrap_or(&Value::Null);
    validate_spec(errs, spec, &spec_path, true);
    for list in ["containers", "initContainers"] {
        for (i, container) in spec.get(list).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            if image.len() != image.trim().len() {
                let field = spec_path.child(list).index(i).child("image");
                errs.push(FieldError::invalid(field.as_str(), image, "must not have leading or trailing whitespace"));
            }
        }
    }
}

/// ValidatePodTemplateSpec: template labels and annotations, then the spec.
pub fn validate_template(errs: &mut Errs, template: &Value, path: &Path) {
    let meta_path = path.child("metadata");
    let template_meta = errs.obj(template, "metadata", path).unwrap_or(&Value::Null);
    if let Some(labels) = errs.str_map(template_meta, "labels", &meta_path) {
        meta::validate_labels(errs, &labels, &path.child("labels"));
    }
    if let Some(annotations) = errs.str_map(template_meta, "annotations", &meta_path) {
        meta::validate_annotations(errs, &annotations, &path.child("annotations"));
    }
    let spec = errs.obj(template, "spec", path).unwrap_or(&Value::Null);
    validate_spec(errs, spec, &path.child("spec"), false);
    if spec.get("ephemeralContainers").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers").as_str(),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// ValidatePodSpec; `is_pod` when the spec is a Pod's own (not a template's).
pub fn validate_spec(errs: &mut Errs, spec: &Value, path: &Path, is_pod: bool) {
    let grace = errs.int(spec, "terminationGracePeriodSeconds", path, "int64");
    if grace.is_none() && spec.get("terminationGracePeriodSeconds").is_none_or(Value::is_null) {
        errs.push(FieldError::required(path.child("terminationGracePeriodSeconds").as_str(), ""));
    }
    let volumes = validate_volumes(errs, spec, path);
    container::validate_all(errs, spec, path, &volumes);
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for (ci, c) in spec.get("containers").and_then(Value::as_array).into_iter().flatten().enumerate() {
            for (pi, port) in c.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let host = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                let container_port = port.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                if (is_pod || host != 0) && host != container_port {
                    let field = path.child("containers").index(ci).child("ports").index(pi).child("hostPort");
                    errs.push(FieldError::invalid(
                        field.as_str(),
                        host,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    enumerated(errs, spec, "restartPolicy", path, &["Always", "OnFailure", "Never"]);
    let dns_policy =
        enumerated(errs, spec, "dnsPolicy", path, &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]);
    if let Some(selector) = errs.str_map(spec, "nodeSelector", path) {
        meta::validate_labels(errs, &selector, &path.child("nodeSelector"));
    }
    if dns_policy == "None" && spec.get("dnsConfig").is_none_or(Value::is_null) {
        errs.push(FieldError::required(
            path.child("dnsConfig").as_str(),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    for (g_path, gate) in errs.items(spec, "readinessGates", path) {
        let condition = errs.string(gate, "conditionType", &g_path);
        errs.invalid_each(&g_path.child("conditionType"), condition, names::qualified_name(condition));
    }
    let mut gates = BTreeSet::new();
    for (g_path, gate) in errs.items(spec, "schedulingGates", path) {
        let name = errs.string(gate, "name", &g_path);
        errs.invalid_each(&g_path, name, names::qualified_name(name));
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(g_path.as_str(), name));
        }
    }
    validate_topology_spread(errs, spec, path);
    for (key, rule) in [("serviceAccountName", NameRule::Subdomain), ("nodeName", NameRule::Subdomain)] {
        let value = errs.string(spec, key, path);
        if !value.is_empty() {
            errs.invalid_each(&path.child(key), value, rule.check(value, false));
        }
    }
    if let Some(deadline) = errs.int(spec, "activeDeadlineSeconds", path, "int64")
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        let detail = names::inclusive_range_error(1, i64::from(i32::MAX));
        errs.push(FieldError::invalid(path.child("activeDeadlineSeconds").as_str(), deadline, detail));
    }
    for key in ["hostname", "subdomain"] {
        let value = errs.string(spec, key, path);
        if !value.is_empty() {
            errs.invalid_each(&path.child(key), value, names::dns1123_label(value));
        }
    }
    validate_tolerations(errs, spec, path);
    let priority_class = errs.string(spec, "priorityClassName", path);
    if !priority_class.is_empty() {
        errs.invalid_each(&path.child("priorityClassName"), priority_class, names::dns1123_subdomain(priority_class));
    }
    if let Some(runtime_class) = errs.str(spec, "runtimeClassName", path) {
        errs.invalid_each(&path.child("runtimeClassName"), runtime_class, names::dns1123_subdomain(runtime_class));
    }
    if spec.get("preemptionPolicy").is_some_and(|v| !v.is_null()) {
        enumerated(errs, spec, "preemptionPolicy", path, &["PreemptLowerPriority", "Never"]);
    }
    if let Some(os) = errs.obj(spec, "os", path) {
        match errs.string(os, "name", &path.child("os")) {
            "" => errs.push(FieldError::required(path.child("os").child("name").as_str(), "cannot be empty")),
            "linux" | "windows" => {}
            other => errs.push(FieldError::not_supported(path.child("os").as_str(), other, &["linux", "windows"])),
        }
    }
}

/// A required enumerated string field: Required when empty, NotSupported
/// outside `supported`. Returns the value.
fn enumerated<'a>(errs: &mut Errs, parent: &'a Value, key: &str, path: &Path, supported: &[&str]) -> &'a str {
    let value = errs.string(parent, key, path);
    if value.is_empty() {
        errs.push(FieldError::required(path.child(key).as_str(), ""));
    } else if !supported.contains(&value) {
        errs.push(FieldError::not_supported(path.child(key).as_str(), value, supported));
    }
    value
}

/// ValidateVolumes: returns the names of the volumes without errors.
fn validate_volumes(errs: &mut Errs, spec: &Value, path: &Path) -> BTreeSet<String> {
    let mut valid = BTreeSet::new();
    for (v_path, volume) in errs.items(spec, "volumes", path) {
        let mut own = Errs::default();
        validate_volume_source(&mut own, volume, &v_path);
        let name = own.string(volume, "name", &v_path);
        if name.is_empty() {
            own.push(FieldError::required(v_path.child("name").as_str(), ""));
        } else {
            own.invalid_each(&v_path.child("name"), name, names::dns1123_label(name));
        }
        if valid.contains(name) {
            own.push(FieldError::duplicate(v_path.child("name").as_str(), name));
        }
        if own.list.is_empty() {
            valid.insert(name.to_string());
        } else {
            errs.list.extend(own.list);
        }
    }
    valid
}

fn validate_volume_source(errs: &mut Errs, volume: &Value, path: &Path) {
    let mut count = 0;
    for (key, error_name) in VOLUME_SOURCES {
        let Some(source) = volume.get(key).filter(|v| !v.is_null()) else { continue };
        if count > 0 {
            errs.push(FieldError::forbidden(
                path.child(error_name).as_str(),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let s_path = path.child(key);
        let required = match key {
            "hostPath" => Some("path"),
            "secret" => Some("secretName"),
            "configMap" => Some("name"),
            "persistentVolumeClaim" => Some("claimName"),
            "nfs" => Some("server"),
            _ => None,
        };
        if let Some(field) = required
            && errs.string(source, field, &s_path).is_empty()
        {
            errs.push(FieldError::required(s_path.child(field).as_str(), ""));
        }
        if key == "nfs" {
            let nfs_path = errs.string(source, "path", &s_path);
            if nfs_path.is_empty() {
                errs.push(FieldError::required(s_path.child("path").as_str(), ""));
            } else if !nfs_path.starts_with('/') {
                errs.push(FieldError::invalid(s_path.child("path").as_str(), nfs_path, "must be an absolute path"));
            }
        }
        if matches!(key, "secret" | "configMap" | "downwardAPI" | "projected")
            && let Some(mode) = errs.int(source, "defaultMode", &s_path, "int32")
            && !(0..=0o777).contains(&mode)
        {
            errs.push(FieldError::invalid(
                s_path.child("defaultMode").as_str(),
                mode,
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path.as_str(), "must specify a volume type"));
    }
}

fn validate_topology_spread(errs: &mut Errs, spec: &Value, path: &Path) {
    for (c_path, constraint) in errs.items(spec, "topologySpreadConstraints", path) {
        let max_skew = errs.int(constraint, "maxSkew", &c_path, "int32").unwrap_or(0);
        if max_skew <= 0 {
            errs.push(FieldError::invalid(c_path.child("maxSkew").as_str(), max_skew, "must be greater than zero"));
        }
        if errs.string(constraint, "topologyKey", &c_path).is_empty() {
            errs.push(FieldError::required(c_path.child("topologyKey").as_str(), "can not be empty"));
        }
        let when = errs.string(constraint, "whenUnsatisfiable", &c_path);
        if !matches!(when, "DoNotSchedule" | "ScheduleAnyway") {
            let field = c_path.child("whenUnsatisfiable");
            errs.push(FieldError::not_supported(field.as_str(), when, &["DoNotSchedule", "ScheduleAnyway"]));
        }
        if let Some(selector) = errs.obj(constraint, "labelSelector", &c_path) {
            meta::validate_label_selector(errs, selector, &c_path.child("labelSelector"));
        }
    }
}

/// ValidateTolerations of `spec.tolerations`.
fn validate_tolerations(errs: &mut Errs, spec: &Value, path: &Path) {
    for (t_path, toleration) in errs.items(spec, "tolerations", path) {
        let key = errs.string(toleration, "key", &t_path);
        let operator = errs.string(toleration, "operator", &t_path);
        let value = errs.string(toleration, "value", &t_path);
        let effect = errs.string(toleration, "effect", &t_path);
        if !key.is_empty() {
            errs.invalid_each(&t_path.child("key"), key, names::qualified_name(key));
        }
        let operator_path = t_path.child("operator");
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                operator_path.as_str(),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if toleration.get("tolerationSeconds").is_some_and(|v| !v.is_null()) && effect != "NoExecute" {
            let detail = "effect must be 'NoExecute' when `tolerationSeconds` is set";
            errs.push(FieldError::invalid(t_path.child("effect").as_str(), effect, detail));
        }
        match operator {
            "Equal" | "" => {
                let messages = names::label_value(value);
                if !messages.is_empty() {
                    errs.push(FieldError::invalid(operator_path.as_str(), value, messages.join(";")));
                }
            }
            "Exists" if !value.is_empty() => errs.push(FieldError::invalid(
                operator_path.as_str(),
                value,
                "value must be empty when `operator` is 'Exists'",
            )),
            "Exists" => {}
            other => errs.push(FieldError::not_supported(operator_path.as_str(), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            let supported = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
            errs.push(FieldError::not_supported(t_path.child("effect").as_str(), effect, &supported));
        }
    }
}

/// ValidatePodUpdate: the new pod must be valid, and only images,
/// activeDeadlineSeconds, added tolerations and removed scheduling gates may
/// change.
pub fn validate_update(errs: &mut Errs, new: &Value, old: &Value) {
    meta::validate_update(errs, new, old);
    validate_metadata_and_spec(errs, new);
    let empty = Value::Object(Map::new());
    let spec = new.get("spec").filter(|s| s.is_object()).unwrap_or(&empty);
    let old_spec = old.get("spec").filter(|s| s.is_object()).unwrap_or(&empty);
    for list in ["containers", "initContainers"] {
        let now = spec.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let before = old_spec.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if now.len() != before.len() {
            errs.push(FieldError::forbidden(&format!("spec.{list}"), "pod updates may not add or remove containers"));
            return;
        }
        for (i, container) in now.iter().enumerate() {
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            let field = format!("spec.{list}[{i}].image");
            if image.is_empty() {
                errs.push(FieldError::required(&field, ""));
            }
            if image.trim().len() != image.len() {
                errs.push(FieldError::invalid(&field, image, "must not have leading or trailing whitespace"));
            }
        }
    }
    let deadline = spec.get("activeDeadlineSeconds").and_then(Value::as_i64);
    let old_deadline = old_spec.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (deadline, old_deadline) {
        (Some(d), _) if !(0..=i64::from(i32::MAX)).contains(&d) => {
            let detail = names::inclusive_range_error(0, i64::from(i32::MAX));
            errs.push(FieldError::invalid("spec.activeDeadlineSeconds", d, detail));
            return;
        }
        (Some(d), Some(o)) if o < d => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                d,
                "must be less than or equal to previous value",
            ));
            return;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    super::pod_update::validate_tolerations_and_gates(errs, spec, old_spec);
    let old_normalized = super::pod_update::normalize(old_spec);
    if super::pod_update::normalize(spec) == old_normalized {
        return;
    }
    let munged = super::pod_update::munge(spec, old_spec);
    if munged != old_normalized {
        let diff = super::pod_update::diff(&old_normalized, &munged);
        errs.push(FieldError::forbidden(
            "spec",
            format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{diff}"),
        ));
    }
}
