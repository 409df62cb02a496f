//! Jobs and CronJobs (pkg/apis/batch/validation).

use serde_json::Value;

use super::access::Errs;
use super::cron;
use super::field::{FieldError, Path};
use super::gofmt;
use super::meta::{self, IMMUTABLE};
use super::names;
use super::pod;
use super::pod_update::normalize;

/// ValidateJob (after ValidateObjectMeta); on update only ValidateJobSpec.
pub fn job(errs: &mut Errs, object: &Value, create: bool) {
    let spec = errs.obj(object, "spec", &Path::new("")).unwrap_or(&Value::Null);
    if !create {
        job_spec_with_selector(errs, spec);
        return;
    }
    generated_selector(errs, object, spec);
    job_spec_with_selector(errs, spec);
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let completions = spec.get("completions").and_then(Value::as_i64).unwrap_or(0);
    if spec.get("completionMode").and_then(Value::as_str) == Some("Indexed") && completions > 0 {
        let hostname = format!("{name}-{}", completions - 1);
        if !names::dns1123_label(&hostname).is_empty() {
            let detail = format!("will not able to create pod with invalid DNS label: {hostname}");
            errs.push(FieldError::invalid("metadata.name", name, detail));
        }
    }
}

/// validateGeneratedSelector: the server-generated labels must be there.
fn generated_selector(errs: &mut Errs, object: &Value, spec: &Value) {
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let Some(selector) = spec.get("selector").filter(|s| s.is_object()) else { return };
    let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let labels = spec.pointer("/template/metadata/labels");
    let expected = [
        ("controller-uid", uid),
        ("job-name", name),
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
    ];
    for (key, want) in expected {
        let field = format!("spec.template.metadata.labels[{key}]");
        match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(&field, format!("must be '{want}'"))),
            Some(actual) if actual != want => errs.push(FieldError::invalid_rendered(
                &field,
                gofmt::string_map(labels.and_then(Value::as_object)),
                format!("must be '{want}'"),
            )),
            Some(_) => {}
        }
    }
    let mut expected_labels = serde_json::Map::new();
    for (key, value) in expected {
        expected_labels.insert(key.to_string(), Value::from(value));
    }
    if !meta::selector_matches(selector, Some(&Value::Object(expected_labels))) {
        errs.push(FieldError::invalid_rendered(
            "spec.selector",
            gofmt::label_selector(selector),
            "`selector` not auto-generated",
        ));
    }
}

/// ValidateJobSpec: validateJobSpec plus the selector.
fn job_spec_with_selector(errs: &mut Errs, spec: &Value) {
    let path = Path::new("spec");
    job_spec(errs, spec, &path);
    let selector = match errs.obj(spec, "selector", &path) {
        None => {
            errs.push(FieldError::required("spec.selector", ""));
            None
        }
        Some(selector) => meta::validate_label_selector(errs, selector, &path.child("selector")).then_some(selector),
    };
    let labels = spec.pointer("/template/metadata/labels");
    let matches = match selector {
        Some(selector) => meta::selector_matches(selector, labels),
        None => spec.get("selector").is_some_and(|v| !v.is_null()),
    };
    if !matches {
        let rendered = gofmt::string_map(labels.and_then(Value::as_object));
        let detail = "`selector` does not match template `labels`";
        errs.push(FieldError::invalid_rendered("spec.template.metadata.labels", rendered, detail));
    }
}

/// validateJobSpec.
fn job_spec(errs: &mut Errs, spec: &Value, path: &Path) {
    for (key, go_type) in [
        ("parallelism", "int32"),
        ("completions", "int32"),
        ("activeDeadlineSeconds", "int64"),
        ("backoffLimit", "int32"),
        ("ttlSecondsAfterFinished", "int32"),
        ("backoffLimitPerIndex", "int32"),
        ("maxFailedIndexes", "int32"),
    ] {
        meta::non_negative(errs, spec, key, path, go_type);
    }
    let has = |key: &str| spec.get(key).is_some_and(|v| !v.is_null());
    if has("maxFailedIndexes") && !has("backoffLimitPerIndex") {
        errs.push(FieldError::required(
            path.child("backoffLimitPerIndex").as_str(),
            "when maxFailedIndexes is specified",
        ));
    }
    let mode = errs.str(spec, "completionMode", path);
    if let Some(mode) = mode.filter(|m| !matches!(*m, "NonIndexed" | "Indexed")) {
        errs.push(FieldError::not_supported(path.child("completionMode").as_str(), mode, &["NonIndexed", "Indexed"]));
    }
    if mode == Some("Indexed") {
        if !has("completions") {
            errs.push(FieldError::required(path.child("completions").as_str(), "when completion mode is Indexed"));
        }
    } else {
        for key in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(n) = spec.get(key).and_then(Value::as_i64) {
                errs.push(FieldError::invalid(path.child(key).as_str(), n, "requires indexed completion mode"));
            }
        }
    }
    if let Some(policy) = errs.str(spec, "podReplacementPolicy", path)
        && !matches!(policy, "Failed" | "TerminatingOrFailed")
    {
        let field = path.child("podReplacementPolicy");
        errs.push(FieldError::not_supported(field.as_str(), policy, &["Failed", "TerminatingOrFailed"]));
    }
    let template_path = path.child("template");
    let template = errs.obj(spec, "template", path).unwrap_or(&Value::Null);
    pod::validate_template(errs, template, &template_path);
    let restart_path = template_path.child("spec").child("restartPolicy");
    match template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("") {
        "Always" | "" => {
            errs.push(FieldError::required(restart_path.as_str(), "valid values: \"OnFailure\", \"Never\""))
        }
        "OnFailure" if has("podFailurePolicy") => errs.push(FieldError::invalid(
            restart_path.as_str(),
            "OnFailure",
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(restart_path.as_str(), other, &["OnFailure", "Never"])),
    }
}

/// ValidateJobSpecUpdate's immutability rules.
pub fn job_update(errs: &mut Errs, new: &Value, old: &Value) {
    let spec = new.get("spec").unwrap_or(&Value::Null);
    let old_spec = old.get("spec").unwrap_or(&Value::Null);
    let field = |s: &Value, k: &str| s.get(k).map(normalize).filter(|v| !v.is_null());
    let indexed = spec.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    if field(spec, "completions") != field(old_spec, "completions") {
        let completions = spec.get("completions").cloned().unwrap_or(Value::Null);
        if !indexed {
            errs.push(FieldError::invalid("spec.completions", completions, IMMUTABLE));
        } else if !completions.is_null() && completions != spec.get("parallelism").cloned().unwrap_or(Value::Null) {
            errs.push(FieldError::invalid(
                "spec.completions",
                completions,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    }
    if field(spec, "selector") != field(old_spec, "selector") {
        let rendered = spec.get("selector").map(gofmt::label_selector).unwrap_or_else(|| "null".to_string());
        errs.push(FieldError::invalid_rendered("spec.selector", rendered, IMMUTABLE));
    }
    let suspended = spec.get("suspend").and_then(Value::as_bool) == Some(true);
    let never_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
    let scheduling_only = |template: &Value| {
        let mut template = normalize(template);
        if suspended && never_started {
            for pointer in ["/metadata/labels", "/metadata/annotations"] {
                remove_pointer(&mut template, pointer);
            }
            for key in ["nodeSelector", "tolerations", "schedulingGates"] {
                remove_pointer(&mut template, &format!("/spec/{key}"));
            }
            remove_pointer(&mut template, "/spec/affinity/nodeAffinity");
            if template.pointer("/spec/affinity").is_some_and(|a| a.as_object().is_some_and(|m| m.is_empty())) {
                remove_pointer(&mut template, "/spec/affinity");
            }
        }
        template
    };
    let template = spec.get("template").unwrap_or(&Value::Null);
    if scheduling_only(template) != scheduling_only(old_spec.get("template").unwrap_or(&Value::Null)) {
        errs.push(FieldError::invalid("spec.template", template.clone(), IMMUTABLE));
    }
    for key in ["completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"] {
        if field(spec, key) != field(old_spec, key) {
            let value = spec.get(key).cloned().unwrap_or(Value::Null);
            errs.push(FieldError::invalid(&format!("spec.{key}"), value, IMMUTABLE));
        }
    }
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else { return };
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(key);
    }
}

/// validateCronJobSpec; `old` is the stored CronJob on update.
pub fn cron_job(errs: &mut Errs, object: &Value, old: Option<&Value>) {
    let path = Path::new("spec");
    let spec = errs.obj(object, "spec", &Path::new("")).unwrap_or(&Value::Null);
    let old_spec = old.and_then(|o| o.get("spec"));
    let time_zone = errs.str(spec, "timeZone", &path);
    let schedule = errs.string(spec, "schedule", &path);
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        if let Err(message) = cron::parse_standard(schedule) {
            errs.push(FieldError::invalid("spec.schedule", schedule, message));
        }
        let allow_tz =
            old_spec.and_then(|s| s.get("schedule")).and_then(Value::as_str).is_some_and(|s| s.contains("TZ"));
        if schedule.contains("TZ") {
            if !allow_tz {
                let detail = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead";
                errs.push(FieldError::invalid("spec.schedule", schedule, detail));
            } else if time_zone.is_some() {
                let detail = "cannot use both timeZone field and TZ or CRON_TZ in schedule";
                errs.push(FieldError::invalid("spec.schedule", schedule, detail));
            }
        }
    }
    meta::non_negative(errs, spec, "startingDeadlineSeconds", &path, "int64");
    let old_zone = old_spec.map(|s| s.get("timeZone").and_then(Value::as_str));
    if old_zone != Some(time_zone) {
        validate_time_zone(errs, time_zone);
    }
    match errs.string(spec, "concurrencyPolicy", &path) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported("spec.concurrencyPolicy", other, &["Allow", "Forbid", "Replace"])),
    }
    let template_path = path.child("jobTemplate");
    let job_template = errs.obj(spec, "jobTemplate", &path).unwrap_or(&Value::Null);
    let job_spec_path = template_path.child("spec");
    let job_template_spec = errs.obj(job_template, "spec", &template_path).unwrap_or(&Value::Null);
    job_spec(errs, job_template_spec, &job_spec_path);
    if let Some(selector) = job_template_spec.get("selector").filter(|s| !s.is_null()) {
        let field = job_spec_path.child("selector");
        let detail = "`selector` will be auto-generated";
        errs.push(FieldError::invalid_rendered(field.as_str(), gofmt::label_selector(selector), detail));
    }
    if job_template_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(job_spec_path.child("manualSelector").as_str(), true, &["nil", "false"]));
    }
    meta::non_negative(errs, spec, "successfulJobsHistoryLimit", &path, "int32");
    meta::non_negative(errs, spec, "failedJobsHistoryLimit", &path, "int32");
    if old.is_none() {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if name.len() > 52 {
            errs.push(FieldError::invalid("metadata.name", name, "must be no more than 52 characters"));
        }
    }
}

/// validateTimeZone.
fn validate_time_zone(errs: &mut Errs, time_zone: Option<&str>) {
    let Some(zone) = time_zone else { return };
    if zone.is_empty() {
        errs.push(FieldError::invalid("spec.timeZone", zone, "timeZone must be nil or non-empty string"));
        return;
    }
    let part_ok = |part: &str| {
        (1..=14).contains(&part.len())
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
    };
    if !zone.split('/').all(part_ok) {
        errs.push(FieldError::invalid("spec.timeZone", zone, format!("unknown time zone {zone}")));
        return;
    }
    if zone.eq_ignore_ascii_case("Local") {
        let detail = "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones";
        errs.push(FieldError::invalid("spec.timeZone", zone, detail));
    }
    if !cron::time_zone_exists(zone) {
        errs.push(FieldError::invalid("spec.timeZone", zone, format!("unknown time zone {zone}")));
    }
}
