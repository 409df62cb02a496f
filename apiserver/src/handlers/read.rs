//! GET of one object and LIST of a collection (paging with continue tokens,
//! label and field selectors).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_store::Revision;

use super::{Request, as_table, json as respond};
use crate::object::parse_resource_version;
use crate::registry::Resource;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use axum::response::{IntoResponse, Response};

/// GET of one object (or its status subresource: the same object).
pub async fn get(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let object = state.objects.get(&target.resource, target.ns(), target.name()?).await?;
    if let Some(include) = as_table::requested(request)? {
        let metadata = json!({ "resourceVersion": crate::object::resource_version(&object).unwrap_or_default() });
        return Ok(respond(StatusCode::OK, &as_table::table(&target.resource, &[&object], include, metadata, true)));
    }
    Ok(respond(StatusCode::OK, &object))
}

/// Where a list continues: the revision of its first page and the next key
/// (kube-apiserver's continue token: base64 JSON with the key relative to the prefix).
#[derive(Debug, PartialEq, Eq)]
pub struct Continue {
    pub revision: Revision,
    pub start: String,
}

impl Continue {
    pub fn encode(&self) -> String {
        BASE64.encode(json!({ "v": "meta.k8s.io/v1", "rv": self.revision, "start": self.start }).to_string())
    }

    pub fn decode(token: &str) -> ApiResult<Self> {
        let invalid = || {
            ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            )
        };
        let bytes = BASE64.decode(token).map_err(|_| invalid())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if value.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
            return Err(invalid());
        }
        let revision = value.get("rv").and_then(Value::as_i64).filter(|r| *r > 0).ok_or_else(invalid)?;
        let start = value.get("start").and_then(Value::as_str).ok_or_else(invalid)?;
        if start.contains("..") || start.starts_with('/') {
            return Err(invalid());
        }
        Ok(Self { revision, start: start.to_owned() })
    }
}

/// The 410 an expired continue token gets.
fn continue_expired() -> ApiError {
    ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list \
         without the continue parameter, or use the continue token in this response to retrieve the remainder of \
         the results. Continuing with the provided token results in an inconsistent list - objects that were \
         created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
}

/// Filters objects by a request's label and field selectors.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub fn from_request(request: &Request) -> ApiResult<Self> {
        let labels = LabelSelector::parse(request.query.get("labelSelector").unwrap_or_default())?;
        let fields =
            FieldSelector::parse(request.query.get("fieldSelector").unwrap_or_default(), &request.target.resource)?;
        Ok(Self { labels, fields })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(crate::object::labels(object)) && self.fields.matches(object)
    }
}

/// LIST: one page, at the revision of the first page.
pub async fn list(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let target = &request.target;
    let resource = &target.resource;
    let filter = Filter::from_request(request)?;
    let include = as_table::requested(request)?;
    let limit = match request.query.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?)
            .filter(|l| *l > 0),
        None => None,
    };
    let prefix = resource.prefix(target.ns());
    // resourceVersion "0" (any version) without paging: from the watch cache, as upstream.
    if request.query.get("resourceVersion") == Some("0") && request.query.get("continue").is_none() {
        let cache = state.caches.get(resource).await?;
        let (objects, revision) = cache.list(&prefix);
        let items: Vec<&Value> = objects.iter().map(|o| o.as_ref()).filter(|o| filter.matches(o)).collect();
        let metadata = list_metadata(revision, None, &filter);
        return Ok(match include {
            Some(include) => respond(StatusCode::OK, &as_table::table(resource, &items, include, metadata, true)),
            None => list_response(resource, &items, metadata),
        });
    }
    let (mut revision, mut start) = match request.query.get("continue") {
        Some(token) => {
            let token = Continue::decode(token)?;
            (Some(token.revision), Some(format!("{prefix}{}", token.start)))
        }
        None => (exact_revision(request)?, None),
    };
    let mut items = Vec::new();
    let (next, remaining) = loop {
        let want = limit.map(|l| l - items.len());
        let page = state.objects.list(resource, target.ns(), start.take(), want, revision).await.map_err(|e| {
            if e.code == 410 && request.query.get("continue").is_some() { continue_expired() } else { e }
        })?;
        revision = Some(page.revision);
        items.extend(page.items.into_iter().filter(|o| filter.matches(o)));
        match page.next_key {
            Some(last) if limit.is_none_or(|l| items.len() < l) => start = Some(format!("{last}\0")),
            Some(last) => break (Some(last), page.remaining),
            None => break (None, 0),
        }
    };
    let revision = revision.unwrap_or_default();
    let metadata = list_metadata(revision, next.map(|last| (last, prefix, remaining)), &filter);
    let items: Vec<&Value> = items.iter().collect();
    Ok(match include {
        Some(include) => respond(StatusCode::OK, &as_table::table(resource, &items, include, metadata, true)),
        None => list_response(resource, &items, metadata),
    })
}

/// The revision a list must be read at, if the request pins one.
fn exact_revision(request: &Request) -> ApiResult<Option<Revision>> {
    match (request.query.get("resourceVersion"), request.query.get("resourceVersionMatch")) {
        (Some(rv), Some("Exact")) => Ok(Some(parse_resource_version(rv)?)),
        (None, Some(_)) => {
            Err(ApiError::bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided"))
        }
        _ => Ok(None),
    }
}

/// A list's metadata: its revision, and where the next page starts.
fn list_metadata(revision: Revision, next: Option<(String, String, i64)>, filter: &Filter) -> Value {
    let mut metadata = json!({ "resourceVersion": revision.to_string() });
    if let Some((last, prefix, remaining)) = next {
        let start = format!("{}\0", last.strip_prefix(&prefix).unwrap_or(&last));
        metadata["continue"] = json!(Continue { revision, start }.encode());
        // Upstream only counts the rest when no selector filters it.
        if filter.labels_and_fields_empty() && remaining > 0 {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    metadata
}

/// A list response, serialized straight from the objects (no copies),
/// leaving out each item's kind and apiVersion as upstream's lists do.
fn list_response(resource: &Resource, items: &[&Value], metadata: Value) -> Response {
    struct Item<'a>(&'a Value);
    impl serde::Serialize for Item<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let Value::Object(fields) = self.0 else { return self.0.serialize(serializer) };
            let mut map = serializer.serialize_map(None)?;
            for (key, value) in fields.iter().filter(|(k, _)| *k != "kind" && *k != "apiVersion") {
                map.serialize_entry(key, value)?;
            }
            map.end()
        }
    }
    #[derive(serde::Serialize)]
    struct List<'a> {
        kind: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
        metadata: Value,
        items: Vec<Item<'a>>,
    }
    let list = List {
        kind: resource.list_kind(),
        api_version: resource.api_version(),
        metadata,
        items: items.iter().map(|o| Item(o)).collect(),
    };
    match serde_json::to_vec(&list) {
        Ok(body) => (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => ApiError::internal("encoding a list failed", &error).into_response(),
    }
}

impl Filter {
    fn labels_and_fields_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_refuse_garbage() {
        let token = Continue { revision: 42, start: "default/web-1\0".into() };
        assert_eq!(Continue::decode(&token.encode()).expect("decodes"), token);
        for bad in ["", "not base64!", "e30=", &BASE64.encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"/etc"}"#)] {
            assert_eq!(Continue::decode(bad).expect_err(bad).code, 400);
        }
    }
}
