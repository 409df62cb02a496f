//! Services get cluster IPs and node ports from their ranges, as
//! kube-apiserver hands them out: dynamic or requested, never twice, given
//! back on delete and on type changes; and the `kubernetes` service exists.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_apiserver::services::ServiceNetwork;
use skiff_store::{Backend, MemoryBackend};

fn service(name: &str, spec: serde_json::Value) -> Service {
    let mut spec = spec;
    spec["ports"] = json!([{ "name": "http", "port": 80 }]);
    serde_json::from_value(json!({ "metadata": { "name": name }, "spec": spec })).expect("service")
}

fn message(result: Result<Service, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        other => panic!("expected a 422, got {other:?}"),
    }
}

fn cluster_ip(service: &Service) -> String {
    service.spec.as_ref().and_then(|s| s.cluster_ip.clone()).unwrap_or_default()
}

fn node_ports(service: &Service) -> Vec<i32> {
    let ports = service.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    ports.iter().filter_map(|p| p.node_port).collect()
}

#[tokio::test]
async fn cluster_ips_are_allocated_once_and_given_back() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    let kubernetes = services.get("kubernetes").await.expect("the kubernetes service");
    assert_eq!(cluster_ip(&kubernetes), "10.43.0.1");
    assert_eq!(kubernetes.spec.as_ref().and_then(|s| s.ports.as_ref()).map(|p| p[0].port), Some(443));

    let web = services.create(&pp, &service("web", json!({}))).await.expect("create");
    let ip: std::net::Ipv4Addr = cluster_ip(&web).parse().expect("an IPv4 cluster IP");
    assert_eq!(ip.octets()[..2], [10, 43], "{ip} is in 10.43.0.0/16");
    assert_ne!(ip.to_string(), "10.43.0.1");
    assert_eq!(web.spec.as_ref().and_then(|s| s.cluster_ips.clone()), Some(vec![ip.to_string()]));

    let fixed = services.create(&pp, &service("fixed", json!({ "clusterIP": "10.43.0.10" }))).await.expect("create");
    assert_eq!(cluster_ip(&fixed), "10.43.0.10");
    assert_eq!(
        message(services.create(&pp, &service("again", json!({ "clusterIP": "10.43.0.10" }))).await),
        "Service \"again\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.43.0.10\"}: failed to allocate IP 10.43.0.10: provided IP is already allocated"
    );
    assert_eq!(
        message(services.create(&pp, &service("outside", json!({ "clusterIP": "10.0.0.5" }))).await),
        "Service \"outside\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.43.0.0/16"
    );

    // A replace that leaves the IP out keeps it.
    let mut replaced = services.get("fixed").await.expect("get");
    if let Some(spec) = replaced.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    let replaced = services.replace("fixed", &pp, &replaced).await.expect("replace");
    assert_eq!(cluster_ip(&replaced), "10.43.0.10");

    // Deleted, its IP can be taken again.
    services.delete("fixed", &DeleteParams::default()).await.expect("delete");
    let again = services.create(&pp, &service("again", json!({ "clusterIP": "10.43.0.10" }))).await.expect("reuse");
    assert_eq!(cluster_ip(&again), "10.43.0.10");

    let headless = services.create(&pp, &service("headless", json!({ "clusterIP": "None" }))).await.expect("create");
    assert_eq!(cluster_ip(&headless), "None");
    let external = services
        .create(&pp, &service("ext", json!({ "type": "ExternalName", "externalName": "example.invalid" })))
        .await
        .expect("create");
    assert_eq!(cluster_ip(&external), "");
}

#[tokio::test]
async fn node_ports_follow_the_service_type() {
    let backend = Arc::new(MemoryBackend::new());
    let network = ServiceNetwork { node_ports: "30000-30009".parse().expect("range"), ..Default::default() };
    let client = ApiServer::start_with(backend, network).await.expect("start").client();
    let services: Api<Service> = Api::namespaced(client, "default");
    let pp = PostParams::default();

    let dynamic = services.create(&pp, &service("np", json!({ "type": "NodePort" }))).await.expect("create");
    let [port] = node_ports(&dynamic)[..] else { panic!("one node port: {dynamic:?}") };
    assert!((30000..=30009).contains(&port));

    let taken = service("np2", json!({ "type": "NodePort", "ports": [] }));
    let mut taken = serde_json::to_value(taken).expect("json");
    taken["spec"]["ports"][0]["nodePort"] = json!(port);
    let taken: Service = serde_json::from_value(taken).expect("service");
    assert_eq!(
        message(services.create(&pp, &taken).await),
        format!(
            "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
        )
    );

    // Back to ClusterIP: the node port is dropped and free again.
    let patch = json!({ "spec": { "type": "ClusterIP" } });
    let patched = services.patch("np", &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("patch");
    assert!(node_ports(&patched).is_empty(), "{patched:?}");
    let reused = services.create(&pp, &taken).await.expect("the port is free again");
    assert_eq!(node_ports(&reused), vec![port]);

    // ClusterIP to NodePort takes a port.
    let patch = json!({ "spec": { "type": "NodePort" } });
    let patched = services.patch("np", &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("patch");
    assert_eq!(node_ports(&patched).len(), 1);
    assert_ne!(node_ports(&patched), vec![port]);
}

#[tokio::test]
async fn allocations_are_checked_against_the_services_at_start() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let client = ApiServer::start(Arc::clone(&backend)).await.expect("start").client();
    let services: Api<Service> = Api::namespaced(client, "default");
    let pp = PostParams::default();
    services.create(&pp, &service("kept", json!({ "clusterIP": "10.43.0.20" }))).await.expect("create");
    // As after a crash: the service is stored but its IP is not recorded.
    let dropped = backend.delete("/registry/ipaddresses/10.43.0.20", None).await.expect("drop the record");
    assert!(matches!(dropped, skiff_store::Outcome::Applied(_)), "the IP was recorded");

    let client = ApiServer::start(Arc::clone(&backend)).await.expect("restart").client();
    let services: Api<Service> = Api::namespaced(client, "default");
    let refused = services.create(&pp, &service("other", json!({ "clusterIP": "10.43.0.20" }))).await;
    assert!(message(refused).contains("provided IP is already allocated"));
}
