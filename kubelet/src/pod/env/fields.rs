//! valueFrom.fieldRef and valueFrom.resourceFieldRef, as upstream's
//! `podFieldSelectorRuntimeValue` and `ExtractContainerResourceValue`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};

use super::{EnvContext, EnvError, Result};
use crate::pod::resources::{ceil_div, milli_value, parse_milli};

/// The value of a fieldRef.
pub(super) fn field_value(pod: &Pod, field: &ObjectFieldSelector, ctx: &EnvContext) -> Result<String> {
    let version = field.api_version.as_deref().unwrap_or("v1");
    if version != "v1" {
        return Err(EnvError::UnsupportedApiVersion(version.to_owned()));
    }
    let path = field.field_path.as_str();
    let spec = pod.spec.as_ref();
    let meta = &pod.metadata;
    let value = match path {
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" => ctx.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => ctx.host_ips.join(","),
        "status.podIP" => ctx.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ctx.pod_ips.join(","),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        _ => {
            if let Some(key) = subscript(path, "metadata.labels") {
                meta.labels.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else if let Some(key) = subscript(path, "metadata.annotations") {
                meta.annotations.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else {
                return Err(EnvError::UnsupportedFieldPath(path.to_owned()));
            }
        }
    };
    Ok(value)
}

/// `metadata.labels['key']` → `key`.
fn subscript<'a>(path: &'a str, field: &str) -> Option<&'a str> {
    path.strip_prefix(field)?.strip_prefix("['")?.strip_suffix("']")
}

/// Labels or annotations as `key="value"` lines sorted by key (upstream's `FormatMap`).
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let lines: Vec<String> =
        map.into_iter().flatten().map(|(key, value)| format!("{key}={}", go_quote(value))).collect();
    lines.join("\n")
}

/// A string quoted as Go's `%q` does for printable text (escapes for quotes, backslashes and
/// control characters).
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a resourceFieldRef: a request or limit divided by the divisor, rounded up;
/// limits the container does not set are the node's allocatable.
pub(super) fn resource_value(field: &ResourceFieldSelector, container: &Container, ctx: &EnvContext) -> Result<String> {
    let resources = container.resources.as_ref();
    let (kind, name) = field
        .resource
        .split_once('.')
        .filter(|(_, name)| matches!(*name, "cpu" | "memory" | "ephemeral-storage"))
        .ok_or_else(|| EnvError::UnsupportedResource(field.resource.clone()))?;
    let quantity = match kind {
        "limits" => resources
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get(name))
            .filter(|q| parse_milli(&q.0).is_some_and(|m| m != 0))
            .or_else(|| ctx.node_allocatable.get(name)),
        "requests" => resources.and_then(|r| r.requests.as_ref()).and_then(|l| l.get(name)),
        _ => return Err(EnvError::UnsupportedResource(field.resource.clone())),
    };
    let amount = quantity.and_then(|q| parse_milli(&q.0)).unwrap_or(0);
    let divisor = field.divisor.as_ref().and_then(|d| parse_milli(&d.0)).filter(|d| *d != 0).unwrap_or(1000);
    let value = if name == "cpu" {
        // CPU divides millicores by the divisor's millicores.
        let divisor = field.divisor.as_ref().map(milli_value).filter(|d| *d != 0).map_or(1000, i128::from);
        ceil_div(amount, divisor)
    } else {
        // Memory and storage divide whole bytes (rounded up) by the divisor's bytes.
        ceil_div(ceil_div(amount, 1000), ceil_div(divisor, 1000).max(1))
    };
    Ok(value.to_string())
}
