use serde_json::json;

use super::*;

const CONTROLLER: &str = "endpointslice-controller.k8s.io";

fn service() -> Service {
    serde_json::from_value(json!({
        "metadata": { "name": "web", "namespace": "ns", "uid": "svc-uid", "labels": { "tier": "front" } },
        "spec": { "selector": { "app": "web" }, "clusterIP": "10.43.0.10", "ipFamilies": ["IPv4"],
                  "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }] },
    }))
    .expect("a service")
}

fn pod(name: &str, ip: &str, ready: bool) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": { "app": "web" } },
            "spec": { "nodeName": "node-1",
                      "containers": [{ "name": "c", "ports": [{ "name": "http", "containerPort": 8080 }] }] },
            "status": { "phase": "Running", "podIP": ip, "podIPs": [{ "ip": ip }],
                        "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }] },
        }))
        .expect("a pod"),
    )
}

fn node(name: &str) -> Option<Arc<Node>> {
    (name == "node-1").then(|| {
        Arc::new(
            serde_json::from_value(json!({ "metadata": { "name": name,
                "labels": { "topology.kubernetes.io/zone": "zone-a" } } }))
            .expect("a node"),
        )
    })
}

fn inputs(max: usize) -> Inputs<'static> {
    Inputs { controller_name: CONTROLLER, max_endpoints_per_slice: max, node: &node }
}

/// The slices as the API server would store them after the plan (created ones named `web-N`).
fn apply(existing: &[Arc<EndpointSlice>], plan: Plan) -> Vec<Arc<EndpointSlice>> {
    let mut slices: BTreeMap<String, EndpointSlice> =
        existing.iter().map(|s| (s.name_any(), s.as_ref().clone())).collect();
    for slice in plan.delete {
        slices.remove(&slice.name_any());
    }
    for slice in plan.update {
        slices.insert(slice.name_any(), slice);
    }
    for (n, mut slice) in plan.create.into_iter().enumerate() {
        let name = format!("web-{}{n}", slices.len());
        slice.metadata.name = Some(name.clone());
        slices.insert(name, slice);
    }
    slices.into_values().map(Arc::new).collect()
}

fn condition(endpoint: &Endpoint) -> (Option<bool>, Option<bool>, Option<bool>) {
    let c = endpoint.conditions.clone().unwrap_or_default();
    (c.ready, c.serving, c.terminating)
}

#[test]
fn a_service_gets_one_slice_with_its_ready_and_not_ready_pods_and_named_ports() {
    let pods = [pod("a", "10.42.0.1", true), pod("b", "10.42.0.2", false)];
    let plan = plan(&service(), &pods, &[], &inputs(100));
    assert!(plan.update.is_empty() && plan.delete.is_empty() && plan.errors.is_empty());
    let [slice] = plan.create.as_slice() else { panic!("one slice: {:?}", plan.create) };
    assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(slice.labels().get(LABEL_SERVICE_NAME).map(String::as_str), Some("web"));
    assert_eq!(slice.labels().get(LABEL_MANAGED_BY).map(String::as_str), Some(CONTROLLER));
    assert_eq!(slice.labels().get("tier").map(String::as_str), Some("front"));
    assert!(!slice.labels().contains_key(HEADLESS_SERVICE));
    assert_eq!(slice.owner_references()[0].uid, "svc-uid");
    let port = &ports_of(slice)[0];
    assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), Some(8080), Some("TCP")));
    let by_pod: BTreeMap<_, _> = slice
        .endpoints
        .iter()
        .map(|e| (e.target_ref.as_ref().and_then(|t| t.name.clone()).unwrap_or_default(), e))
        .collect();
    assert_eq!(condition(by_pod["a"]), (Some(true), Some(true), Some(false)));
    assert_eq!(condition(by_pod["b"]), (Some(false), Some(false), Some(false)));
    assert_eq!(by_pod["a"].zone.as_deref(), Some("zone-a"));
    assert_eq!(by_pod["a"].node_name.as_deref(), Some("node-1"));
    assert_eq!(by_pod["a"].addresses, vec!["10.42.0.1".to_owned()]);
}

#[test]
fn slices_hold_at_most_the_maximum_and_a_steady_state_writes_nothing() {
    let pods: Vec<_> = (0..5).map(|i| pod(&format!("p{i}"), &format!("10.42.0.{i}"), true)).collect();
    let first = plan(&service(), &pods, &[], &inputs(2));
    assert_eq!(first.create.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
    let stored = apply(&[], first);
    let again = plan(&service(), &pods, &stored, &inputs(2));
    assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty(), "{again:?}");
}

#[test]
fn a_pod_that_goes_away_or_changes_readiness_updates_its_slice_in_place() {
    let pods = [pod("a", "10.42.0.1", true), pod("b", "10.42.0.2", true)];
    let stored = apply(&[], plan(&service(), &pods, &[], &inputs(100)));
    let changed = plan(&service(), &[pod("a", "10.42.0.1", false)], &stored, &inputs(100));
    assert!(changed.create.is_empty() && changed.delete.is_empty());
    let [slice] = changed.update.as_slice() else { panic!("one update: {changed:?}") };
    assert_eq!(slice.name_any(), stored[0].name_any());
    assert_eq!(slice.endpoints.len(), 1);
    assert_eq!(condition(&slice.endpoints[0]), (Some(false), Some(false), Some(false)));
}

#[test]
fn a_service_without_endpoints_gets_one_placeholder_slice() {
    let first = plan(&service(), &[], &[], &inputs(100));
    let [placeholder] = first.create.as_slice() else { panic!("a placeholder: {first:?}") };
    assert!(placeholder.endpoints.is_empty() && ports_of(placeholder).is_empty());
    let stored = apply(&[], first);
    let again = plan(&service(), &[], &stored, &inputs(100));
    assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty(), "{again:?}");
    // When the last pod goes, its slice is turned into the placeholder rather than deleted and recreated.
    let with_pod = apply(&[], plan(&service(), &[pod("a", "10.42.0.1", true)], &[], &inputs(100)));
    let emptied = plan(&service(), &[], &with_pod, &inputs(100));
    assert!(emptied.create.is_empty() && emptied.delete.is_empty());
    assert_eq!(emptied.update.len(), 1);
    assert!(emptied.update[0].endpoints.is_empty() && ports_of(&emptied.update[0]).is_empty());
    assert_eq!(emptied.update[0].name_any(), with_pod[0].name_any());
}

#[test]
fn terminating_pods_are_serving_but_not_ready_unless_not_ready_addresses_are_published() {
    let mut terminating = pod("a", "10.42.0.1", true).as_ref().clone();
    terminating.metadata.deletion_timestamp = Some(crate::clock::api_time(jiff::Timestamp::UNIX_EPOCH));
    let terminating = Arc::new(terminating);
    let planned = plan(&service(), std::slice::from_ref(&terminating), &[], &inputs(100));
    assert_eq!(condition(&planned.create[0].endpoints[0]), (Some(false), Some(true), Some(true)));
    let mut publishing = service();
    if let Some(spec) = publishing.spec.as_mut() {
        spec.publish_not_ready_addresses = Some(true);
    }
    let planned = plan(&publishing, &[terminating], &[], &inputs(100));
    assert_eq!(condition(&planned.create[0].endpoints[0]), (Some(true), Some(true), Some(true)));
}

#[test]
fn slices_of_another_owner_are_deleted_and_pods_on_unknown_nodes_are_retried() {
    let mut foreign =
        apply(&[], plan(&service(), &[pod("a", "10.42.0.1", true)], &[], &inputs(100)))[0].as_ref().clone();
    foreign.metadata.owner_references.as_mut().expect("owners")[0].uid = "old-uid".to_owned();
    let mut elsewhere = pod("b", "10.42.0.2", true).as_ref().clone();
    elsewhere.spec.as_mut().expect("spec").node_name = Some("gone".to_owned());
    let planned = plan(&service(), &[Arc::new(elsewhere)], &[Arc::new(foreign.clone())], &inputs(100));
    assert_eq!(planned.delete.iter().map(|s| s.name_any()).collect::<Vec<_>>(), vec![foreign.name_any()]);
    assert_eq!(planned.create.len(), 1, "a placeholder, not an update of the foreign slice");
    assert_eq!(planned.errors, vec!["skipping Pod b for Service ns/web: Node gone Not Found".to_owned()]);
}

#[test]
fn headless_services_label_their_slices_and_pods_without_the_named_port_get_a_slice_of_their_own() {
    let mut headless = service();
    if let Some(spec) = headless.spec.as_mut() {
        spec.cluster_ip = Some("None".to_owned());
    }
    let mut portless = pod("b", "10.42.0.2", true).as_ref().clone();
    portless.spec.as_mut().expect("spec").containers[0].ports = None;
    let planned = plan(&headless, &[pod("a", "10.42.0.1", true), Arc::new(portless)], &[], &inputs(100));
    assert_eq!(planned.create.len(), 2);
    assert!(planned.create.iter().all(|s| s.labels().contains_key(HEADLESS_SERVICE)));
    assert!(planned.create.iter().any(|s| ports_of(s).is_empty() && s.endpoints.len() == 1));
}

#[test]
fn address_types_follow_the_ip_families_or_the_cluster_ip() {
    let svc = |spec: serde_json::Value| -> Service { serde_json::from_value(json!({ "spec": spec })).expect("svc") };
    assert_eq!(address_types(&svc(json!({ "ipFamilies": ["IPv6", "IPv4"] }))), BTreeSet::from(["IPv4", "IPv6"]));
    assert_eq!(address_types(&svc(json!({ "clusterIP": "fd00::1" }))), BTreeSet::from(["IPv6"]));
    assert_eq!(address_types(&svc(json!({ "clusterIP": "10.0.0.1" }))), BTreeSet::from(["IPv4"]));
    assert_eq!(address_types(&svc(json!({ "clusterIP": "None" }))), BTreeSet::from(["IPv4", "IPv6"]));
}

#[test]
fn the_slice_closest_to_full_is_filled_first() {
    let slice = |n: usize| EndpointSlice { endpoints: vec![Endpoint::default(); n], ..EndpointSlice::default() };
    let slices = [slice(3), slice(7), slice(9)];
    assert_eq!(closest_to_full(&slices, 2, 10), Some(1));
    assert_eq!(closest_to_full(&slices, 1, 10), Some(2));
    assert_eq!(closest_to_full(&slices, 8, 10), None);
}
