//! Deployments, ReplicaSets, StatefulSets, DaemonSets (pkg/apis/apps/validation)
//! and ReplicationControllers.

use serde_json::Value;

use super::access::Errs;
use super::field::{FieldError, Path};
use super::gofmt;
use super::meta::{self, IMMUTABLE, NEGATIVE};
use super::names;
use super::pod;

fn spec_of<'a>(errs: &mut Errs, object: &'a Value) -> &'a Value {
    errs.obj(object, "spec", &Path::new("")).unwrap_or(&Value::Null)
}

/// The `spec.selector` checks shared by the apps kinds; returns the selector
/// when it parses (upstream's LabelSelectorAsSelector), `Some(Null)` for a
/// nil selector (labels.Nothing()).
fn check_selector<'a>(errs: &mut Errs, spec: &'a Value, noun: &str, required: bool) -> Option<&'a Value> {
    let path = Path::new("spec");
    let Some(selector) = errs.obj(spec, "selector", &path) else {
        if required {
            errs.push(FieldError::required("spec.selector", ""));
        }
        return Some(&Value::Null);
    };
    let parses = meta::validate_label_selector(errs, selector, &path.child("selector"));
    if meta::selector_is_empty(selector) {
        let detail = format!("empty selector is invalid for {noun}");
        errs.push(FieldError::invalid_rendered("spec.selector", gofmt::label_selector(selector), detail));
    }
    parses.then_some(selector)
}

/// The template labels must match the selector (unless it selects all).
fn check_template_labels(errs: &mut Errs, selector: &Value, template: &Value, path: &Path) {
    let labels = template.pointer("/metadata/labels");
    let selects_everything = selector.is_object() && meta::selector_is_empty(selector);
    if !(selects_everything || selector.is_object() && meta::selector_matches(selector, labels)) {
        let rendered = gofmt::string_map(labels.and_then(Value::as_object));
        let field = path.child("metadata").child("labels");
        errs.push(FieldError::invalid_rendered(
            field.as_str(),
            rendered,
            "`selector` does not match template `labels`",
        ));
    }
}

/// ValidatePodTemplateSpecForReplicaSet (also used by Deployments).
fn check_template(errs: &mut Errs, spec: &Value, selector: Option<&Value>, kind: &str, full: bool) {
    let path = Path::new("spec").child("template");
    let template = errs.obj(spec, "template", &Path::new("spec")).unwrap_or(&Value::Null);
    match selector {
        None => {
            let rendered = spec.get("selector").map(gofmt::label_selector).unwrap_or_default();
            let detail = if kind == "StatefulSet" { "" } else { "invalid label selector" };
            errs.push(FieldError::invalid_rendered("spec.selector", rendered, detail));
        }
        Some(selector) => check_template_labels(errs, selector, template, &path),
    }
    if full {
        pod::validate_template(errs, template, &path);
    } else {
        let meta_path = path.child("metadata");
        let template_meta = template.get("metadata").unwrap_or(&Value::Null);
        if let Some(labels) = errs.str_map(template_meta, "labels", &meta_path) {
            meta::validate_labels(errs, &labels, &path.child("labels"));
        }
        if let Some(annotations) = errs.str_map(template_meta, "annotations", &meta_path) {
            meta::validate_annotations(errs, &annotations, &path.child("annotations"));
        }
    }
    let restart = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", restart, &["Always"]));
    }
    if template.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// Value of an int-or-percent (getIntOrPercentValue).
fn int_or_percent_value(value: &Value) -> i64 {
    match value {
        Value::String(s) if names::percent(s).is_empty() => s.trim_end_matches('%').parse().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// ValidatePositiveIntOrPercent.
fn check_int_or_percent(errs: &mut Errs, value: &Value, path: &Path) {
    match value {
        Value::String(s) => {
            for message in names::percent(s) {
                errs.push(FieldError::invalid_rendered(path.as_str(), gofmt::int_or_string(value), message));
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) if i < 0 => errs.push(FieldError::invalid(path.as_str(), i, NEGATIVE)),
            Some(_) => {}
            None => errs.push(FieldError::wrong_type(path.as_str(), value, "intstr.IntOrString")),
        },
        Value::Null => {}
        other => errs.push(FieldError::wrong_type(path.as_str(), other, "intstr.IntOrString")),
    }
}

/// IsNotMoreThan100Percent.
fn check_at_most_100_percent(errs: &mut Errs, value: &Value, path: &Path) {
    if let Value::String(s) = value
        && names::percent(s).is_empty()
        && int_or_percent_value(value) > 100
    {
        errs.push(FieldError::invalid_rendered(
            path.as_str(),
            gofmt::int_or_string(value),
            "must not be greater than 100%",
        ));
    }
}

/// ValidateDeploymentSpec.
pub fn deployment(errs: &mut Errs, object: &Value) {
    let spec = spec_of(errs, object);
    let path = Path::new("spec");
    meta::non_negative(errs, spec, "replicas", &path, "int32");
    let selector = check_selector(errs, spec, "deployment", true);
    check_template(errs, spec, selector, "ReplicaSet", true);
    let strategy_path = path.child("strategy");
    let strategy = errs.obj(spec, "strategy", &path).unwrap_or(&Value::Null);
    let rolling_path = strategy_path.child("rollingUpdate");
    let rolling = errs.obj(strategy, "rollingUpdate", &strategy_path);
    match (errs.string(strategy, "type", &strategy_path), rolling) {
        ("Recreate", Some(_)) => errs.push(FieldError::forbidden(
            rolling_path.as_str(),
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        ("Recreate", None) => {}
        ("RollingUpdate", None) => {
            errs.push(FieldError::required(rolling_path.as_str(), "this should be defaulted and never be nil"))
        }
        ("RollingUpdate", Some(rolling)) => {
            let unavailable = rolling.get("maxUnavailable").unwrap_or(&Value::Null);
            let surge = rolling.get("maxSurge").unwrap_or(&Value::Null);
            check_int_or_percent(errs, unavailable, &rolling_path.child("maxUnavailable"));
            check_int_or_percent(errs, surge, &rolling_path.child("maxSurge"));
            if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                errs.push(FieldError::invalid_rendered(
                    rolling_path.child("maxUnavailable").as_str(),
                    gofmt::int_or_string(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            check_at_most_100_percent(errs, unavailable, &rolling_path.child("maxUnavailable"));
        }
        (other, rolling) => {
            let rolling = if rolling.is_some() {
                "(*apps.RollingUpdateDeployment)(0xc000000000)"
            } else {
                "(*apps.RollingUpdateDeployment)(nil)"
            };
            let rendered = format!("apps.DeploymentStrategy{{Type:{}, RollingUpdate:{rolling}}}", gofmt::quote(other));
            errs.push(
                FieldError::not_supported(strategy_path.as_str(), Value::Null, &["Recreate", "RollingUpdate"])
                    .with_rendered(rendered),
            );
        }
    }
    meta::non_negative(errs, spec, "minReadySeconds", &path, "int32");
    meta::non_negative(errs, spec, "revisionHistoryLimit", &path, "int32");
    if let Some(deadline) = errs.int(spec, "progressDeadlineSeconds", &path, "int32") {
        meta::non_negative(errs, spec, "progressDeadlineSeconds", &path, "int32");
        let min_ready = spec.get("minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
        if deadline <= min_ready {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
}

/// ValidateReplicaSetSpec.
pub fn replica_set(errs: &mut Errs, object: &Value) {
    let spec = spec_of(errs, object);
    let path = Path::new("spec");
    meta::non_negative(errs, spec, "replicas", &path, "int32");
    meta::non_negative(errs, spec, "minReadySeconds", &path, "int32");
    let selector = check_selector(errs, spec, "deployment", true);
    check_template(errs, spec, selector, "ReplicaSet", true);
}

/// ValidateStatefulSetSpec (its pod template spec is not validated upstream).
pub fn stateful_set(errs: &mut Errs, object: &Value) {
    let spec = spec_of(errs, object);
    let path = Path::new("spec");
    match errs.string(spec, "podManagementPolicy", &path) {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => {
            errs.push(FieldError::invalid("spec.podManagementPolicy", other, "must be 'OrderedReady' or 'Parallel'"))
        }
    }
    let strategy_path = path.child("updateStrategy");
    let strategy = errs.obj(spec, "updateStrategy", &path).unwrap_or(&Value::Null);
    let rolling = errs.obj(strategy, "rollingUpdate", &strategy_path);
    let rolling_path = strategy_path.child("rollingUpdate");
    match (errs.string(strategy, "type", &strategy_path), rolling) {
        ("", _) => errs.push(FieldError::required(strategy_path.as_str(), "")),
        ("OnDelete", Some(rolling)) => errs.push(FieldError::invalid(
            rolling_path.as_str(),
            rolling.clone(),
            "only allowed for updateStrategy 'RollingUpdate'",
        )),
        ("RollingUpdate", Some(rolling)) => {
            meta::non_negative(errs, rolling, "partition", &rolling_path, "int32");
            if let Some(unavailable) = rolling.get("maxUnavailable").filter(|v| !v.is_null()) {
                let field = rolling_path.child("maxUnavailable");
                check_int_or_percent(errs, unavailable, &field);
                if int_or_percent_value(unavailable) == 0 {
                    errs.push(FieldError::invalid_rendered(
                        field.as_str(),
                        gofmt::int_or_string(unavailable),
                        "cannot be 0",
                    ));
                }
                check_at_most_100_percent(errs, unavailable, &field);
            }
        }
        ("OnDelete" | "RollingUpdate", None) => {}
        (other, _) => {
            errs.push(FieldError::invalid(strategy_path.as_str(), other, "must be 'RollingUpdate' or 'OnDelete'"))
        }
    }
    if let Some(policy) = errs.obj(spec, "persistentVolumeClaimRetentionPolicy", &path) {
        let policy_path = path.child("persistentVolumeClaimRetentionPolicy");
        for key in ["whenDeleted", "whenScaled"] {
            let value = errs.string(policy, key, &policy_path);
            if !matches!(value, "Retain" | "Delete") {
                errs.push(FieldError::not_supported(policy_path.child(key).as_str(), value, &["Retain", "Delete"]));
            }
        }
    }
    meta::non_negative(errs, spec, "replicas", &path, "int32");
    meta::non_negative(errs, spec, "minReadySeconds", &path, "int32");
    if let Some(ordinals) = errs.obj(spec, "ordinals", &path)
        && let Some(start) = errs.int(ordinals, "start", &path.child("ordinals"), "int32").filter(|s| *s < 0)
    {
        errs.push(FieldError::invalid("spec.ordinals.start", start, NEGATIVE));
    }
    let selector = check_selector(errs, spec, "statefulset", true);
    check_template(errs, spec, selector, "StatefulSet", false);
}

/// ValidateDaemonSetSpec.
pub fn daemon_set(errs: &mut Errs, object: &Value) {
    let spec = spec_of(errs, object);
    let path = Path::new("spec");
    let selector = check_selector(errs, spec, "daemonset", false);
    check_template(errs, spec, selector, "DaemonSet", true);
    meta::non_negative(errs, spec, "minReadySeconds", &path, "int32");
    meta::non_negative(errs, spec, "templateGeneration", &path, "int64");
    let strategy_path = path.child("updateStrategy");
    let strategy = errs.obj(spec, "updateStrategy", &path).unwrap_or(&Value::Null);
    let rolling_path = strategy_path.child("rollingUpdate");
    let rolling = errs.obj(strategy, "rollingUpdate", &strategy_path);
    match (errs.string(strategy, "type", &strategy_path), rolling) {
        ("OnDelete", _) => {}
        ("RollingUpdate", None) => errs.push(FieldError::required(rolling_path.as_str(), "")),
        ("RollingUpdate", Some(rolling)) => {
            let unavailable = rolling.get("maxUnavailable").unwrap_or(&Value::Null);
            let surge = rolling.get("maxSurge").unwrap_or(&Value::Null);
            check_int_or_percent(errs, unavailable, &rolling_path.child("maxUnavailable"));
            check_int_or_percent(errs, surge, &rolling_path.child("maxSurge"));
            check_at_most_100_percent(errs, unavailable, &rolling_path.child("maxUnavailable"));
            check_at_most_100_percent(errs, surge, &rolling_path.child("maxSurge"));
            match (int_or_percent_value(unavailable) != 0, int_or_percent_value(surge) != 0) {
                (true, true) => errs.push(FieldError::invalid_rendered(
                    rolling_path.child("maxSurge").as_str(),
                    gofmt::int_or_string(surge),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => errs.push(FieldError::required(
                    rolling_path.child("maxUnavailable").as_str(),
                    "cannot be 0 when maxSurge is 0",
                )),
                _ => {}
            }
        }
        (other, rolling) => {
            let rolling = if rolling.is_some() {
                "(*apps.RollingUpdateDaemonSet)(0xc000000000)"
            } else {
                "(*apps.RollingUpdateDaemonSet)(nil)"
            };
            let rendered =
                format!("apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{rolling}}}", gofmt::quote(other));
            errs.push(
                FieldError::not_supported(strategy_path.as_str(), Value::Null, &["RollingUpdate", "OnDelete"])
                    .with_rendered(rendered),
            );
        }
    }
    meta::non_negative(errs, spec, "revisionHistoryLimit", &path, "int32");
}

/// ValidateReplicationControllerSpec.
pub fn replication_controller(errs: &mut Errs, object: &Value) {
    let spec = spec_of(errs, object);
    let path = Path::new("spec");
    meta::non_negative(errs, spec, "minReadySeconds", &path, "int32");
    let selector = errs.str_map(spec, "selector", &path).unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    meta::non_negative(errs, spec, "replicas", &path, "int32");
    let template_path = path.child("template");
    let Some(template) = errs.obj(spec, "template", &path) else {
        errs.push(FieldError::required(template_path.as_str(), ""));
        return;
    };
    let labels = template.pointer("/metadata/labels");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if !selector.is_empty() && !selector.iter().all(|(k, v)| label(k) == Some(*v)) {
        let rendered = gofmt::string_map(labels.and_then(Value::as_object));
        let detail = "`selector` does not match template `labels`";
        errs.push(FieldError::invalid_rendered("spec.template.metadata.labels", rendered, detail));
    }
    pod::validate_template(errs, template, &template_path);
    let restart = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", restart, &["Always"]));
    }
    if template.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

/// apps/v1 forbids changing `spec.selector` (registry strategies).
pub fn selector_immutable(errs: &mut Errs, new: &Value, old: &Value) {
    let selector = new.pointer("/spec/selector");
    let old_selector = old.pointer("/spec/selector");
    let normalized = |s: Option<&Value>| s.map(super::pod_update::normalize).filter(|v| !v.is_null());
    if normalized(selector) != normalized(old_selector) {
        let rendered = selector.map(gofmt::label_selector).unwrap_or_else(|| "null".to_string());
        errs.push(FieldError::invalid_rendered("spec.selector", rendered, IMMUTABLE));
    }
}

/// ValidateStatefulSetUpdate's restriction on which spec fields may change.
pub fn stateful_set_update(errs: &mut Errs, new: &Value, old: &Value) {
    let mutable = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    let strip = |object: &Value| {
        let mut spec = super::pod_update::normalize(object.get("spec").unwrap_or(&Value::Null));
        if let Some(map) = spec.as_object_mut() {
            for key in mutable {
                map.remove(key);
            }
        }
        spec
    };
    if strip(new) != strip(old) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}
