//! downwardAPI files: pod fields (fieldRef) and container resources
//! (resourceFieldRef), formatted as upstream's fieldpath and resource helpers do.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Pod};

use super::api_objects::mode_bits;
use super::atomic_writer::{FileProjection, Payload};
use super::quantity;

/// The files of `items` for `pod`.
pub fn make_payload(pod: &Pod, items: &[DownwardAPIVolumeFile], default_mode: i32) -> Result<Payload, String> {
    let mut payload = Payload::new();
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            field_value(pod, &field.field_path)?
        } else if let Some(resource) = &item.resource_field_ref {
            let divisor = resource.divisor.as_ref().map(|q| q.0.as_str());
            resource_value(pod, resource.container_name.as_deref().unwrap_or_default(), &resource.resource, divisor)?
        } else {
            continue;
        };
        let mode = mode_bits(item.mode.unwrap_or(default_mode));
        payload.insert(item.path.clone(), FileProjection { data: value.into_bytes(), mode });
    }
    Ok(payload)
}

/// A pod field by its fieldPath (`metadata.labels`, `metadata.annotations['k']`, `metadata.name`, ...).
pub fn field_value(pod: &Pod, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    if let Some((map, key)) = subscript(path) {
        let source = match map {
            "metadata.labels" => labels,
            "metadata.annotations" => annotations,
            _ => return Err(format!("unsupported fieldPath: {path}")),
        };
        return Ok(source.get(key).cloned().unwrap_or_default());
    }
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(labels),
        "metadata.annotations" => format_map(annotations),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

/// `metadata.labels['key']` → ("metadata.labels", "key").
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (map, rest) = path.split_once("['")?;
    Some((map, rest.strip_suffix("']")?))
}

/// `key="value"` lines, sorted by key, values quoted as Go's %q (upstream's FormatMap).
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// A string quoted as Go's strconv.Quote does for printable text.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
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

/// A container's request or limit divided by `divisor` and rounded up; unset
/// limits are the node's capacity (upstream merges in node allocatable).
pub fn resource_value(pod: &Pod, container: &str, resource: &str, divisor: Option<&str>) -> Result<String, String> {
    let spec = pod.spec.as_ref().ok_or("the pod has no spec")?;
    let found = spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == container);
    let container = found.ok_or_else(|| format!("container {container} not found"))?;
    let (class, name) =
        resource.split_once('.').ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let resources = container.resources.as_ref();
    let list = match class {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let set = list.and_then(|l| l.get(name)).and_then(|q| skiff_quantity::to_f64(&q.0));
    let value = match (set, class) {
        (Some(value), _) => value,
        (None, "limits") => node_capacity(name),
        (None, _) => 0.0,
    };
    let divisor = divisor.and_then(skiff_quantity::to_f64).filter(|d| *d > 0.0).unwrap_or(1.0);
    let scaled = match name {
        // CPU in millicores over the divisor's millicores, as upstream's convertResourceCPUToString.
        "cpu" => ((value * 1000.0).round() / (divisor * 1000.0).round()).ceil(),
        _ => (value / divisor).ceil(),
    };
    Ok(format!("{}", scaled.max(0.0) as i64))
}

fn node_capacity(resource: &str) -> f64 {
    match resource {
        "cpu" => std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0),
        "memory" => quantity::node_memory().unwrap_or(0) as f64,
        "ephemeral-storage" => rustix::fs::statvfs("/").map(|s| s.f_blocks as f64 * s.f_frsize as f64).unwrap_or(0.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_formatted_as_sorted_quoted_lines() {
        let map = BTreeMap::from([("b".to_owned(), "two \"2\"".to_owned()), ("a".to_owned(), "one".to_owned())]);
        assert_eq!(format_map(&map), "a=\"one\"\nb=\"two \\\"2\\\"\"");
    }
}
