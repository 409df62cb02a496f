//! Kinds served in one version and stored in another: events.k8s.io/v1
//! Events are core/v1 Events in storage (as in kube-apiserver, where both
//! APIs are views of the same objects under /registry/events).

use serde_json::{Map, Value};

use crate::registry::Resource;

/// events.k8s.io/v1 field names and the core/v1 names they are stored under
/// (upstream's pkg/apis/events/v1 conversion); other fields share their names.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether the resource is stored in another version than it is served in.
fn is_events_v1(resource: &Resource) -> bool {
    (resource.group, resource.plural) == ("events.k8s.io", "events")
}

/// The object as it is kept in the store.
pub fn to_storage(resource: &Resource, object: Value) -> Value {
    if !is_events_v1(resource) {
        return object;
    }
    event_to_core(object)
}

/// The object as the resource serves it.
pub fn from_storage(resource: &Resource, object: Value) -> Value {
    if !is_events_v1(resource) {
        return object;
    }
    rename(object, "events.k8s.io/v1", EVENT_FIELDS.iter().map(|(served, stored)| (*stored, *served)))
}

/// A core/v1 Event as events.k8s.io/v1 shows it (for validating with upstream's field names).
pub fn event_to_core(object: Value) -> Value {
    rename(object, "v1", EVENT_FIELDS.iter().map(|(served, stored)| (*served, *stored)))
}

/// Renames top-level fields (`from` → `to`) and sets apiVersion. Fields of
/// the target name that exist already and have no source are kept.
fn rename<'a>(object: Value, api_version: &str, names: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let Value::Object(mut fields) = object else { return object };
    let mut renamed = Map::with_capacity(fields.len());
    for (from, to) in names {
        if let Some(value) = fields.remove(from) {
            fields.remove(to);
            renamed.insert(to.to_owned(), value);
        }
    }
    fields.extend(renamed);
    fields.insert("apiVersion".to_owned(), Value::String(api_version.to_owned()));
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    #[test]
    fn events_round_trip_between_the_two_apis() {
        let registry = Registry::builtin();
        let events = registry.get("events.k8s.io", "v1", "events").expect("events.k8s.io/v1 events");
        let served = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "name": "e1", "namespace": "default" },
            "eventTime": "2026-11-23T22:00:00.000000Z", "reportingController": "skiff.dev/scheduler",
            "reportingInstance": "node-1", "action": "Binding", "reason": "Scheduled", "type": "Normal",
            "note": "Successfully assigned default/p to node-1",
            "regarding": { "kind": "Pod", "namespace": "default", "name": "p" },
            "series": { "count": 2, "lastObservedTime": "2026-11-23T22:00:01.000000Z" },
        });
        let stored = to_storage(events, served.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["message"], "Successfully assigned default/p to node-1");
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["reportingComponent"], "skiff.dev/scheduler");
        assert_eq!(stored["series"]["count"], 2);
        assert!(stored.get("note").is_none() && stored.get("regarding").is_none());
        assert_eq!(from_storage(events, stored.clone()), served);
        let core = registry.get("", "v1", "events").expect("core events");
        assert_eq!(from_storage(core, stored.clone()), stored, "core events are stored as served");
    }
}
