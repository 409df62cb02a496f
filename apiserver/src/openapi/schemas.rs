//! The component schemas of every served kind, generated once from k8s-openapi's schemars
//! implementations in OpenAPI 3.0 form (`#/components/schemas/...` refs).

use std::collections::{BTreeSet, VecDeque};
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::kinds::{AUXILIARY, KINDS, KindSchema, register_meta};

/// Where component schemas live; every `$ref` starts with this.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// All generated component schemas, with the names of the served kinds.
#[derive(Debug)]
pub struct Components {
    pub schemas: Map<String, Value>,
    /// (group, version, kind, component name) of every served and auxiliary kind.
    pub kinds: Vec<(&'static str, &'static str, &'static str, String)>,
}

impl Components {
    /// The component name of a group/version/kind's schema.
    pub fn name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds.iter().find(|(g, v, k, _)| *g == group && *v == version && *k == kind).map(|(.., n)| n.as_str())
    }

    /// A schema by component name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }
}

/// The components, built on first use.
pub fn components() -> &'static Components {
    static COMPONENTS: OnceLock<Components> = OnceLock::new();
    COMPONENTS.get_or_init(build)
}

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

fn build() -> Components {
    let mut generator = SchemaSettings::openapi3().with(|s| s.meta_schema = None).into_generator();
    let mut kinds = Vec::new();
    for k in KINDS.iter().chain(AUXILIARY) {
        let name = (k.register)(&mut generator);
        kinds.push((k.group, k.version, k.kind, name));
    }
    let _ = register_meta(&mut generator);
    let mut schemas = generator.take_definitions(true);

    for (group, version, kind, name) in &kinds {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            schema.insert("x-kubernetes-group-version-kind".into(), json!([gvk(group, version, kind)]));
        }
    }
    for k in KINDS {
        if let Some(name) = kinds.iter().find(|(g, v, n, _)| (*g, *v, *n) == (k.group, k.version, k.kind)) {
            let list = list_schema(k, &name.3, schemas.get(&name.3));
            schemas.insert(format!("{}List", name.3), list);
        }
    }
    let every_gv: Vec<Value> = group_versions().into_iter().map(|(g, v)| gvk(g, v, "")).collect();
    for (name, kind) in [("DeleteOptions", "DeleteOptions"), ("WatchEvent", "WatchEvent")] {
        let full = format!("io.k8s.apimachinery.pkg.apis.meta.v1.{name}");
        if let Some(Value::Object(schema)) = schemas.get_mut(&full) {
            let list: Vec<Value> = every_gv
                .iter()
                .map(|gv| {
                    let mut gv = gv.clone();
                    gv["kind"] = json!(kind);
                    gv
                })
                .collect();
            schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
        }
    }
    Components { schemas, kinds }
}

/// Every group/version of the served kinds, the core group first, then by group name.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let set: BTreeSet<(&str, &str)> = KINDS.iter().map(|k| (k.group, k.version)).collect();
    set.into_iter().collect()
}

/// The `<Kind>List` schema, which k8s-openapi has no schemars implementation for.
fn list_schema(k: &KindSchema, item: &str, item_schema: Option<&Value>) -> Value {
    let property = |name: &str| item_schema.and_then(|s| s.get("properties")).and_then(|p| p.get(name)).cloned();
    let mut properties = Map::new();
    if let Some(api_version) = property("apiVersion") {
        properties.insert("apiVersion".into(), api_version);
    }
    properties.insert(
        "items".into(),
        json!({
            "description": format!("Items is the list of {}.", k.kind),
            "type": "array",
            "items": { "allOf": [reference(item)], "default": {} },
        }),
    );
    if let Some(kind) = property("kind") {
        properties.insert("kind".into(), kind);
    }
    properties.insert(
        "metadata".into(),
        json!({
            "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            "allOf": [reference("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")],
            "default": {},
        }),
    );
    json!({
        "description": format!("{}List is a list of {} objects.", k.kind, k.kind),
        "type": "object",
        "properties": properties,
        "required": ["items"],
        "x-kubernetes-group-version-kind": [gvk(k.group, k.version, &format!("{}List", k.kind))],
    })
}

/// The named schemas plus everything they refer to, transitively.
pub fn closure(components: &Components, roots: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut queue: VecDeque<String> = roots.iter().cloned().collect();
    while let Some(name) = queue.pop_front() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = components.get(&name) else { continue };
        collect_refs(schema, &mut |r| queue.push_back(r.to_owned()));
        out.insert(name, schema.clone());
    }
    out
}

fn collect_refs(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(REF_PREFIX) {
                            found(name);
                        }
                    }
                    _ => collect_refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}
