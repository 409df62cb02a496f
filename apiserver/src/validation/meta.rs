//! ObjectMeta, labels, annotations and label selectors
//! (k8s.io/apimachinery/pkg/api/validation and meta/v1/validation).

use serde_json::Value;

use super::access::Errs;
use super::field::{FieldError, Path};
use super::gofmt;
use super::names::{self, NameRule};

/// Upstream's FieldImmutableErrorMsg.
pub const IMMUTABLE: &str = "field is immutable";
/// Upstream's IsNegativeErrorMsg.
pub const NEGATIVE: &str = "must be greater than or equal to 0";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// ValidateObjectMeta (core flavour, with the kube finalizer-name check).
/// `namespaced` is `None` for kinds whose scope is not known here.
pub fn validate_create(errs: &mut Errs, object: &Value, namespaced: Option<bool>, rule: NameRule) {
    let path = Path::new("metadata");
    let meta = errs.obj(object, "metadata", &Path::new("")).unwrap_or(&Value::Null);
    let generate_name = errs.string(meta, "generateName", &path);
    if !generate_name.is_empty() {
        errs.invalid_each(&path.child("generateName"), generate_name, rule.check(generate_name, true));
    }
    let name = errs.string(meta, "name", &path);
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        errs.invalid_each(&path.child("name"), name, rule.check(name, false));
    }
    let namespace = errs.string(meta, "namespace", &path);
    match namespaced {
        Some(true) if namespace.is_empty() => errs.push(FieldError::required("metadata.namespace", "")),
        Some(false) if !namespace.is_empty() => {
            errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
        }
        _ if !namespace.is_empty() => {
            errs.invalid_each(&path.child("namespace"), namespace, NameRule::Label.check(namespace, false));
        }
        _ => {}
    }
    if let Some(generation) = errs.int(meta, "generation", &path, "int64").filter(|g| *g < 0) {
        errs.push(FieldError::invalid("metadata.generation", generation, NEGATIVE));
    }
    validate_common(errs, meta, &path, true);
}

/// The checks ObjectMeta create and update share: labels, annotations,
/// owner references and finalizers (their syntax on create only).
fn validate_common(errs: &mut Errs, meta: &Value, path: &Path, create: bool) {
    if let Some(labels) = errs.str_map(meta, "labels", path) {
        validate_labels(errs, &labels, &path.child("labels"));
    }
    if let Some(annotations) = errs.str_map(meta, "annotations", path) {
        validate_annotations(errs, &annotations, &path.child("annotations"));
    }
    validate_owner_references(errs, meta, path);
    let finalizers = errs.strings(meta, "finalizers", path);
    let finalizers_path = path.child("finalizers");
    for finalizer in finalizers.iter().filter(|_| create) {
        errs.invalid_each(&finalizers_path, finalizer, names::qualified_name(finalizer));
    }
    if create && finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        let list: Vec<Value> = finalizers.iter().map(|f| Value::from(*f)).collect();
        errs.push(FieldError::invalid(
            finalizers_path.as_str(),
            list,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, finalizer) in finalizers.iter().enumerate() {
        if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(finalizer) {
            errs.push(FieldError::invalid(
                finalizers_path.index(i).as_str(),
                *finalizer,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

fn validate_owner_references(errs: &mut Errs, meta: &Value, path: &Path) {
    let refs_path = path.child("ownerReferences");
    let mut first_controller: Option<String> = None;
    for (_, reference) in errs.items(meta, "ownerReferences", path) {
        let api_version = errs.string(reference, "apiVersion", &refs_path);
        let kind = errs.string(reference, "kind", &refs_path);
        let name = errs.string(reference, "name", &refs_path);
        let uid = errs.string(reference, "uid", &refs_path);
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [version] => *version,
            [_, version] => *version,
            _ => "",
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                refs_path.child("apiVersion").as_str(),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(refs_path.child("kind").as_str(), kind, "kind must not be empty"));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(refs_path.child("name").as_str(), name, "name must not be empty"));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(refs_path.child("uid").as_str(), uid, "uid must not be empty"));
        }
        if errs.bool(reference, "controller", &refs_path) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => {
                    let all = meta.get("ownerReferences").cloned().unwrap_or(Value::Null);
                    let detail = format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    );
                    errs.push(FieldError::invalid(refs_path.as_str(), all, detail));
                }
                None => first_controller = Some(current),
            }
        }
    }
}

/// ValidateObjectMetaUpdate: immutable identity plus the syntax checks.
pub fn validate_update(errs: &mut Errs, new: &Value, old: &Value) {
    let path = Path::new("metadata");
    let meta = errs.obj(new, "metadata", &Path::new("")).unwrap_or(&Value::Null);
    let old_meta = old.get("metadata").unwrap_or(&Value::Null);
    let text = |m: &Value, k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if old_meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()) {
        let old_finalizers: Vec<String> = list_of_strings(old_meta.get("finalizers"));
        let mut extra: Vec<String> =
            list_of_strings(meta.get("finalizers")).into_iter().filter(|f| !old_finalizers.contains(f)).collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let rendered = gofmt::string_slice(Some(&extra.iter().map(|f| Value::from(f.as_str())).collect()));
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {rendered}"
                ),
            ));
        }
    }
    for key in ["name", "namespace", "uid"] {
        let (now, before) = (text(meta, key), text(old_meta, key));
        if now != before {
            errs.push(FieldError::invalid(path.child(key).as_str(), now, IMMUTABLE));
        }
    }
    validate_common(errs, meta, &path, false);
}

fn list_of_strings(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// ValidateLabels: keys are qualified names, values label values.
pub fn validate_labels(errs: &mut Errs, labels: &[(&str, &str)], path: &Path) {
    for (key, value) in labels {
        errs.invalid_each(path, key, names::qualified_name(key));
        errs.invalid_each(path, value, names::label_value(value));
    }
}

/// ValidateAnnotations: keys (lower-cased) are qualified names; 256 KiB in all.
pub fn validate_annotations(errs: &mut Errs, annotations: &[(&str, &str)], path: &Path) {
    for (key, _) in annotations {
        errs.invalid_each(path, key, names::qualified_name(&key.to_lowercase()));
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path.as_str(), TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

/// ValidateLabelSelector; returns whether the selector parses (upstream's
/// LabelSelectorAsSelector succeeding).
pub fn validate_label_selector(errs: &mut Errs, selector: &Value, path: &Path) -> bool {
    let before = errs.list.len();
    if let Some(labels) = errs.str_map(selector, "matchLabels", path) {
        validate_labels(errs, &labels, &path.child("matchLabels"));
    }
    for (expr_path, expr) in errs.items(selector, "matchExpressions", path) {
        let operator = errs.string(expr, "operator", &expr_path);
        let values = errs.strings(expr, "values", &expr_path);
        match operator {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                expr_path.child("values").as_str(),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                expr_path.child("values").as_str(),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                expr_path.child("operator").as_str(),
                other,
                "not a valid selector operator",
            )),
        }
        let key = errs.string(expr, "key", &expr_path);
        errs.invalid_each(&expr_path.child("key"), key, names::qualified_name(key));
        for (i, value) in values.iter().enumerate() {
            errs.invalid_each(&expr_path.child("values").index(i), value, names::label_value(value));
        }
    }
    errs.list.len() == before
}

/// Whether a selector has neither matchLabels nor matchExpressions.
pub fn selector_is_empty(selector: &Value) -> bool {
    let count = |k: &str| match selector.get(k) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    };
    count("matchLabels") + count("matchExpressions") == 0
}

/// Whether a (valid) label selector matches `labels`.
pub fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(k).is_some() && label(k) == v.as_str()));
    let expressions_ok = selector.get("matchExpressions").and_then(Value::as_array).is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values = list_of_strings(e.get("values"));
            let current = label(key);
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => current.is_some_and(|c| values.iter().any(|v| v == c)),
                Some("NotIn") => current.is_none_or(|c| !values.iter().any(|v| v == c)),
                Some("Exists") => current.is_some(),
                Some("DoesNotExist") => current.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && expressions_ok
}

/// ValidateNonnegativeField for an optional integer field.
pub fn non_negative(errs: &mut Errs, parent: &Value, key: &str, path: &Path, go_type: &str) {
    if let Some(n) = errs.int(parent, key, path, go_type).filter(|n| *n < 0) {
        errs.push(FieldError::invalid(path.child(key).as_str(), n, NEGATIVE));
    }
}
