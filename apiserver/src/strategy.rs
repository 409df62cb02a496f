//! Per-kind behaviour of writes that the generic handlers call: what a
//! create sets, what an update keeps, how status and spec are split, and
//! graceful deletion (kube-apiserver's RESTCreateStrategy and friends).

use serde_json::{Value, json};

use crate::object::{metadata_mut, now_rfc3339};
use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};

/// Metadata fields that only the server sets and no update may change.
const SERVER_OWNED: &[&str] =
    &["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"];

/// Kinds whose metadata.generation counts spec changes.
fn tracks_generation(resource: &Resource) -> bool {
    resource.has_status() && !matches!((resource.group, resource.plural), ("", "pods" | "nodes" | "namespaces"))
}

/// Sets what the server owns on a new object: uid, creationTimestamp,
/// generation, namespace; clears what a client may not set on create.
pub fn prepare_for_create(
    resource: &Resource,
    object: &mut Value,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<()> {
    let tracks_generation = tracks_generation(resource);
    let meta = metadata_mut(object)?;
    if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::new(
            500,
            "InternalError",
            "Internal error occurred: resourceVersion should not be set on objects to be created",
        ));
    }
    meta.remove("resourceVersion");
    meta.insert("name".into(), json!(name));
    match namespace {
        Some(ns) => meta.insert("namespace".into(), json!(ns)),
        None => meta.remove("namespace"),
    };
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if tracks_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if (resource.group, resource.plural) == ("apps", "daemonsets") {
        // Upstream's DaemonSet strategy: the template generation, read by the controller.
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(DAEMONSET_TEMPLATE_GENERATION.into(), json!("1"));
        }
    }
    if (resource.group, resource.plural) == ("", "secrets") {
        merge_string_data(object);
    }
    drop_empty_fields(object);
    // Defaults, the status a new object starts with, and what admission sets.
    crate::defaults::apply_admission_defaults(resource.group, resource.version, resource.kind, object);
    crate::defaults::prepare_for_create(resource.group, resource.version, resource.kind, object);
    Ok(())
}

/// Makes `next` a valid successor of `current`: server-owned metadata is
/// kept, the status (or, for the status subresource, everything but the
/// status) comes from `current`, and generation counts spec changes. A
/// namespace's spec.finalizers come from `current` too, except through the
/// `finalize` subresource, which takes them (and all but the status) from `next`.
pub fn prepare_for_update(
    resource: &Resource,
    subresource: Option<&str>,
    current: &Value,
    next: &mut Value,
) -> ApiResult<()> {
    if let (Some(want), Some(have)) = (crate::object::uid(next), crate::object::uid(current))
        && want != have
    {
        let name = crate::object::name(current).unwrap_or_default();
        return Err(ApiError::conflict_because(
            resource,
            name,
            &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {have}"),
        ));
    }
    if subresource == Some("status") {
        let status = next.get("status").cloned();
        *next = current.clone();
        if let (Value::Object(map), Some(status)) = (&mut *next, status) {
            map.insert("status".into(), status);
        }
        return Ok(());
    }
    let current_meta = current.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    let meta = metadata_mut(next)?;
    for field in SERVER_OWNED {
        match current_meta.get(*field) {
            Some(value) => meta.insert((*field).to_owned(), value.clone()),
            None => meta.remove(*field),
        };
    }
    if resource.has_status()
        && let Value::Object(map) = next
    {
        match current.get("status") {
            Some(status) => map.insert("status".into(), status.clone()),
            None => map.remove("status"),
        };
    }
    if (resource.group, resource.plural) == ("", "services") {
        crate::services::carry_over(current, next);
    }
    if (resource.group, resource.plural) == ("", "namespaces") && subresource.is_none() {
        // Only namespaces/{name}/finalize changes spec.finalizers (upstream's namespace PrepareForUpdate).
        keep_spec_finalizers(current, next);
    }
    crate::defaults::apply_defaults(resource.group, resource.version, resource.kind, next);
    if (resource.group, resource.plural) == ("", "secrets") {
        merge_string_data(next);
    }
    drop_empty_fields(next);
    if tracks_generation(resource) && spec_of(current) != spec_of(next) {
        let generation = current_meta.get("generation").and_then(Value::as_i64).unwrap_or(0) + 1;
        metadata_mut(next)?.insert("generation".into(), json!(generation));
    }
    if (resource.group, resource.plural) == ("apps", "daemonsets") && subresource.is_none() {
        carry_template_generation(current, next)?;
    }
    Ok(())
}

/// The annotation with a DaemonSet's template generation (upstream's deprecated.daemonset.template.generation).
const DAEMONSET_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Keeps a DaemonSet's template generation, one more when its template changed.
fn carry_template_generation(current: &Value, next: &mut Value) -> ApiResult<()> {
    let pointer = "/metadata/annotations/deprecated.daemonset.template.generation";
    let old: i64 = current.pointer(pointer).and_then(Value::as_str).and_then(|g| g.parse().ok()).unwrap_or(0);
    let changed = current.pointer("/spec/template") != next.pointer("/spec/template");
    let generation = if changed { old + 1 } else { old };
    if generation == 0 {
        return Ok(());
    }
    let meta = metadata_mut(next)?;
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(DAEMONSET_TEMPLATE_GENERATION.into(), json!(generation.to_string()));
    }
    Ok(())
}

/// Makes `next`'s spec.finalizers those of `current`.
fn keep_spec_finalizers(current: &Value, next: &mut Value) {
    let kept = current.pointer("/spec/finalizers").cloned();
    let Value::Object(map) = next else { return };
    match (map.get_mut("spec"), kept) {
        (Some(Value::Object(spec)), Some(kept)) => {
            spec.insert("finalizers".into(), kept);
        }
        (Some(Value::Object(spec)), None) => {
            spec.remove("finalizers");
        }
        (_, Some(kept)) => {
            map.insert("spec".into(), json!({ "finalizers": kept }));
        }
        (_, None) => {}
    }
}

/// Everything but metadata and status: what generation counts changes of.
fn spec_of(object: &Value) -> Value {
    let mut spec = object.clone();
    if let Value::Object(map) = &mut spec {
        map.remove("metadata");
        map.remove("status");
    }
    spec
}

/// A Secret's write-only `stringData` goes into `data` (base64, overriding keys of the same name) and is
/// not stored, as upstream's v1 conversion does.
fn merge_string_data(object: &mut Value) {
    use base64::Engine;
    let Some(map) = object.as_object_mut() else { return };
    let Some(Value::Object(strings)) = map.remove("stringData") else { return };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in strings {
            let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            data.insert(key, json!(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

/// Drops empty maps and lists that kube-apiserver never stores (Go's
/// `omitempty` on decoding): metadata's labels, annotations, finalizers and
/// owner references, and a ConfigMap's or Secret's empty data.
pub fn drop_empty_fields(object: &mut Value) {
    let empty = |v: &Value| {
        v.as_object().is_some_and(|m| m.is_empty()) || v.as_array().is_some_and(|a| a.is_empty()) || v.is_null()
    };
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["labels", "annotations", "finalizers", "ownerReferences", "managedFields"] {
            if meta.get(field).is_some_and(empty) {
                meta.remove(field);
            }
        }
    }
    if let Some(map) = object.as_object_mut() {
        for field in ["data", "binaryData", "stringData"] {
            if map.get(field).is_some_and(empty) {
                map.remove(field);
            }
        }
    }
}

/// Whether two versions differ in anything but resourceVersion.
pub fn unchanged(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

/// How long a deletion of this object waits (0: remove at once). Only pods
/// that may be running on a node are deleted gracefully.
pub fn grace_period_seconds(resource: &Resource, object: &Value, requested: Option<i64>) -> i64 {
    if (resource.group, resource.plural) != ("", "pods") {
        return 0;
    }
    let scheduled = object.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let finished = matches!(object.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    if !scheduled || finished {
        return 0;
    }
    requested
        .unwrap_or_else(|| object.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30))
        .max(0)
}
