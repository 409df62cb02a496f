use serde_json::json;

use super::*;

fn service(spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({ "metadata": { "name": "web", "namespace": "ns" }, "spec": spec })).expect("service")
}

fn pod(name: &str, ip: &str, ready: bool) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": "ns", "uid": format!("uid-{name}") },
            "spec": { "nodeName": "node-1", "containers": [{ "name": "c", "ports": [
                { "name": "http", "containerPort": 8080 }, { "name": "metrics", "containerPort": 9090 }] }] },
            "status": { "phase": "Running", "podIP": ip, "podIPs": [{ "ip": ip }],
                        "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }] },
        }))
        .expect("pod"),
    )
}

fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
    list.iter().flatten().map(|a| a.ip.as_str()).collect()
}

fn port_names(subset: &EndpointSubset) -> Vec<&str> {
    let mut names: Vec<&str> = subset.ports.iter().flatten().filter_map(|p| p.name.as_deref()).collect();
    names.sort_unstable();
    names
}

#[test]
fn ready_and_not_ready_pods_share_one_subset_with_every_named_port() {
    let svc = service(json!({ "clusterIP": "10.43.0.1", "ports": [
        { "name": "web", "port": 80, "targetPort": "http", "protocol": "TCP" },
        { "name": "prom", "port": 9090, "targetPort": "metrics", "protocol": "TCP" }] }));
    let subsets =
        build(&svc, &[pod("b", "10.42.0.2", true), pod("a", "10.42.0.1", true), pod("c", "10.42.0.3", false)]);
    let [subset] = subsets.as_slice() else { panic!("one subset: {subsets:?}") };
    assert_eq!(ips(&subset.addresses), vec!["10.42.0.1", "10.42.0.2"]);
    assert_eq!(ips(&subset.not_ready_addresses), vec!["10.42.0.3"]);
    assert_eq!(port_names(subset), vec!["prom", "web"]);
    let web = subset.ports.iter().flatten().find(|p| p.name.as_deref() == Some("web")).expect("web");
    assert_eq!((web.port, web.protocol.as_deref()), (8080, Some("TCP")));
    let address = &subset.addresses.as_ref().expect("addresses")[0];
    assert_eq!(address.node_name.as_deref(), Some("node-1"));
    let target = address.target_ref.as_ref().expect("targetRef");
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref(), target.uid.as_deref()),
        (Some("Pod"), Some("a"), Some("uid-a"))
    );
}

#[test]
fn pods_missing_a_named_port_get_a_subset_of_their_own() {
    let svc = service(json!({ "clusterIP": "10.43.0.1", "ports": [
        { "name": "web", "port": 80, "targetPort": "http" }, { "name": "admin", "port": 81, "targetPort": "admin" }] }));
    let mut admin = pod("b", "10.42.0.2", true).as_ref().clone();
    admin.spec.as_mut().expect("spec").containers[0].ports.as_mut().expect("ports")[1].name = Some("admin".to_owned());
    let subsets = build(&svc, &[pod("a", "10.42.0.1", true), Arc::new(admin)]);
    assert_eq!(subsets.len(), 2, "{subsets:?}");
    let both = subsets.iter().find(|s| port_names(s) == vec!["web"]).expect("the web subset");
    assert_eq!(ips(&both.addresses), vec!["10.42.0.1", "10.42.0.2"]);
    let only = subsets.iter().find(|s| port_names(s) == vec!["admin"]).expect("the admin subset");
    assert_eq!(ips(&only.addresses), vec!["10.42.0.2"]);
}

#[test]
fn terminating_pods_are_left_out_unless_not_ready_addresses_are_published() {
    let mut terminating = pod("a", "10.42.0.1", true).as_ref().clone();
    terminating.metadata.deletion_timestamp = Some(crate::clock::api_time(jiff::Timestamp::UNIX_EPOCH));
    let pods = [Arc::new(terminating), pod("b", "10.42.0.2", false)];
    let ports = json!([{ "port": 80, "targetPort": 8080 }]);
    let plain = build(&service(json!({ "clusterIP": "10.43.0.1", "ports": ports })), &pods);
    assert_eq!(ips(&plain[0].addresses), Vec::<&str>::new());
    assert_eq!(ips(&plain[0].not_ready_addresses), vec!["10.42.0.2"]);
    let published =
        build(&service(json!({ "clusterIP": "10.43.0.1", "ports": ports, "publishNotReadyAddresses": true })), &pods);
    assert_eq!(ips(&published[0].addresses), vec!["10.42.0.1", "10.42.0.2"]);
    assert!(published[0].not_ready_addresses.is_none());
}

#[test]
fn headless_services_without_ports_list_addresses_with_hostnames() {
    let mut named = pod("a", "10.42.0.1", true).as_ref().clone();
    let spec = named.spec.as_mut().expect("spec");
    spec.hostname = Some("a".to_owned());
    spec.subdomain = Some("web".to_owned());
    let headless = build(&service(json!({ "clusterIP": "None" })), &[Arc::new(named)]);
    let [subset] = headless.as_slice() else { panic!("one subset: {headless:?}") };
    assert!(subset.ports.is_none());
    assert_eq!(subset.addresses.as_ref().expect("addresses")[0].hostname.as_deref(), Some("a"));
    assert!(build(&service(json!({ "clusterIP": "10.43.0.1" })), &[pod("a", "10.42.0.1", true)]).is_empty());
}

#[test]
fn an_address_not_ready_on_one_port_is_not_ready_on_it() {
    let port = |name: &str| EndpointPort { name: Some(name.to_owned()), port: 80, ..EndpointPort::default() };
    let address = |ip: &str| EndpointAddress { ip: ip.to_owned(), ..EndpointAddress::default() };
    let packed = repack(vec![
        EndpointSubset {
            addresses: Some(vec![address("1.1.1.1")]),
            ports: Some(vec![port("a")]),
            ..Default::default()
        },
        EndpointSubset {
            not_ready_addresses: Some(vec![address("1.1.1.1")]),
            ports: Some(vec![port("a")]),
            ..Default::default()
        },
    ]);
    assert_eq!(packed.len(), 1);
    assert!(packed[0].addresses.is_none());
    assert_eq!(ips(&packed[0].not_ready_addresses), vec!["1.1.1.1"]);
}

#[test]
fn truncation_keeps_capacity_preferring_ready_addresses_in_proportion() {
    let addresses = |prefix: u8, n: usize| {
        Some(
            (0..n)
                .map(|i| EndpointAddress { ip: format!("10.{prefix}.{}.{}", i / 256, i % 256), ..Default::default() })
                .collect(),
        )
    };
    let mut subsets = vec![
        EndpointSubset { addresses: addresses(1, 600), not_ready_addresses: addresses(2, 200), ports: None },
        EndpointSubset { addresses: addresses(3, 300), not_ready_addresses: addresses(4, 200), ports: None },
    ];
    assert!(truncate(&mut subsets));
    assert_eq!(count(&subsets), MAX_CAPACITY);
    assert_eq!(subsets[0].addresses.as_ref().map(Vec::len), Some(600));
    assert_eq!(subsets[0].not_ready_addresses.as_ref().map(Vec::len), Some(50));
    assert_eq!(subsets[1].not_ready_addresses.as_ref().map(Vec::len), Some(50));
    let mut all_ready = vec![
        EndpointSubset { addresses: addresses(1, 900), not_ready_addresses: addresses(2, 10), ports: None },
        EndpointSubset { addresses: addresses(3, 300), ports: None, ..Default::default() },
    ];
    assert!(truncate(&mut all_ready));
    assert_eq!(all_ready[0].addresses.as_ref().map(Vec::len), Some(750));
    assert_eq!(all_ready[1].addresses.as_ref().map(Vec::len), Some(250));
    assert!(all_ready[0].not_ready_addresses.is_none());
    let mut small = vec![EndpointSubset { addresses: addresses(1, 10), ..Default::default() }];
    assert!(!truncate(&mut small));
    let annotated = BTreeMap::from([(OVER_CAPACITY.to_owned(), "truncated".to_owned())]);
    assert!(!capacity_annotation_correct(&annotated, &small));
    assert!(capacity_annotation_correct(&BTreeMap::new(), &small));
    assert!(!capacity_annotation_correct(&BTreeMap::new(), &subsets_over()));
}

fn subsets_over() -> Vec<EndpointSubset> {
    let address = |i: usize| EndpointAddress { ip: format!("10.0.{}.{}", i / 256, i % 256), ..Default::default() };
    vec![EndpointSubset { addresses: Some((0..=MAX_CAPACITY).map(address).collect()), ..Default::default() }]
}
