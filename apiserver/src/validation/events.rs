//! Events (core/v1 and events.k8s.io/v1): upstream's ValidateEventCreate and
//! ValidateEventUpdate, on the core form with the internal type's field paths.

use serde_json::Value;

use super::access::Errs;
use super::field::FieldError;
use super::meta::IMMUTABLE;
use super::names;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// The fields an events.k8s.io/v1 update may not change, by internal name and core/v1 JSON name.
const IMMUTABLE_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "involvedObject"),
    ("reason", "reason"),
    ("message", "message"),
    ("source", "source"),
    ("firstTimestamp", "firstTimestamp"),
    ("lastTimestamp", "lastTimestamp"),
    ("count", "count"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("action", "action"),
    ("related", "related"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
];

fn text<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// A Go zero value: absent, null, "", 0 or an empty object.
fn is_unset(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Object(o)) => o.values().all(|v| is_unset(Some(v))),
        Some(_) => false,
    }
}

/// Validates an Event; `events_v1` when it came through events.k8s.io/v1 (the strict rules).
pub fn event(errs: &mut Errs, served: &Value, events_v1: bool, old: Option<&Value>) {
    let (event, old) = if events_v1 {
        (crate::convert::event_to_core(served.clone()), old.map(|o| crate::convert::event_to_core(o.clone())))
    } else {
        (served.clone(), old.cloned())
    };
    legacy(errs, &event);
    if !events_v1 {
        return;
    }
    match &old {
        None => {
            series(errs, &event);
            if is_unset(event.get("eventTime")) {
                errs.push(FieldError::required("eventTime", ""));
            }
            let kind = text(&event, "/type");
            if kind != "Normal" && kind != "Warning" {
                errs.push(FieldError::invalid("type", "", format!("has invalid value: {kind}")));
            }
            for field in ["firstTimestamp", "lastTimestamp", "count", "source"] {
                if !is_unset(event.get(field)) {
                    errs.push(FieldError::invalid(field, "", "needs to be unset"));
                }
            }
        }
        Some(old) => {
            if event.get("series") != old.get("series") {
                series(errs, &event);
            }
            for (path, key) in IMMUTABLE_FIELDS {
                let (new_value, old_value) = (event.get(*key), old.get(*key));
                if new_value != old_value && !(is_unset(new_value) && is_unset(old_value)) {
                    errs.push(FieldError::invalid(path, new_value.cloned().unwrap_or(Value::Null), IMMUTABLE));
                }
            }
        }
    }
}

fn series(errs: &mut Errs, event: &Value) {
    let Some(series) = event.get("series").filter(|s| !s.is_null()) else { return };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        errs.push(FieldError::invalid("series.count", "", "should be at least 2"));
    }
    if is_unset(series.get("lastObservedTime")) {
        errs.push(FieldError::required("series.lastObservedTime", ""));
    }
}

/// legacyValidateEvent: what every Event must satisfy, whatever the API it came through.
fn legacy(errs: &mut Errs, event: &Value) {
    let namespace = text(event, "/metadata/namespace");
    let involved_namespace = text(event, "/involvedObject/namespace");
    let mismatch =
        || FieldError::invalid("involvedObject.namespace", involved_namespace, "does not match event.namespace");
    if is_unset(event.get("eventTime")) {
        let agrees = if involved_namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved_namespace
        };
        if !agrees {
            errs.push(mismatch());
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let controller = text(event, "/reportingComponent");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingController", ""));
        }
        errs.invalid_each(
            &super::field::Path::new("reportingController"),
            controller,
            names::qualified_name(controller),
        );
        let limits = [
            ("reportingInstance", "reportingInstance", REPORTING_INSTANCE_LIMIT, true),
            ("action", "action", ACTION_LIMIT, true),
            ("reason", "reason", REASON_LIMIT, true),
            ("message", "message", NOTE_LIMIT, false),
        ];
        for (path, key, limit, required) in limits {
            let value = text(event, &format!("/{key}"));
            if required && value.is_empty() {
                errs.push(FieldError::required(path, ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(path, "", format!("can have at most {limit} characters")));
            }
        }
    }
    errs.invalid_each(&super::field::Path::new("namespace"), namespace, names::dns1123_subdomain(namespace));
}
