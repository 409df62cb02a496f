//! The `paths` of a group/version document: every operation of every resource, shaped like
//! kube-apiserver's (operation ids, `x-kubernetes-action`, `x-kubernetes-group-version-kind`, parameters).

use serde_json::{Map, Value, json};

use super::ResourceRef;
use super::params::{self, DELETE, DELETE_COLLECTION, LIST, PATCH, WRITE, queries};
use super::schemas::reference;

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const PATCH_BODY: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// Whether PATCH operations advertise `application/strategic-merge-patch+json`. Our schemas carry no
/// `x-kubernetes-patch-merge-key`/`-strategy` extensions, so when this is advertised kubectl apply
/// computes strategic merge patches from the v3 schema and replaces lists instead of merging them by key.
/// Left out, kubectl falls back to its compiled-in types, which know the merge keys.
pub const ADVERTISE_STRATEGIC_MERGE: bool = false;

/// `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower: String = chars.next().map(|c| c.to_ascii_lowercase()).into_iter().chain(chars).collect();
    format!("{lower}_{version}")
}

/// `Core`, `Apps`, `RbacAuthorization`, `Networking`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let short = group.strip_suffix(".k8s.io").unwrap_or(group);
    short.split('.').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect()
}

fn content(schema: &Value, types: &[&str]) -> Value {
    let map: Map<String, Value> = types.iter().map(|t| ((*t).to_owned(), json!({ "schema": schema }))).collect();
    Value::Object(map)
}

const OBJECT_TYPES: &[&str] = &["application/json", "application/vnd.kubernetes.protobuf", "application/yaml"];
const WATCH_TYPES: &[&str] = &[
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
];

fn responses(codes: &[(&str, &str)], schema: &str, types: &[&str]) -> Value {
    let mut map = Map::new();
    for (code, description) in codes {
        map.insert(
            (*code).into(),
            json!({ "description": description, "content": content(&reference(schema), types) }),
        );
    }
    map.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(map)
}

/// The names an operation is built from.
struct Ctx<'a> {
    r: &'a ResourceRef,
    prefix: String,
    tag: String,
    /// `Namespaced` for namespaced resources.
    scope: &'static str,
}

impl Ctx<'_> {
    fn gvk(&self) -> Value {
        json!({ "group": self.r.group, "kind": self.r.kind, "version": self.r.version })
    }

    fn op(&self, verb: &str, suffix: &str, action: &str, description: String, query: &[&str], gvk: Value) -> Value {
        let mut op = json!({
            "tags": [self.tag],
            "description": description,
            "operationId": format!("{verb}{}{}{}{suffix}", self.prefix, self.scope, self.r.kind),
            "responses": {},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        });
        if !query.is_empty() {
            op["parameters"] = Value::Array(queries(query));
        }
        op
    }
}

/// Base path of a group/version: `/api/v1` or `/apis/<group>/<version>`.
pub fn base(group: &str, version: &str) -> String {
    if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") }
}

/// The `paths` object of the document for one group/version.
pub fn paths(group: &str, version: &str, resources: &[&ResourceRef]) -> Map<String, Value> {
    let base = base(group, version);
    let tag = tag(group, version);
    let prefix = format!("{}{}", group_camel(group), capitalize(version));
    let mut out = Map::new();
    out.insert(
        format!("{base}/"),
        json!({ "get": {
            "tags": [tag],
            "description": "get available resources",
            "operationId": format!("get{prefix}APIResources"),
            "responses": responses(&[("200", "OK")], "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList", OBJECT_TYPES),
        }}),
    );
    for r in resources {
        let ctx =
            Ctx { r, prefix: prefix.clone(), tag: tag.clone(), scope: if r.namespaced { "Namespaced" } else { "" } };
        resource_paths(&ctx, &base, &mut out);
    }
    out
}

fn resource_paths(ctx: &Ctx, base: &str, out: &mut Map<String, Value>) {
    let r = ctx.r;
    let kind_schema = super::schemas::components().name_of(r.group, r.version, r.kind).unwrap_or_default().to_owned();
    let list_schema = format!("{kind_schema}List");
    let ns = if r.namespaced { "/namespaces/{namespace}" } else { "" };
    let mut scope_params = Vec::new();
    if r.namespaced {
        scope_params.push(params::path("namespace", r.kind));
    }
    let collection = format!("{base}{ns}/{}", r.plural);
    let item = format!("{collection}/{{name}}");
    let mut item_params = vec![params::path("name", r.kind)];
    item_params.extend(scope_params.iter().cloned());
    item_params.push(params::query("pretty"));
    let mut collection_params = scope_params.clone();
    collection_params.push(params::query("pretty"));
    let has = |verb: &str| r.verbs.contains(&verb);

    let mut coll = Map::new();
    if has("list") {
        let mut op = ctx.op("list", "", "list", format!("list or watch objects of kind {}", r.kind), LIST, ctx.gvk());
        op["responses"] = responses(&[("200", "OK")], &list_schema, WATCH_TYPES);
        coll.insert("get".into(), op);
    }
    if has("create") {
        let mut op = ctx.op("create", "", "post", format!("create a {}", r.kind), WRITE, ctx.gvk());
        op["requestBody"] = body(&kind_schema);
        op["responses"] =
            responses(&[("200", "OK"), ("201", "Created"), ("202", "Accepted")], &kind_schema, OBJECT_TYPES);
        coll.insert("post".into(), op);
    }
    if has("deletecollection") {
        let mut op = ctx.op(
            "delete",
            "",
            "deletecollection",
            format!("delete collection of {}", r.kind),
            DELETE_COLLECTION,
            ctx.gvk(),
        );
        op["operationId"] = json!(format!("delete{}Collection{}{}", ctx.prefix, ctx.scope, r.kind));
        op["requestBody"] = body(DELETE_OPTIONS);
        op["responses"] = responses(&[("200", "OK")], STATUS, OBJECT_TYPES);
        coll.insert("delete".into(), op);
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), Value::Array(collection_params));
        out.insert(collection.clone(), Value::Object(coll));
    }

    let mut one = Map::new();
    if has("get") {
        let mut op = ctx.op("read", "", "get", format!("read the specified {}", r.kind), &[], ctx.gvk());
        op["responses"] = responses(&[("200", "OK")], &kind_schema, OBJECT_TYPES);
        one.insert("get".into(), op);
    }
    if has("update") {
        one.insert("put".into(), replace(ctx, "", format!("replace the specified {}", r.kind), &kind_schema));
    }
    if has("delete") {
        let mut op = ctx.op("delete", "", "delete", format!("delete a {}", r.kind), DELETE, ctx.gvk());
        op["requestBody"] = body(DELETE_OPTIONS);
        op["responses"] = responses(&[("200", "OK"), ("202", "Accepted")], STATUS, OBJECT_TYPES);
        one.insert("delete".into(), op);
    }
    if has("patch") {
        one.insert("patch".into(), patch(ctx, "", format!("partially update the specified {}", r.kind), &kind_schema));
    }
    if !one.is_empty() {
        one.insert("parameters".into(), Value::Array(item_params.clone()));
        out.insert(item.clone(), Value::Object(one));
    }

    for sub in r.subresources {
        if let Some(ops) = subresource(ctx, sub, &kind_schema) {
            let mut ops = ops;
            ops.insert("parameters".into(), Value::Array(item_params.clone()));
            out.insert(format!("{item}/{sub}"), Value::Object(ops));
        }
    }

    if has("watch") {
        let with_pretty = |mut v: Vec<Value>| {
            v.push(params::query("pretty"));
            v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            v
        };
        let watch = |suffix: &str, action: &str, description: String, extra: &[Value]| {
            let mut op = ctx.op("watch", suffix, action, description, &[], ctx.gvk());
            op["responses"] = responses(&[("200", "OK")], WATCH_EVENT, WATCH_TYPES);
            let mut params: Vec<Value> = queries(LIST);
            params.extend(extra.iter().cloned());
            (op, params)
        };
        let (op, p) = watch(
            "List",
            "watchlist",
            format!(
                "watch individual changes to a list of {}. deprecated: use the 'watch' parameter with a list operation instead.",
                r.kind
            ),
            &scope_params,
        );
        out.insert(format!("{base}/watch{ns}/{}", r.plural), json!({ "get": op, "parameters": with_pretty(p) }));
        let mut named = vec![params::path("name", r.kind)];
        named.extend(scope_params.iter().cloned());
        let (op, p) = watch(
            "",
            "watch",
            format!(
                "watch changes to an object of kind {}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
                r.kind
            ),
            &named,
        );
        out.insert(
            format!("{base}/watch{ns}/{}/{{name}}", r.plural),
            json!({ "get": op, "parameters": with_pretty(p) }),
        );
        if r.namespaced {
            let all = Ctx { r, prefix: ctx.prefix.clone(), tag: ctx.tag.clone(), scope: "" };
            let mut op = all.op(
                "watch",
                "ListForAllNamespaces",
                "watchlist",
                format!(
                    "watch individual changes to a list of {}. deprecated: use the 'watch' parameter with a list operation instead.",
                    r.kind
                ),
                &[],
                ctx.gvk(),
            );
            op["responses"] = responses(&[("200", "OK")], WATCH_EVENT, WATCH_TYPES);
            out.insert(
                format!("{base}/watch/{}", r.plural),
                json!({ "get": op, "parameters": with_pretty(queries(LIST)) }),
            );
        }
    }
    if r.namespaced && has("list") {
        let all = Ctx { r, prefix: ctx.prefix.clone(), tag: ctx.tag.clone(), scope: "" };
        let mut op = all.op(
            "list",
            "ForAllNamespaces",
            "list",
            format!("list or watch objects of kind {}", r.kind),
            &[],
            ctx.gvk(),
        );
        op["responses"] = responses(&[("200", "OK")], &list_schema, WATCH_TYPES);
        let mut p = queries(LIST);
        p.push(params::query("pretty"));
        p.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        out.insert(format!("{base}/{}", r.plural), json!({ "get": op, "parameters": p }));
    }
}

fn body(schema: &str) -> Value {
    json!({ "content": { "*/*": { "schema": reference(schema) } }, "required": true })
}

fn replace(ctx: &Ctx, suffix: &str, description: String, schema: &str) -> Value {
    replace_gvk(ctx, suffix, description, schema, ctx.gvk())
}

fn replace_gvk(ctx: &Ctx, suffix: &str, description: String, schema: &str, gvk: Value) -> Value {
    let mut op = ctx.op("replace", suffix, "put", description, WRITE, gvk);
    op["requestBody"] = body(schema);
    op["responses"] = responses(&[("200", "OK"), ("201", "Created")], schema, OBJECT_TYPES);
    op
}

fn patch(ctx: &Ctx, suffix: &str, description: String, schema: &str) -> Value {
    patch_gvk(ctx, suffix, description, schema, ctx.gvk())
}

fn patch_gvk(ctx: &Ctx, suffix: &str, description: String, schema: &str, gvk: Value) -> Value {
    let mut op = ctx.op("patch", suffix, "patch", description, PATCH, gvk);
    let mut types = vec!["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];
    if ADVERTISE_STRATEGIC_MERGE {
        types.push("application/strategic-merge-patch+json");
    }
    op["requestBody"] = json!({ "content": content(&reference(PATCH_BODY), &types), "required": true });
    op["responses"] = responses(&[("200", "OK"), ("201", "Created")], schema, OBJECT_TYPES);
    op
}

/// Operations of a subresource; None for connect-style subresources (exec, attach, proxy, log, ...).
fn subresource(ctx: &Ctx, sub: &str, kind_schema: &str) -> Option<Map<String, Value>> {
    let kind = ctx.r.kind;
    let suffix = capitalize(sub);
    let mut ops = Map::new();
    let (get_put_patch, schema, gvk) = match sub {
        "status" | "ephemeralcontainers" | "resize" => (true, kind_schema.to_owned(), ctx.gvk()),
        "scale" => (
            true,
            "io.k8s.api.autoscaling.v1.Scale".to_owned(),
            json!({ "group": "autoscaling", "kind": "Scale", "version": "v1" }),
        ),
        "finalize" => {
            ops.insert(
                "put".into(),
                replace_gvk(ctx, &suffix, format!("replace finalize of the specified {kind}"), kind_schema, ctx.gvk()),
            );
            return Some(ops);
        }
        "binding" | "eviction" | "token" => {
            let (schema, gvk) = match sub {
                "binding" => ("io.k8s.api.core.v1.Binding", json!({ "group": "", "kind": "Binding", "version": "v1" })),
                "eviction" => {
                    ("io.k8s.api.policy.v1.Eviction", json!({ "group": "policy", "kind": "Eviction", "version": "v1" }))
                }
                _ => (
                    "io.k8s.api.authentication.v1.TokenRequest",
                    json!({ "group": "authentication.k8s.io", "kind": "TokenRequest", "version": "v1" }),
                ),
            };
            let name = if sub == "token" { "TokenRequest" } else { schema.rsplit('.').next().unwrap_or(sub) };
            let mut op = ctx.op("create", &suffix, "post", format!("create {name} of a {kind}"), WRITE, gvk);
            op["requestBody"] = body(schema);
            op["responses"] =
                responses(&[("200", "OK"), ("201", "Created"), ("202", "Accepted")], schema, OBJECT_TYPES);
            ops.insert("post".into(), op);
            return Some(ops);
        }
        _ => return None,
    };
    if get_put_patch {
        let what = if sub == "status" { "status".to_owned() } else { sub.to_owned() };
        let mut op = ctx.op("read", &suffix, "get", format!("read {what} of the specified {kind}"), &[], gvk.clone());
        op["responses"] = responses(&[("200", "OK")], &schema, OBJECT_TYPES);
        ops.insert("get".into(), op);
        ops.insert(
            "put".into(),
            replace_gvk(ctx, &suffix, format!("replace {what} of the specified {kind}"), &schema, gvk.clone()),
        );
        ops.insert(
            "patch".into(),
            patch_gvk(ctx, &suffix, format!("partially update {what} of the specified {kind}"), &schema, gvk),
        );
    }
    Some(ops)
}
