//! Services, ConfigMaps, Secrets, Namespaces and Nodes (core validation).

use std::collections::BTreeSet;

use serde_json::Value;

use super::access::Errs;
use super::field::{FieldError, Path};
use super::gofmt;
use super::meta::{self, IMMUTABLE};
use super::names;

const MAX_SECRET_SIZE: usize = 1024 * 1024;
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

fn is_headless(spec: &Value) -> bool {
    let ips = spec.get("clusterIPs").and_then(Value::as_array);
    match ips {
        Some(ips) => ips.len() == 1 && ips.first().and_then(Value::as_str) == Some("None"),
        None => spec.get("clusterIP").and_then(Value::as_str) == Some("None"),
    }
}

/// ValidateService (after ValidateObjectMeta).
pub fn service(errs: &mut Errs, object: &Value) {
    let path = Path::new("spec");
    let spec = errs.obj(object, "spec", &Path::new("")).unwrap_or(&Value::Null);
    let service_type = errs.string(spec, "type", &path);
    let headless = is_headless(spec);
    let ports = errs.items(spec, "ports", &path);
    if ports.is_empty() && !headless && service_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match service_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {service_type} services"),
        )),
        "ExternalName" => {
            if spec.get("clusterIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                errs.push(FieldError::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            }
            if spec.get("ipFamilies").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                errs.push(FieldError::forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
            }
            if spec.get("ipFamilyPolicy").is_some_and(|v| !v.is_null()) {
                errs.push(FieldError::forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
            }
            let external_name = errs.string(spec, "externalName", &path);
            let cname = external_name.strip_suffix('.').unwrap_or(external_name);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                errs.invalid_each(&path.child("externalName"), cname, names::dns1123_subdomain(cname));
            }
        }
        _ => {}
    }
    let mut port_names = BTreeSet::new();
    for (p_path, port) in &ports {
        let name = errs.string(port, "name", p_path);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(p_path.child("name").as_str(), ""));
        } else if !name.is_empty() {
            errs.invalid_each(&p_path.child("name"), name, names::dns1123_label(name));
            if !port_names.insert(name) {
                errs.push(FieldError::duplicate(p_path.child("name").as_str(), name));
            }
        }
        let number = errs.int(port, "port", p_path, "int32").unwrap_or(0);
        for message in names::port_num(number) {
            errs.push(FieldError::invalid(p_path.child("port").as_str(), number, message));
        }
        match errs.string(port, "protocol", p_path) {
            "" => errs.push(FieldError::required(p_path.child("protocol").as_str(), "")),
            p if PROTOCOLS.contains(&p) => {}
            other => errs.push(FieldError::not_supported(p_path.child("protocol").as_str(), other, &PROTOCOLS)),
        }
        let target_path = p_path.child("targetPort");
        match port.get("targetPort").unwrap_or(&Value::Null) {
            Value::String(s) => errs.invalid_each(&target_path, s, names::port_name(s)),
            Value::Number(n) => {
                let n = n.as_i64().unwrap_or(0);
                for message in names::port_num(n) {
                    errs.push(FieldError::invalid(target_path.as_str(), n, message));
                }
            }
            Value::Null => {
                errs.push(FieldError::invalid(target_path.as_str(), 0, names::inclusive_range_error(1, 65535)))
            }
            other => errs.push(FieldError::wrong_type(target_path.as_str(), other, "intstr.IntOrString")),
        }
        if let Some(app_protocol) = errs.str(port, "appProtocol", p_path) {
            errs.invalid_each(&p_path.child("appProtocol"), app_protocol, names::qualified_name(app_protocol));
        }
    }
    if let Some(selector) = errs.str_map(spec, "selector", &path) {
        meta::validate_labels(errs, &selector, &path.child("selector"));
    }
    match errs.string(spec, "sessionAffinity", &path) {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" | "None" => {}
        other => errs.push(FieldError::not_supported("spec.sessionAffinity", other, &["ClientIP", "None"])),
    }
    match service_type {
        "" => errs.push(FieldError::required("spec.type", "")),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.push(FieldError::not_supported(
            "spec.type",
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (p_path, port) in &ports {
        let node_port = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        let protocol = port.get("protocol").and_then(Value::as_str).unwrap_or("");
        let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        if service_type == "ClusterIP" && node_port != 0 {
            errs.push(FieldError::forbidden(
                p_path.child("nodePort").as_str(),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if node_port != 0 && !node_ports.insert((protocol, node_port)) {
            errs.push(FieldError::duplicate(p_path.child("nodePort").as_str(), node_port));
        }
        if !port_keys.insert((protocol, number)) {
            let rendered = format!(
                "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{number}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                gofmt::quote(protocol)
            );
            errs.push(FieldError::duplicate_rendered(p_path.as_str(), rendered));
        }
    }
}

/// ValidateServiceUpdate's clusterIPs rule: assigned IPs may not change.
pub fn service_update(errs: &mut Errs, new: &Value, old: &Value) {
    let spec = new.get("spec").unwrap_or(&Value::Null);
    let old_spec = old.get("spec").unwrap_or(&Value::Null);
    let kind = |s: &Value| s.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    if kind(spec) == "ExternalName" || kind(old_spec) == "ExternalName" || (is_headless(spec) && is_headless(old_spec))
    {
        return;
    }
    let ips = |s: &Value| -> Vec<Value> {
        match s.get("clusterIPs").and_then(Value::as_array) {
            Some(ips) => ips.clone(),
            None => s
                .get("clusterIP")
                .filter(|ip| ip.as_str().is_some_and(|t| !t.is_empty()))
                .cloned()
                .into_iter()
                .collect(),
        }
    };
    let (now, before) = (ips(spec), ips(old_spec));
    if now.len() == before.len() {
        for (i, ip) in before.iter().enumerate() {
            if now.get(i) != Some(ip) {
                errs.push(FieldError::invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    now.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if now.len() < before.len() && now.is_empty() {
        errs.push(FieldError::invalid("spec.clusterIPs[0]", now.clone(), "primary clusterIP can not be unset"));
    } else if now.first() != before.first() && !before.is_empty() {
        errs.push(FieldError::invalid("spec.clusterIPs[0]", now.clone(), "may not change once set"));
    }
}

/// ValidateConfigMap (after ValidateObjectMeta).
pub fn config_map(errs: &mut Errs, object: &Value) {
    let root = Path::new("");
    let data = errs.str_map(object, "data", &root).unwrap_or_default();
    let binary = errs.str_map(object, "binaryData", &root).unwrap_or_default();
    let mut total = 0;
    for (key, value) in &data {
        let field = Path::new("data").key(key);
        errs.invalid_each(&field, key, names::config_map_key(key));
        if binary.iter().any(|(k, _)| k == key) {
            errs.push(FieldError::invalid(field.as_str(), *key, "duplicate of key present in binaryData"));
        }
        total += value.len();
    }
    for (key, value) in &binary {
        errs.invalid_each(&Path::new("binaryData").key(key), key, names::config_map_key(key));
        total += decoded_len(value);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("[]", MAX_SECRET_SIZE));
    }
}

/// The length of base64 text once decoded.
fn decoded_len(text: &str) -> usize {
    let trimmed = text.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    Some(out)
}

/// ValidateSecret (after ValidateObjectMeta).
pub fn secret(errs: &mut Errs, object: &Value) {
    let root = Path::new("");
    let data = errs.str_map(object, "data", &root).unwrap_or_default();
    let data_path = Path::new("data");
    let mut total = 0;
    for (key, value) in &data {
        errs.invalid_each(&data_path.key(key), key, names::config_map_key(key));
        total += decoded_len(value);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let value_of = |key: &str| data.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let required = |errs: &mut Errs, key: &str| errs.push(FieldError::required(data_path.key(key).as_str(), ""));
    match errs.string(object, "type", &root) {
        "kubernetes.io/service-account-token" => {
            let name =
                object.pointer("/metadata/annotations/kubernetes.io~1service-account.name").and_then(Value::as_str);
            if name.is_none_or(str::is_empty) {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if errs.string(object, "type", &root) == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match value_of(key) {
                None => required(errs, key),
                Some(encoded) => {
                    let parsed =
                        decode_base64(encoded).ok_or_else(|| "illegal base64 data".to_string()).and_then(|bytes| {
                            serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes).map_err(|e| e.to_string())
                        });
                    if let Err(message) = parsed {
                        errs.push(FieldError::invalid(
                            data_path.key(key).as_str(),
                            "<secret contents redacted>",
                            message,
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if value_of("username").is_none() && value_of("password").is_none() => {
            required(errs, "username");
            required(errs, "password");
        }
        "kubernetes.io/ssh-auth" if value_of("ssh-privatekey").is_none_or(str::is_empty) => {
            required(errs, "ssh-privatekey");
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if value_of(key).is_none() {
                    required(errs, key);
                }
            }
        }
        _ => {}
    }
}

/// The `immutable: true` rules of Secrets and ConfigMaps, plus a Secret's type.
pub fn immutable_data_update(errs: &mut Errs, new: &Value, old: &Value, keys: &[&str]) {
    if let Some(kind) = keys.iter().find(|k| **k == "type") {
        let now = new.get(*kind).cloned().unwrap_or(Value::from(""));
        if now != old.get(*kind).cloned().unwrap_or(Value::from("")) {
            errs.push(FieldError::invalid("type", now, IMMUTABLE));
        }
    }
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
    }
    for key in keys.iter().filter(|k| **k != "type") {
        let normalize =
            |v: Option<&Value>| v.filter(|v| !v.is_null() && !v.as_object().is_some_and(|m| m.is_empty())).cloned();
        if normalize(new.get(*key)) != normalize(old.get(*key)) {
            errs.push(FieldError::forbidden(key, "field is immutable when `immutable` is set"));
        }
    }
}

/// ValidateNamespace's spec.finalizers.
pub fn namespace(errs: &mut Errs, object: &Value) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("spec").child("finalizers");
    for finalizer in errs.strings(spec, "finalizers", &Path::new("spec")) {
        errs.invalid_each(&path, finalizer, names::qualified_name(finalizer));
        if !finalizer.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&finalizer) {
            let detail = "name is neither a standard finalizer name nor is it fully qualified";
            errs.push(FieldError::invalid(path.as_str(), finalizer, detail));
        }
    }
}

/// ValidateNode's taints (ValidateNodeUpdate adds the podCIDR/providerID rules).
pub fn node(errs: &mut Errs, object: &Value) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::new("metadata").child("taints");
    let mut seen = BTreeSet::new();
    for (i, (_, taint)) in errs.items(spec, "taints", &Path::new("spec")).into_iter().enumerate() {
        let t_path = path.index(i);
        let key = errs.string(taint, "key", &t_path);
        let value = errs.string(taint, "value", &t_path);
        let effect = errs.string(taint, "effect", &t_path);
        errs.invalid_each(&t_path.child("key"), key, names::qualified_name(key));
        let messages = names::label_value(value);
        if !messages.is_empty() {
            errs.push(FieldError::invalid(t_path.child("value").as_str(), value, messages.join(";")));
        }
        match effect {
            "" => errs.push(FieldError::required(t_path.child("effect").as_str(), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(FieldError::not_supported(
                t_path.child("effect").as_str(),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !seen.insert((effect, key)) {
            let rendered = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                gofmt::quote(key),
                gofmt::quote(value),
                gofmt::quote(effect)
            );
            let mut error = FieldError::duplicate_rendered(t_path.as_str(), rendered);
            error.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(error);
        }
    }
}

/// ValidateNodeUpdate: podCIDRs and providerID may only go from unset to set.
pub fn node_update(errs: &mut Errs, new: &Value, old: &Value) {
    let cidrs = |o: &Value| o.pointer("/spec/podCIDRs").and_then(Value::as_array).cloned().unwrap_or_default();
    let before = cidrs(old);
    if !before.is_empty() && cidrs(new) != before {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let provider = |o: &Value| o.pointer("/spec/providerID").and_then(Value::as_str).unwrap_or("").to_string();
    if !provider(old).is_empty() && provider(old) != provider(new) {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
}
