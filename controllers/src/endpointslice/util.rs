//! What the Endpoints and EndpointSlice controllers share (upstream's
//! k8s.io/endpointslice/util): which pods are endpoints of a service, the
//! ports they serve, which services select a pod, and the time of the change
//! that triggered an update (the last-change-trigger-time annotation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

/// The annotation with the time of the change that triggered an update.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label on the Endpoints and EndpointSlices of a headless service.
pub const HEADLESS_SERVICE: &str = "service.kubernetes.io/headless";

/// Whether a pod belongs in a service's Endpoints or EndpointSlices: not
/// finished, has an IP, and (unless `include_terminating`) is not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(crate::pods::phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    let status = pod.status.as_ref();
    let has_ip = status.and_then(|s| s.pod_ip.as_deref()).is_some_and(|ip| !ip.is_empty())
        || status.and_then(|s| s.pod_ips.as_ref()).is_some_and(|ips| !ips.is_empty());
    if !has_ip {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Whether the endpoint of `pod` carries its hostname: the pod names one and
/// its subdomain is the service (in the same namespace).
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.hostname.as_deref()).is_some_and(|h| !h.is_empty())
        && spec.and_then(|s| s.subdomain.as_deref()) == service.metadata.name.as_deref()
        && pod.metadata.namespace == service.metadata.namespace
}

/// The protocol of a port, `TCP` when unset.
pub fn protocol(protocol: Option<&String>) -> &str {
    protocol.map_or("TCP", String::as_str)
}

/// The container port a service port targets on `pod`: a number as is, a
/// name looked up in the containers' (and restartable init containers')
/// named ports of the same protocol; `None` when the pod has no such port.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let wanted = protocol(port.protocol.as_ref());
            let sidecars =
                spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()) && protocol(p.protocol.as_ref()) == wanted)
                .map(|p| p.container_port)
        }
    }
}

/// Whether the service has a cluster IP (is not headless).
pub fn is_service_ip_set(service: &Service) -> bool {
    let ip = service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()).unwrap_or_default();
    !ip.is_empty() && ip != "None"
}

/// Whether the service's selector selects these labels (a service without
/// a selector selects nothing, an empty one everything).
pub fn selects(service: &Service, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return false };
    selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

/// The pods of the service's namespace its selector selects.
pub fn selected_pods(service: &Service, pods: &Store<Pod>) -> Vec<Arc<Pod>> {
    let namespace = service.namespace();
    pods.state_filter(|pod| pod.metadata.namespace == namespace && selects(service, pod.labels()))
}

/// The services (in the store) whose selectors select the pod.
pub fn services_selecting(pod: &Pod, services: &Store<Service>) -> Vec<ObjectRef<Service>> {
    let namespace = pod.namespace();
    services
        .state_filter(|svc| svc.metadata.namespace == namespace && selects(svc, pod.labels()))
        .iter()
        .map(|svc| ObjectRef::from_obj(svc.as_ref()))
        .collect()
}

/// Whether this is the `kubernetes` service in `default`, whose endpoints the API server keeps.
pub fn is_api_server_service(service: &Service) -> bool {
    service.metadata.namespace.as_deref() == Some("default") && service.metadata.name.as_deref() == Some("kubernetes")
}

/// Whether the controllers keep endpoints for the service: it has a selector,
/// is not ExternalName, and is not the API server's own.
pub fn wants_endpoints(service: &Service) -> bool {
    let spec = service.spec.as_ref();
    !is_api_server_service(service)
        && spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName")
        && spec.and_then(|s| s.selector.as_ref()).is_some()
}

/// The pod's key in a [`Membership`] (`namespace/name`).
pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// Which pods each service selected at its last sync, so that a pod whose
/// labels stopped matching a service still leads back to it.
#[derive(Debug, Default)]
pub struct Membership {
    index: Mutex<MembershipIndex>,
}

/// Services by pod, and pods by service.
type MembershipIndex = (HashMap<String, HashSet<ObjectRef<Service>>>, HashMap<ObjectRef<Service>, HashSet<String>>);

impl Membership {
    /// Records the pods (keys) a service selects now.
    pub fn set(&self, service: &ObjectRef<Service>, pods: HashSet<String>) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let (by_pod, by_service) = &mut *index;
        for old in by_service.get(service).into_iter().flatten().filter(|p| !pods.contains(*p)) {
            if let Some(services) = by_pod.get_mut(old) {
                services.remove(service);
                if services.is_empty() {
                    by_pod.remove(old);
                }
            }
        }
        for pod in &pods {
            by_pod.entry(pod.clone()).or_default().insert(service.clone());
        }
        if pods.is_empty() {
            by_service.remove(service);
        } else {
            by_service.insert(service.clone(), pods);
        }
    }

    /// The services that selected the pod at their last sync.
    pub fn services_of(&self, pod: &str) -> Vec<ObjectRef<Service>> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.0.get(pod).into_iter().flatten().cloned().collect()
    }

    /// Forgets a deleted service.
    pub fn forget(&self, service: &ObjectRef<Service>) {
        self.set(service, HashSet::new());
    }
}

/// The annotation's form of a time (Go's RFC3339Nano in UTC).
pub fn format_trigger_time(at: Timestamp) -> String {
    at.to_string()
}

/// Computes the last-change-trigger-time of a service's endpoints
/// (upstream's TriggerTimeTracker): the earliest change among the pods'
/// Ready transitions and the service's creation since the last sync.
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    states: Mutex<HashMap<(String, String), ServiceState>>,
}

#[derive(Debug, Default, Clone)]
struct ServiceState {
    last_service_trigger: Option<Timestamp>,
    last_pod_triggers: HashMap<String, Timestamp>,
}

impl TriggerTimeTracker {
    /// The trigger time to export for this sync (`None`: none, clear the annotation).
    pub fn compute(&self, service: &Service, pods: &[Arc<Pod>]) -> Option<Timestamp> {
        let key = (service.namespace().unwrap_or_default(), service.name_any());
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let known = states.get(&key).cloned();
        let state = known.clone().unwrap_or_default();
        let mut earliest: Option<Timestamp> = None;
        let mut pod_triggers = HashMap::new();
        for pod in pods {
            let Some(at) = crate::pods::condition(pod, "Ready").and_then(|c| c.last_transition_time.as_ref()) else {
                continue;
            };
            let at = at.0;
            pod_triggers.insert(pod.name_any(), at);
            if state.last_pod_triggers.get(&pod.name_any()).is_none_or(|last| at > *last) {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
        let created = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if let Some(at) = created
            && state.last_service_trigger.is_none_or(|last| at > last)
        {
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        states.insert(key, ServiceState { last_service_trigger: created, last_pod_triggers: pod_triggers });
        match known {
            None => created,
            Some(_) => earliest,
        }
    }

    /// Forgets a deleted service.
    pub fn delete_service(&self, namespace: &str, name: &str) {
        self.states.lock().unwrap_or_else(|p| p.into_inner()).remove(&(namespace.to_owned(), name.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a pod")
    }

    fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).expect("a service")
    }

    #[test]
    fn finished_unaddressed_and_terminating_pods_are_left_out() {
        let running = pod(json!({ "status": { "phase": "Running", "podIP": "10.0.0.1" } }));
        assert!(should_pod_be_in_endpoints(&running, false));
        let no_ip = pod(json!({ "status": { "phase": "Running" } }));
        assert!(!should_pod_be_in_endpoints(&no_ip, true));
        let only_ips = pod(json!({ "status": { "phase": "Pending", "podIPs": [{ "ip": "10.0.0.2" }] } }));
        assert!(should_pod_be_in_endpoints(&only_ips, false));
        let done = pod(json!({ "status": { "phase": "Succeeded", "podIP": "10.0.0.1" } }));
        assert!(!should_pod_be_in_endpoints(&done, true));
        let failed = pod(json!({ "status": { "phase": "Failed", "podIP": "10.0.0.1" } }));
        assert!(!should_pod_be_in_endpoints(&failed, true));
        let terminating = pod(json!({ "metadata": { "deletionTimestamp": "2026-01-01T00:00:00Z" },
                                       "status": { "phase": "Running", "podIP": "10.0.0.1" } }));
        assert!(!should_pod_be_in_endpoints(&terminating, false));
        assert!(should_pod_be_in_endpoints(&terminating, true));
    }

    #[test]
    fn named_target_ports_resolve_by_name_and_protocol_in_containers_and_sidecars() {
        let p = pod(json!({ "spec": {
            "containers": [{ "name": "a", "ports": [
                { "name": "http", "containerPort": 8080 },
                { "name": "dns", "containerPort": 5353, "protocol": "UDP" }] }],
            "initContainers": [
                { "name": "once", "ports": [{ "name": "metrics", "containerPort": 9000 }] },
                { "name": "side", "restartPolicy": "Always", "ports": [{ "name": "admin", "containerPort": 9901 }] }] } }));
        let port = |v: serde_json::Value| -> ServicePort { serde_json::from_value(v).expect("a port") };
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": "http" }))), Some(8080));
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": "http", "protocol": "UDP" }))), None);
        assert_eq!(find_port(&p, &port(json!({ "port": 53, "targetPort": "dns", "protocol": "UDP" }))), Some(5353));
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": 81 }))), Some(81));
        assert_eq!(find_port(&p, &port(json!({ "port": 80 }))), Some(80));
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": "admin" }))), Some(9901));
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": "metrics" }))), None);
        assert_eq!(find_port(&p, &port(json!({ "port": 80, "targetPort": "missing" }))), None);
    }

    #[test]
    fn hostnames_are_set_for_pods_whose_subdomain_is_the_service() {
        let svc = service(json!({ "metadata": { "name": "db", "namespace": "ns" } }));
        let p = |host: &str, sub: &str, ns: &str| {
            pod(
                json!({ "metadata": { "namespace": ns }, "spec": { "containers": [], "hostname": host, "subdomain": sub } }),
            )
        };
        assert!(should_set_hostname(&p("db-0", "db", "ns"), &svc));
        assert!(!should_set_hostname(&p("", "db", "ns"), &svc));
        assert!(!should_set_hostname(&p("db-0", "other", "ns"), &svc));
        assert!(!should_set_hostname(&p("db-0", "db", "elsewhere"), &svc));
    }

    #[test]
    fn a_service_without_selector_selects_nothing_and_an_empty_one_everything() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        assert!(!selects(&service(json!({ "spec": {} })), &labels));
        assert!(selects(&service(json!({ "spec": { "selector": {} } })), &labels));
        assert!(selects(&service(json!({ "spec": { "selector": { "app": "web" } } })), &labels));
        assert!(!selects(&service(json!({ "spec": { "selector": { "app": "db" } } })), &labels));
    }

    #[test]
    fn membership_remembers_which_services_selected_a_pod() {
        let membership = Membership::default();
        let (web, db) = (ObjectRef::<Service>::new("web").within("ns"), ObjectRef::<Service>::new("db").within("ns"));
        let keys = |names: &[&str]| names.iter().map(|n| format!("ns/{n}")).collect::<HashSet<_>>();
        membership.set(&web, keys(&["a", "b"]));
        membership.set(&db, keys(&["b"]));
        assert_eq!(membership.services_of("ns/a"), vec![web.clone()]);
        assert_eq!(membership.services_of("ns/b").len(), 2);
        membership.set(&web, keys(&["b"]));
        assert!(membership.services_of("ns/a").is_empty());
        membership.forget(&db);
        assert_eq!(membership.services_of("ns/b"), vec![web]);
    }

    #[test]
    fn the_trigger_time_is_the_creation_first_then_the_earliest_new_change() {
        let tracker = TriggerTimeTracker::default();
        let svc = service(json!({ "metadata": { "name": "s", "namespace": "n",
                                                "creationTimestamp": "2026-01-01T00:00:00Z" } }));
        let ready = |name: &str, at: &str| {
            Arc::new(pod(json!({ "metadata": { "name": name }, "status": { "conditions": [
                { "type": "Ready", "status": "True", "lastTransitionTime": at }] } })))
        };
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        let a = ready("a", "2026-01-01T00:00:05Z");
        assert_eq!(tracker.compute(&svc, std::slice::from_ref(&a)), Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(tracker.compute(&svc, std::slice::from_ref(&a)), None, "nothing changed");
        let b = ready("b", "2026-01-01T00:00:09Z");
        let a2 = ready("a", "2026-01-01T00:00:07Z");
        assert_eq!(tracker.compute(&svc, &[a2, b]), Some(at("2026-01-01T00:00:07Z")));
        tracker.delete_service("n", "s");
        assert_eq!(tracker.compute(&svc, &[]), Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(format_trigger_time(at("2026-01-01T00:00:07Z")), "2026-01-01T00:00:07Z");
        assert_eq!(format_trigger_time(at("2026-01-01T00:00:07.5Z")), "2026-01-01T00:00:07.5Z");
    }
}
