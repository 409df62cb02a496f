//! Discovery: /version, /api, /apis and the resource lists of each
//! group/version, as kubectl reads them.

use serde_json::{Value, json};

use crate::registry::{Registry, Resource};

/// The Kubernetes version skiff's API corresponds to.
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "33";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+skiff.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "" }],
    })
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({ "groupVersion": format!("{group}/{v}"), "version": v })).collect();
    json!({ "name": group, "versions": versions, "preferredVersion": versions.first() })
}

/// `/apis`: every named group.
pub fn groups(registry: &Registry) -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (group, version) in registry.group_versions().into_iter().filter(|(g, _)| !g.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(version),
            None => groups.push((group, vec![version])),
        }
    }
    let groups: Vec<Value> = groups.iter().map(|(g, v)| group_entry(g, v)).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/<group>`: one group.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let versions: Vec<&str> =
        registry.group_versions().into_iter().filter(|(g, _)| *g == name).map(|(_, v)| v).collect();
    if versions.is_empty() {
        return None;
    }
    let mut entry = group_entry(name, &versions);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

fn resource_entry(resource: &Resource) -> Value {
    let mut entry = json!({
        "name": resource.plural,
        "singularName": resource.singular(),
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    entry
}

fn subresource_entry(resource: &Resource, subresource: &str) -> Value {
    let (kind, verbs): (&str, &[&str]) = match subresource {
        "status" => (resource.kind, &["get", "patch", "update"]),
        "scale" => ("Scale", &["get", "patch", "update"]),
        "binding" => ("Binding", &["create"]),
        "eviction" => ("Eviction", &["create"]),
        "token" => ("TokenRequest", &["create"]),
        "finalize" => (resource.kind, &["update"]),
        "ephemeralcontainers" | "resize" => (resource.kind, &["get", "patch", "update"]),
        "log" => ("Pod", &["get"]),
        "exec" | "attach" => ("PodExecOptions", &["create", "get"]),
        "portforward" => ("PodPortForwardOptions", &["create", "get"]),
        _ => ("", &["create", "delete", "get", "patch", "update"]),
    };
    let kind = match (subresource, resource.kind) {
        ("attach", _) => "PodAttachOptions",
        ("proxy", "Pod") => "PodProxyOptions",
        ("proxy", "Node") => "NodeProxyOptions",
        ("proxy", "Service") => "ServiceProxyOptions",
        _ => kind,
    };
    let mut entry = json!({
        "name": format!("{}/{subresource}", resource.plural),
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if subresource == "scale" {
        entry["group"] = json!("autoscaling");
        entry["version"] = json!("v1");
    }
    if subresource == "eviction" {
        // kubectl drain evicts only where discovery names the Eviction's group and version.
        entry["group"] = json!("policy");
        entry["version"] = json!("v1");
    }
    entry
}

/// `/api/v1` or `/apis/<group>/<version>`: the resources served there.
pub fn resources(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut entries = Vec::new();
    for resource in registry.in_group_version(group, version) {
        entries.push(resource_entry(resource));
        for subresource in resource.subresources {
            entries.push(subresource_entry(resource, subresource));
        }
    }
    if entries.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries }))
}

/// The aggregated discovery version a client's Accept header asks for
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`), if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    accept.split(',').find_map(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList") || !params.contains(&"g=apidiscovery.k8s.io") {
            return None;
        }
        if params.contains(&"v=v2") {
            Some("v2")
        } else if params.contains(&"v=v2beta1") {
            Some("v2beta1")
        } else {
            None
        }
    })
}

/// The media type of an aggregated discovery response.
pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

fn aggregated_resource(resource: &Resource) -> Value {
    let mut entry = json!({
        "resource": resource.plural,
        "responseKind": { "group": resource.group, "version": resource.version, "kind": resource.kind },
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular(),
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    let subresources: Vec<Value> = resource
        .subresources
        .iter()
        .map(|sub| {
            let legacy = subresource_entry(resource, sub);
            let (group, version) = match *sub {
                "scale" => ("autoscaling", "v1"),
                "eviction" => ("policy", "v1"),
                "token" => ("authentication.k8s.io", "v1"),
                _ => (resource.group, resource.version),
            };
            let kind = legacy.get("kind").cloned().unwrap_or_default();
            json!({
                "subresource": sub,
                "responseKind": { "group": group, "version": version, "kind": kind },
                "verbs": legacy.get("verbs").cloned().unwrap_or_default(),
            })
        })
        .collect();
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}

/// `/api` (core) or `/apis` (named groups) as an APIGroupDiscoveryList.
pub fn aggregated(registry: &Registry, core: bool, version: &str) -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (group, gv) in registry.group_versions().into_iter().filter(|(g, _)| g.is_empty() == core) {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(gv),
            None => groups.push((group, vec![gv])),
        }
    }
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry.in_group_version(group, v).map(aggregated_resource).collect();
                    json!({ "version": v, "resources": resources, "freshness": "Current" })
                })
                .collect();
            json!({ "metadata": { "name": group, "creationTimestamp": null }, "versions": versions })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}
