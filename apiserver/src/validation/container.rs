//! Containers of a pod spec: names, images, ports, env, mounts, probes
//! (validateContainers / validateInitContainers in core validation).

use std::collections::BTreeSet;

use serde_json::Value;

use super::access::Errs;
use super::field::{FieldError, Path};
use super::meta::NEGATIVE;
use super::names;

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
const HANDLERS: [&str; 5] = ["exec", "httpGet", "tcpSocket", "grpc", "sleep"];

/// validateContainers plus validateInitContainers; `volumes` are the names
/// of the valid volumes.
pub fn validate_all(errs: &mut Errs, spec: &Value, path: &Path, volumes: &BTreeSet<String>) {
    let containers_path = path.child("containers");
    let containers = errs.items(spec, "containers", path);
    if containers.is_empty() {
        errs.push(FieldError::required(containers_path.as_str(), ""));
    }
    let mut names = BTreeSet::new();
    for (c_path, container) in &containers {
        validate_common(errs, container, c_path, volumes);
        let name = container.get("name").and_then(Value::as_str).unwrap_or("");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(c_path.child("name").as_str(), name));
        }
        if let Some(lifecycle) = errs.obj(container, "lifecycle", c_path) {
            validate_lifecycle(errs, lifecycle, &c_path.child("lifecycle"));
        }
        validate_probes(errs, container, c_path);
        if container.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(
                c_path.child("restartPolicy").as_str(),
                "may not be set for non-init containers",
            ));
        }
    }
    let containers: Vec<&Value> = containers.iter().map(|(_, c)| *c).collect();
    host_port_conflicts(errs, &containers, &containers_path);

    for (c_path, container) in errs.items(spec, "initContainers", path) {
        validate_common(errs, container, &c_path, volumes);
        let mut restart_always = false;
        if let Some(policy) = errs.str(container, "restartPolicy", &c_path) {
            if policy == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(c_path.child("restartPolicy").as_str(), policy, &["Always"]));
            }
        }
        let name = container.get("name").and_then(Value::as_str).unwrap_or("");
        if names.contains(name) {
            errs.push(FieldError::duplicate(c_path.child("name").as_str(), name));
        } else if !name.is_empty() {
            names.insert(name.to_string());
        }
        host_port_conflicts(errs, &[container], &path.child("initContainers"));
        if restart_always {
            if let Some(lifecycle) = errs.obj(container, "lifecycle", &c_path) {
                validate_lifecycle(errs, lifecycle, &c_path.child("lifecycle"));
            }
            validate_probes(errs, container, &c_path);
        } else {
            for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if container.get(field).is_some_and(|v| !v.is_null()) {
                    errs.push(FieldError::forbidden(
                        c_path.child(field).as_str(),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

/// validateContainerCommon.
fn validate_common(errs: &mut Errs, container: &Value, path: &Path, volumes: &BTreeSet<String>) {
    let name = errs.string(container, "name", path);
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name").as_str(), ""));
    } else {
        errs.invalid_each(&path.child("name"), name, names::dns1123_label(name));
    }
    if errs.string(container, "image", path).is_empty() {
        errs.push(FieldError::required(path.child("image").as_str(), ""));
    }
    match errs.string(container, "terminationMessagePolicy", path) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(path.child("terminationMessagePolicy").as_str(), "")),
        other => errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy").as_str(),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_ports(errs, container, path);
    validate_env(errs, container, path);
    validate_mounts(errs, container, path, volumes);
    let policy_path = path.child("imagePullPolicy");
    match errs.string(container, "imagePullPolicy", path) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(policy_path.as_str(), "")),
        other => errs.push(FieldError::not_supported(policy_path.as_str(), other, &PULL_POLICIES)),
    }
    if let Some(resources) = errs.obj(container, "resources", path) {
        validate_resources(errs, resources, &path.child("resources"));
    }
}

fn validate_ports(errs: &mut Errs, container: &Value, path: &Path) {
    let mut port_names = BTreeSet::new();
    for (p_path, port) in errs.items(container, "ports", path) {
        let name = errs.string(port, "name", &p_path);
        if !name.is_empty() {
            let messages = names::port_name(name);
            if !messages.is_empty() {
                errs.invalid_each(&p_path.child("name"), name, messages);
            } else if !port_names.insert(name) {
                errs.push(FieldError::duplicate(p_path.child("name").as_str(), name));
            }
        }
        match errs.int(port, "containerPort", &p_path, "int32").unwrap_or(0) {
            0 => errs.push(FieldError::required(p_path.child("containerPort").as_str(), "")),
            n => {
                for message in names::port_num(n) {
                    errs.push(FieldError::invalid(p_path.child("containerPort").as_str(), n, message));
                }
            }
        }
        if let Some(n) = errs.int(port, "hostPort", &p_path, "int32").filter(|n| *n != 0) {
            for message in names::port_num(n) {
                errs.push(FieldError::invalid(p_path.child("hostPort").as_str(), n, message));
            }
        }
        match errs.string(port, "protocol", &p_path) {
            "" => errs.push(FieldError::required(p_path.child("protocol").as_str(), "")),
            p if PROTOCOLS.contains(&p) => {}
            other => errs.push(FieldError::not_supported(p_path.child("protocol").as_str(), other, &PROTOCOLS)),
        }
    }
}

fn validate_env(errs: &mut Errs, container: &Value, path: &Path) {
    for (e_path, env) in errs.items(container, "env", path) {
        let name = errs.string(env, "name", &e_path);
        if name.is_empty() {
            errs.push(FieldError::required(e_path.child("name").as_str(), ""));
        } else {
            errs.invalid_each(&e_path.child("name"), name, names::relaxed_env_var_name(name));
        }
        if let Some(from) = errs.obj(env, "valueFrom", &e_path) {
            let from_path = e_path.child("valueFrom");
            let sources = ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"]
                .iter()
                .filter(|k| from.get(**k).is_some_and(|v| !v.is_null()))
                .count();
            let has_value = env.get("value").and_then(Value::as_str).is_some_and(|v| !v.is_empty());
            let detail = match sources {
                0 => Some("must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"),
                _ if has_value => Some("may not be specified when `value` is not empty"),
                1 => None,
                _ => Some("may not have more than one field specified at a time"),
            };
            if let Some(detail) = detail {
                errs.push(FieldError::invalid(from_path.as_str(), "", detail));
            }
        }
    }
    let env_from_path = path.child("envFrom");
    for (e_path, source) in errs.items(container, "envFrom", path) {
        let prefix = errs.string(source, "prefix", &e_path);
        if !prefix.is_empty() {
            errs.invalid_each(&e_path.child("prefix"), prefix, names::relaxed_env_var_name(prefix));
        }
        let sources = ["configMapRef", "secretRef"].iter().filter(|k| source.get(**k).is_some_and(|v| !v.is_null()));
        let detail = match sources.count() {
            0 => Some("must specify one of: `configMapRef` or `secretRef`"),
            1 => None,
            _ => Some("may not have more than one field specified at a time"),
        };
        if let Some(detail) = detail {
            errs.push(FieldError::invalid(env_from_path.as_str(), "", detail));
        }
    }
}

fn validate_mounts(errs: &mut Errs, container: &Value, path: &Path, volumes: &BTreeSet<String>) {
    let mut mount_points = BTreeSet::new();
    for (m_path, mount) in errs.items(container, "volumeMounts", path) {
        let name = errs.string(mount, "name", &m_path);
        if name.is_empty() {
            errs.push(FieldError::required(m_path.child("name").as_str(), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(m_path.child("name").as_str(), name));
        }
        let mount_path = errs.string(mount, "mountPath", &m_path);
        if mount_path.is_empty() {
            errs.push(FieldError::required(m_path.child("mountPath").as_str(), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(m_path.child("mountPath").as_str(), mount_path, "must be unique"));
        }
        let sub_path = errs.string(mount, "subPath", &m_path);
        let sub_path_expr = errs.string(mount, "subPathExpr", &m_path);
        if !sub_path.is_empty() && !sub_path_expr.is_empty() {
            errs.push(FieldError::invalid(
                m_path.child("subPathExpr").as_str(),
                sub_path_expr,
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
    }
}

/// Requests may not exceed limits (compared numerically).
fn validate_resources(errs: &mut Errs, resources: &Value, path: &Path) {
    let limits = errs.str_map(resources, "limits", path).unwrap_or_default();
    let requests = errs.str_map(resources, "requests", path).unwrap_or_default();
    for (kind, entries) in [("limits", &limits), ("requests", &requests)] {
        for (name, value) in entries {
            let entry_path = path.child(kind).key(name);
            match skiff_quantity::to_f64(value) {
                None => errs.push(FieldError::invalid(entry_path.as_str(), *value, "must be a valid quantity")),
                Some(q) if q < 0.0 => errs.push(FieldError::invalid(entry_path.as_str(), *value, NEGATIVE)),
                Some(_) => {}
            }
        }
    }
    for (name, request) in &requests {
        let Some((_, limit)) = limits.iter().find(|(n, _)| n == name) else { continue };
        if let (Some(r), Some(l)) = (skiff_quantity::to_f64(request), skiff_quantity::to_f64(limit))
            && r > l
        {
            errs.push(FieldError::invalid(
                path.child("requests").as_str(),
                *request,
                format!("must be less than or equal to {name} limit of {limit}"),
            ));
        }
    }
}

fn validate_lifecycle(errs: &mut Errs, lifecycle: &Value, path: &Path) {
    for hook in ["postStart", "preStop"] {
        if let Some(handler) = errs.obj(lifecycle, hook, path) {
            validate_handler(errs, handler, &path.child(hook));
        }
    }
}

fn validate_probes(errs: &mut Errs, container: &Value, path: &Path) {
    for probe_name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(probe) = errs.obj(container, probe_name, path) else { continue };
        let p_path = path.child(probe_name);
        validate_handler(errs, probe, &p_path);
        for field in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"]
        {
            super::meta::non_negative(errs, probe, field, &p_path, "int32");
        }
        if probe_name != "readinessProbe"
            && let Some(n) = errs.int(probe, "successThreshold", &p_path, "int32").filter(|n| *n != 1)
        {
            errs.push(FieldError::invalid(p_path.child("successThreshold").as_str(), n, "must be 1"));
        }
    }
}

/// validateHandler: exactly one handler type.
fn validate_handler(errs: &mut Errs, handler: &Value, path: &Path) {
    let mut count = 0;
    for kind in HANDLERS {
        if handler.get(kind).is_none_or(Value::is_null) {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(path.child(kind).as_str(), "may not specify more than 1 handler type"));
        } else {
            count += 1;
            if kind == "exec" && handler.pointer("/exec/command").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                errs.push(FieldError::required(path.child("exec").child("command").as_str(), ""));
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path.as_str(), "must specify a handler type"));
    }
}

/// AccumulateUniqueHostPorts: `protocol/hostIP/port` must be unique.
fn host_port_conflicts(errs: &mut Errs, containers: &[&Value], path: &Path) {
    let mut seen = BTreeSet::new();
    for (ci, container) in containers.iter().enumerate() {
        let ports = container.get("ports").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for (pi, port) in ports.iter().enumerate() {
            let host_port = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let protocol = port.get("protocol").and_then(Value::as_str).unwrap_or("");
            let host_ip = port.get("hostIP").and_then(Value::as_str).unwrap_or("");
            let key = format!("{protocol}/{host_ip}/{host_port}");
            if !seen.insert(key.clone()) {
                let field = path.index(ci).child("ports").index(pi).child("hostPort");
                errs.push(FieldError::duplicate(field.as_str(), key));
            }
        }
    }
}
