//! Printers of the remaining kinds: policy, autoscaling, coordination, rbac, networking, storage,
//! scheduling, discovery, and the two default convertors.

use jiff::Timestamp;
use serde_json::Value;

use super::access::{as_int, boolean, get, int, list, name, object, opt_int, opt_str, string, time};
use super::core::load_balancer_ingress;
use super::duration::since;
use super::labels::format_label_selector;
use super::quantity::optional_quantity_string;

fn age(o: &Value, now: Timestamp) -> Value {
    since(time(o, &["metadata", "creationTimestamp"]), now).into()
}

/// IntOrString.String(), or "N/A" when unset.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(n) => as_int(n).map(|i| i.to_string()).unwrap_or_else(|| "N/A".into()),
        None => "N/A".into(),
    }
}

pub(super) fn pod_disruption_budget(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(o).into(),
        int_or_string(get(o, &["spec", "minAvailable"])).into(),
        int_or_string(get(o, &["spec", "maxUnavailable"])).into(),
        int(o, &["status", "disruptionsAllowed"]).into(),
        age(o, now),
    ]
}

/// One entry of formatHPAMetrics for the spec at index `i`.
fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    let status_part = |kind: &str| status.and_then(|s| get(s, &[kind]));
    let unknown = || "<unknown>".to_string();
    let quantity = |v: &Value, path: &[&str]| optional_quantity_string(get(v, path));
    match string(spec, &["type"]) {
        kind @ ("External" | "Object") => {
            let field = if kind == "External" { "external" } else { "object" };
            let target = get(spec, &[field, "target"]).unwrap_or(&Value::Null);
            if get(target, &["averageValue"]).is_some() {
                let current = status_part(field)
                    .filter(|s| get(s, &["current", "averageValue"]).is_some())
                    .map(|s| quantity(s, &["current", "averageValue"]))
                    .unwrap_or_else(unknown);
                format!("{current}/{} (avg)", quantity(target, &["averageValue"]))
            } else {
                let current = status_part(field).map(|s| quantity(s, &["current", "value"])).unwrap_or_else(unknown);
                format!("{current}/{}", quantity(target, &["value"]))
            }
        }
        "Pods" => {
            let current =
                status_part("pods").map(|s| quantity(s, &["current", "averageValue"])).unwrap_or_else(unknown);
            format!("{current}/{}", quantity(spec, &["pods", "target", "averageValue"]))
        }
        kind @ ("Resource" | "ContainerResource") => {
            let field = if kind == "Resource" { "resource" } else { "containerResource" };
            let resource = string(spec, &[field, "name"]);
            let target = get(spec, &[field, "target"]).unwrap_or(&Value::Null);
            if get(target, &["averageValue"]).is_some() {
                let current =
                    status_part(field).map(|s| quantity(s, &["current", "averageValue"])).unwrap_or_else(unknown);
                format!("{resource}: {current}/{}", quantity(target, &["averageValue"]))
            } else {
                let current = status_part(field)
                    .and_then(|s| opt_int(s, &["current", "averageUtilization"]))
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(unknown);
                let goal = opt_int(target, &["averageUtilization"]).map(|u| format!("{u}%")).unwrap_or("<auto>".into());
                format!("{resource}: {current}/{goal}")
            }
        }
        _ => "<unknown type>".into(),
    }
}

/// formatHPAMetrics: at most two targets, then "+ N more...".
fn hpa_metrics(o: &Value) -> String {
    let specs = list(o, &["spec", "metrics"]);
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = list(o, &["status", "currentMetrics"]);
    let all: Vec<String> = specs.iter().enumerate().map(|(i, spec)| hpa_metric(spec, statuses.get(i))).collect();
    const MAX: usize = 2;
    if all.len() > MAX {
        let shown = all.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
        return format!("{shown} + {} more...", all.len() - MAX);
    }
    all.join(", ")
}

pub(super) fn horizontal_pod_autoscaler(o: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        string(o, &["spec", "scaleTargetRef", "kind"]),
        string(o, &["spec", "scaleTargetRef", "name"])
    );
    // autoscaling/v2 defaults minReplicas to 1.
    let min_pods = opt_int(o, &["spec", "minReplicas"]).unwrap_or(1).to_string();
    vec![
        name(o).into(),
        reference.into(),
        hpa_metrics(o).into(),
        min_pods.into(),
        int(o, &["spec", "maxReplicas"]).into(),
        int(o, &["status", "currentReplicas"]).into(),
        age(o, now),
    ]
}

pub(super) fn lease(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(o).into(), string(o, &["spec", "holderIdentity"]).into(), age(o, now)]
}

/// rbac.SubjectsStrings, each list joined with ", ".
fn subjects(o: &Value) -> (String, String, String) {
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in list(o, &["subjects"]) {
        let subject_name = string(subject, &["name"]);
        match string(subject, &["kind"]) {
            "ServiceAccount" => service_accounts.push(format!("{}/{subject_name}", string(subject, &["namespace"]))),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    (users.join(", "), groups.join(", "), service_accounts.join(", "))
}

pub(super) fn role_binding(o: &Value, now: Timestamp) -> Vec<Value> {
    let role = format!("{}/{}", string(o, &["roleRef", "kind"]), string(o, &["roleRef", "name"]));
    let (users, groups, service_accounts) = subjects(o);
    vec![name(o).into(), role.into(), age(o, now), users.into(), groups.into(), service_accounts.into()]
}

pub(super) fn network_policy(o: &Value, now: Timestamp) -> Vec<Value> {
    // podSelector is a struct, never nil: an absent one formats like an empty one.
    let selector = get(o, &["spec", "podSelector"]).cloned().unwrap_or_else(|| Value::Object(Default::default()));
    vec![name(o).into(), format_label_selector(Some(&selector)).into(), age(o, now)]
}

/// formatHosts: up to three hosts, "*" when none, then "+ N more...".
fn ingress_hosts(o: &Value) -> String {
    let rules = list(o, &["spec", "rules"]);
    const MAX: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = string(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".into();
    }
    let joined = hosts.join(",");
    if more { format!("{joined} + {} more...", rules.len().saturating_sub(MAX)) } else { joined }
}

pub(super) fn ingress(o: &Value, now: Timestamp) -> Vec<Value> {
    let ports = if list(o, &["spec", "tls"]).is_empty() { "80" } else { "80, 443" };
    vec![
        name(o).into(),
        opt_str(o, &["spec", "ingressClassName"]).unwrap_or("<none>").into(),
        ingress_hosts(o).into(),
        load_balancer_ingress(o, &["status", "loadBalancer", "ingress"]).into(),
        ports.into(),
        age(o, now),
    ]
}

pub(super) fn ingress_class(o: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match get(o, &["spec", "parameters"]) {
        Some(p) => {
            let mut text = string(p, &["kind"]).to_string();
            if let Some(group) = opt_str(p, &["apiGroup"]) {
                text = format!("{text}.{group}");
            }
            format!("{text}/{}", string(p, &["name"]))
        }
        None => "<none>".into(),
    };
    vec![name(o).into(), string(o, &["spec", "controller"]).into(), parameters.into(), age(o, now)]
}

fn is_default_class(o: &Value) -> bool {
    let annotations = object(o, &["metadata", "annotations"]);
    ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
        .iter()
        .any(|key| annotations.and_then(|a| a.get(*key)).and_then(Value::as_str) == Some("true"))
}

pub(super) fn storage_class(o: &Value, now: Timestamp) -> Vec<Value> {
    let mut shown_name = name(o).to_string();
    if is_default_class(o) {
        shown_name.push_str(" (default)");
    }
    vec![
        shown_name.into(),
        string(o, &["provisioner"]).into(),
        opt_str(o, &["reclaimPolicy"]).unwrap_or("Delete").into(),
        opt_str(o, &["volumeBindingMode"]).unwrap_or("Immediate").into(),
        boolean(o, &["allowVolumeExpansion"]).into(),
        age(o, now),
    ]
}

pub(super) fn priority_class(o: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(o).into(),
        int(o, &["value"]).into(),
        boolean(o, &["globalDefault"]).into(),
        age(o, now),
        opt_str(o, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority").into(),
    ]
}

/// listWithMoreString: up to three entries, "<unset>" when none, then "+ N more...".
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items.iter().take(MAX).cloned().collect::<Vec<_>>().join(",");
    if items.len() > MAX { format!("{shown} + {} more...", items.len() - MAX) } else { shown }
}

pub(super) fn endpoint_slice(o: &Value, now: Timestamp) -> Vec<Value> {
    let ports = list(o, &["ports"])
        .iter()
        .map(|p| match (opt_int(p, &["port"]), opt_str(p, &["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(port_name)) => port_name.to_string(),
            (None, None) => "*".into(),
        })
        .collect();
    let addresses = list(o, &["endpoints"])
        .iter()
        .flat_map(|e| list(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    vec![
        name(o).into(),
        string(o, &["addressType"]).into(),
        list_with_more(ports).into(),
        list_with_more(addresses).into(),
        age(o, now),
    ]
}

/// rest.DefaultTableConvertor: the name and the creation time in RFC 3339 (Go's zero time when unset).
pub(super) fn default_row(o: &Value, _now: Timestamp) -> Vec<Value> {
    let created = match time(o, &["metadata", "creationTimestamp"]) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".into(),
    };
    vec![name(o).into(), created.into()]
}

/// The custom resource convertor without additionalPrinterColumns: the name and the age, `null` without
/// a creation timestamp.
pub(super) fn custom_resource_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let created = match get(o, &["metadata", "creationTimestamp"]) {
        None => Value::Null,
        Some(Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(t) => super::access::parse_time(s).map_or("<unknown>".to_string(), |_| since(Some(t), now)).into(),
            Err(_) => "<invalid>".into(),
        },
        Some(_) => Value::Null,
    };
    vec![name(o).into(), created]
}
