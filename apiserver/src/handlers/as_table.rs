//! `kubectl get` asks for a `meta.k8s.io/v1 Table`: rows of printed cells
//! (from the `table` printers) instead of objects.

use http::HeaderMap;
use http::header::ACCEPT;
use serde_json::{Value, json};

use super::Request;
use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};
use crate::table;

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// Whether the client asked for a Table, and with which objects in its rows.
pub fn requested(request: &Request) -> ApiResult<Option<IncludeObject>> {
    if !accepts_table(&request.headers) {
        return Ok(None);
    }
    match request.query.get("includeObject") {
        None | Some("Metadata") => Ok(Some(IncludeObject::Metadata)),
        Some("None") => Ok(Some(IncludeObject::None)),
        Some("Object") => Ok(Some(IncludeObject::Object)),
        Some(other) => Err(ApiError::bad_request(format!(
            "includeObject: Unsupported value: \"{other}\": supported values: \"None\", \"Metadata\", \"Object\""
        ))),
    }
}

/// An Accept header with `application/json;as=Table;v=v1;g=meta.k8s.io` among its choices.
fn accepts_table(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") && params.contains(&"v=v1")
    })
}

fn row(resource: &Resource, object: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let mut row = json!({ "cells": table::row_cells(resource.group, resource.plural, object, now) });
    let conditions = table::row_conditions(resource.group, resource.plural, object);
    if !conditions.is_empty() {
        row["conditions"] = json!(conditions);
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
        }
        IncludeObject::Object => {
            let mut full = object.clone();
            if let Value::Object(map) = &mut full {
                map.insert("kind".into(), json!(resource.kind));
                map.insert("apiVersion".into(), json!(resource.api_version()));
            }
            row["object"] = full;
        }
    }
    row
}

fn column_definitions(resource: &Resource) -> Vec<Value> {
    table::columns(resource.group, resource.plural)
        .iter()
        .map(|c| {
            json!({ "name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority })
        })
        .collect()
}

/// A Table of `objects`; `metadata` is the list metadata (resourceVersion, continue, ...).
pub fn table(resource: &Resource, objects: &[&Value], include: IncludeObject, metadata: Value, headers: bool) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects.iter().map(|o| row(resource, o, include, now)).collect();
    let mut table = json!({ "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "rows": rows });
    table["columnDefinitions"] = if headers { json!(column_definitions(resource)) } else { json!([]) };
    table
}
