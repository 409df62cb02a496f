//! OpenAPI v3 documents as kube-apiserver serves them (`/openapi/v3` and one document per group/version),
//! and the server-side unknown-field detection kubectl relies on when those documents advertise
//! `fieldValidation` (it then skips client-side validation and sends `?fieldValidation=Strict`).

mod hash;
mod kinds;
mod params;
mod paths;
mod schemas;
mod unknown;
mod v2;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

pub use paths::ADVERTISE_STRATEGIC_MERGE;
pub use v2::{V2_PROTOBUF_CONTENT_TYPE, document_protobuf as v2_document_protobuf};

/// The resources a document describes (our registry passes these in; you do not own the registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub subresources: &'static [&'static str],
}

/// Why a document cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenApiError {
    /// No group/version at this `/openapi/v3/...` path.
    #[error("the server could not find the requested resource")]
    NotFound(String),
}

/// A document ready to serve: its compact JSON and the hash the index advertises for it.
#[derive(Debug)]
pub struct ServedDocument {
    pub document: Value,
    pub body: Vec<u8>,
    /// Upper-case hex SHA-512 of `body`: the `?hash=` value and the (quoted) ETag.
    pub hash: String,
}

/// `api/v1` or `apis/<group>/<version>`: the key of a group/version in the index.
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// The group/versions of the resources we have schemas for, in index order.
fn served_group_versions(resources: &[ResourceRef]) -> Vec<(&'static str, &'static str)> {
    let mut gvs: Vec<(&'static str, &'static str)> = resources
        .iter()
        .filter(|r| kinds::find(r.group, r.version, r.kind).is_some())
        .map(|r| (r.group, r.version))
        .collect();
    gvs.sort_by_key(|(g, v)| group_version_path(g, v));
    gvs.dedup();
    gvs
}

/// `/openapi/v3`: the index of group/version documents (with content hashes).
pub fn index(resources: &[ResourceRef]) -> Value {
    let mut paths = Map::new();
    for (group, version) in served_group_versions(resources) {
        if let Some(served) = served(resources, group, version) {
            let key = group_version_path(group, version);
            let url = format!("/openapi/v3/{key}?hash={}", served.hash);
            paths.insert(key, json!({ "serverRelativeURL": url }));
        }
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; None if no such group/version.
pub fn document(resources: &[ResourceRef], group: &str, version: &str) -> Option<Value> {
    served(resources, group, version).map(|s| s.document.clone())
}

/// The document at `/openapi/v3/<path>` (`path` like `api/v1` or `apis/apps/v1`, without query).
pub fn document_at(resources: &[ResourceRef], path: &str) -> Result<Arc<ServedDocument>, OpenApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match parts.as_slice() {
        ["api", version] => served(resources, "", version),
        ["apis", group, version] if !group.is_empty() => served(resources, group, version),
        _ => None,
    };
    found.ok_or_else(|| OpenApiError::NotFound(path.to_owned()))
}

/// The content hash the index advertises for a document (for `?hash=` and ETag).
pub fn document_hash(document: &Value) -> String {
    hash::sha512_hex_upper(&serde_json::to_vec(document).unwrap_or_default())
}

/// The built document of a group/version, cached for the life of the process (the registry is fixed).
fn served(resources: &[ResourceRef], group: &str, version: &str) -> Option<Arc<ServedDocument>> {
    type Cache = Mutex<BTreeMap<(String, String), Option<Arc<ServedDocument>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (group.to_owned(), version.to_owned());
    if let Ok(map) = cache.lock()
        && let Some(hit) = map.get(&key)
    {
        return hit.clone();
    }
    let built = build_document(resources, group, version).map(|document| {
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let hash = hash::sha512_hex_upper(&body);
        Arc::new(ServedDocument { document, body, hash })
    });
    if let Ok(mut map) = cache.lock() {
        map.insert(key, built.clone());
    }
    built
}

fn build_document(resources: &[ResourceRef], group: &str, version: &str) -> Option<Value> {
    let mine: Vec<&ResourceRef> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version && kinds::find(r.group, r.version, r.kind).is_some())
        .collect();
    if mine.is_empty() {
        return None;
    }
    let components = schemas::components();
    let paths = paths::paths(group, version, &mine);
    let mut roots = Vec::new();
    collect_schema_refs(&Value::Object(paths.clone()), &mut roots);
    let schemas = schemas::closure(components, &roots);
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
        "security": [{ "BearerToken": [] }],
    }))
}

fn collect_schema_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(schemas::REF_PREFIX)
                            && !out.iter().any(|n| n == name)
                        {
                            out.push(name.to_owned());
                        }
                    }
                    _ => collect_schema_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_schema_refs(v, out)),
        _ => {}
    }
}

/// Unknown fields of an object of this kind, as upstream's strict decoding names them, in upstream's order
/// (the order of `object`'s keys: document order only if serde_json keeps it, i.e. with `preserve_order`).
/// Empty for kinds we have no schema for.
pub fn unknown_fields(group: &str, version: &str, kind: &str, object: &Value) -> Vec<String> {
    let components = schemas::components();
    let Some(name) = components.name_of(group, version, kind) else { return Vec::new() };
    let mut out = Vec::new();
    unknown::walk(components, &schemas::reference(name), object, &mut String::new(), &mut out);
    out
}

/// One strict-decoding violation as upstream words it: `unknown field "spec.foo"`. Under
/// `fieldValidation=Warn` each of these is one `Warning: 299 - "<text>"` header.
pub fn unknown_field_message(path: &str) -> String {
    format!("unknown field {}", crate::validation::gofmt::quote(path))
}

/// The strict decoding error upstream reports for these unknown fields under `fieldValidation=Strict`:
/// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
pub fn strict_error_message(unknown: &[String]) -> String {
    let joined: Vec<String> = unknown.iter().map(|p| unknown_field_message(p)).collect();
    format!("strict decoding error: {}", joined.join(", "))
}

/// The full 400 BadRequest message of a create (POST) or update (PUT) with unknown fields, as upstream's
/// decoder wraps the strict error: `Deployment in version "v1" cannot be handled as a Deployment: ...`.
pub fn decode_error_message(kind: &str, version: &str, unknown: &[String]) -> String {
    format!(
        "{kind} in version {} cannot be handled as a {kind}: {}",
        crate::validation::gofmt::quote(version),
        strict_error_message(unknown)
    )
}

#[cfg(test)]
mod tests;
