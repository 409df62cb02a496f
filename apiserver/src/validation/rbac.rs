//! Roles, ClusterRoles and their bindings (pkg/apis/rbac/validation).

use serde_json::Value;

use super::access::Errs;
use super::field::{FieldError, Path};
use super::gofmt;
use super::meta;
use super::names::{self, NameRule};

const GROUP: &str = "rbac.authorization.k8s.io";

/// ValidateRole / ValidateClusterRole (after ValidateObjectMeta).
pub fn role(errs: &mut Errs, object: &Value, namespaced: bool) {
    for (r_path, rule) in errs.items(object, "rules", &Path::new("")) {
        policy_rule(errs, rule, &r_path, namespaced);
    }
    if namespaced {
        return;
    }
    let Some(aggregation) = errs.obj(object, "aggregationRule", &Path::new("")) else { return };
    let path = Path::new("aggregationRule");
    let selectors = errs.items(aggregation, "clusterRoleSelectors", &path);
    if selectors.is_empty() {
        errs.push(FieldError::required(
            "aggregationRule.clusterRoleSelectors",
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
    for (s_path, selector) in selectors {
        if !meta::validate_label_selector(errs, selector, &s_path) {
            errs.push(FieldError::invalid_rendered(
                s_path.as_str(),
                gofmt::label_selector(selector),
                "invalid label selector.",
            ));
        }
    }
}

/// ValidatePolicyRule.
fn policy_rule(errs: &mut Errs, rule: &Value, path: &Path, namespaced: bool) {
    if errs.strings(rule, "verbs", path).is_empty() {
        errs.push(FieldError::required(path.child("verbs").as_str(), "verbs must contain at least one value"));
    }
    let urls = errs.strings(rule, "nonResourceURLs", path);
    let groups = errs.strings(rule, "apiGroups", path);
    let resources = errs.strings(rule, "resources", path);
    let resource_names = errs.strings(rule, "resourceNames", path);
    if !urls.is_empty() {
        let list: Vec<Value> = urls.iter().map(|u| Value::from(*u)).collect();
        let field = path.child("nonResourceURLs");
        if namespaced {
            let detail = "namespaced rules cannot apply to non-resource URLs";
            errs.push(FieldError::invalid(field.as_str(), list.clone(), detail));
        }
        if !groups.is_empty() || !resources.is_empty() || !resource_names.is_empty() {
            let detail = "rules cannot apply to both regular resources and non-resource URLs";
            errs.push(FieldError::invalid(field.as_str(), list, detail));
        }
        return;
    }
    if groups.is_empty() {
        let detail = "resource rules must supply at least one api group";
        errs.push(FieldError::required(path.child("apiGroups").as_str(), detail));
    }
    if resources.is_empty() {
        let detail = "resource rules must supply at least one resource";
        errs.push(FieldError::required(path.child("resources").as_str(), detail));
    }
}

/// ValidateRoleBinding / ValidateClusterRoleBinding (after ValidateObjectMeta).
pub fn binding(errs: &mut Errs, object: &Value, namespaced: bool) {
    let root = Path::new("");
    let role_ref = errs.obj(object, "roleRef", &root).unwrap_or(&Value::Null);
    let ref_path = Path::new("roleRef");
    let api_group = errs.string(role_ref, "apiGroup", &ref_path);
    if api_group != GROUP {
        errs.push(FieldError::not_supported("roleRef.apiGroup", api_group, &[GROUP]));
    }
    let kind = errs.string(role_ref, "kind", &ref_path);
    if namespaced && !matches!(kind, "Role" | "ClusterRole") {
        errs.push(FieldError::not_supported("roleRef.kind", kind, &["Role", "ClusterRole"]));
    } else if !namespaced && kind != "ClusterRole" {
        errs.push(FieldError::not_supported("roleRef.kind", kind, &["ClusterRole"]));
    }
    let name = errs.string(role_ref, "name", &ref_path);
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        errs.invalid_each(&ref_path.child("name"), name, NameRule::PathSegment.check(name, false));
    }
    for (s_path, subject) in errs.items(object, "subjects", &root) {
        let name = errs.string(subject, "name", &s_path);
        if name.is_empty() {
            errs.push(FieldError::required(s_path.child("name").as_str(), ""));
        }
        let api_group = errs.string(subject, "apiGroup", &s_path);
        match errs.string(subject, "kind", &s_path) {
            "ServiceAccount" => {
                if !name.is_empty() {
                    errs.invalid_each(&s_path.child("name"), name, names::dns1123_subdomain(name));
                }
                if !api_group.is_empty() {
                    errs.push(FieldError::not_supported(s_path.child("apiGroup").as_str(), api_group, &[""]));
                }
                if !namespaced && errs.string(subject, "namespace", &s_path).is_empty() {
                    errs.push(FieldError::required(s_path.child("namespace").as_str(), ""));
                }
            }
            "User" | "Group" => {
                if api_group != GROUP {
                    errs.push(FieldError::not_supported(s_path.child("apiGroup").as_str(), api_group, &[GROUP]));
                }
            }
            other => errs.push(FieldError::not_supported(
                s_path.child("kind").as_str(),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

/// ValidateRoleBindingUpdate: roleRef may not change.
pub fn binding_update(errs: &mut Errs, new: &Value, old: &Value) {
    let role_ref = new.get("roleRef").unwrap_or(&Value::Null);
    let fields =
        |r: &Value| ["apiGroup", "kind", "name"].map(|k| r.get(k).and_then(Value::as_str).unwrap_or("").to_string());
    if fields(role_ref) != fields(old.get("roleRef").unwrap_or(&Value::Null)) {
        let rendered = format!(
            "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
            gofmt::str_field(role_ref, "apiGroup"),
            gofmt::str_field(role_ref, "kind"),
            gofmt::str_field(role_ref, "name")
        );
        errs.push(FieldError::invalid_rendered("roleRef", rendered, "cannot change roleRef"));
    }
}
