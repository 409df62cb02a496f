//! Service link variables (`<SVC>_SERVICE_HOST`, `<SVC>_PORT_<n>_TCP_ADDR`, ...), as upstream's
//! `getServiceEnvVarMap` and `envvars.FromServices` make them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// The Services every pod gets variables for, from the `default` namespace.
const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// The service link variables for a pod in `namespace`: the master services of `default`
/// always, the Services of `namespace` when `enable_links`. Headless Services get none.
pub fn service_env(namespace: &str, enable_links: bool, services: &[Service]) -> BTreeMap<String, String> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in services {
        if cluster_ip(service).is_none() {
            continue;
        }
        let name = service.metadata.name.as_deref().unwrap_or_default();
        let service_namespace = service.metadata.namespace.as_deref().unwrap_or_default();
        if service_namespace == "default" && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(service);
        } else if service_namespace == namespace && enable_links {
            chosen.insert(name, service);
        }
    }
    let mut vars = BTreeMap::new();
    for service in chosen.values() {
        add_service_vars(service, &mut vars);
    }
    vars
}

fn cluster_ip(service: &Service) -> Option<&str> {
    let ip = service.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

fn env_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

fn add_service_vars(service: &Service, vars: &mut BTreeMap<String, String>) {
    let Some(ip) = cluster_ip(service) else { return };
    let prefix = env_name(service.metadata.name.as_deref().unwrap_or_default());
    let ports = service.spec.as_ref().and_then(|spec| spec.ports.as_deref()).unwrap_or_default();
    vars.insert(format!("{prefix}_SERVICE_HOST"), ip.to_owned());
    let Some(first) = ports.first() else { return };
    vars.insert(format!("{prefix}_SERVICE_PORT"), first.port.to_string());
    for port in ports {
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            vars.insert(format!("{prefix}_SERVICE_PORT_{}", env_name(name)), port.port.to_string());
        }
    }
    let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_owned() };
    for (index, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().filter(|p| !p.is_empty()).unwrap_or("TCP");
        let lower = protocol.to_lowercase();
        let url = format!("{lower}://{host}:{}", port.port);
        if index == 0 {
            vars.insert(format!("{prefix}_PORT"), url.clone());
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", port.port, protocol.to_uppercase());
        vars.insert(format!("{port_prefix}_PROTO"), lower);
        vars.insert(format!("{port_prefix}_PORT"), port.port.to_string());
        vars.insert(format!("{port_prefix}_ADDR"), ip.to_owned());
        vars.insert(port_prefix, url);
    }
}

/// The cluster's Services kept by a watch (upstream's service lister), so that building an
/// environment needs no LIST. Cloning shares the cache; the watch stops with the last clone.
#[derive(Debug, Clone)]
pub struct ServiceCache {
    store: Store<Service>,
    _task: std::sync::Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ServiceCache {
    /// Starts watching every Service through `client`.
    pub fn start(client: kube::Client) -> Self {
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(writer, watcher(Api::<Service>::all(client), watcher::Config::default()))
            .default_backoff()
            .touched_objects();
        let task = tokio::spawn(stream.for_each(|_| std::future::ready(())));
        Self { store, _task: std::sync::Arc::new(AbortOnDrop(task)) }
    }

    /// The Services a pod in `namespace` gets variables from (that namespace's when `enable_links`,
    /// and `default`'s), once the first list arrived within `wait`; `None` when it did not.
    pub async fn services_for(&self, namespace: &str, enable_links: bool, wait: Duration) -> Option<Vec<Service>> {
        tokio::time::timeout(wait, self.store.wait_until_ready()).await.ok()?.ok()?;
        let wanted = |service: &Service| {
            let ns = service.metadata.namespace.as_deref().unwrap_or_default();
            ns == "default" || (enable_links && ns == namespace)
        };
        Some(self.store.state().iter().filter(|s| wanted(s)).map(|s| Service::clone(s)).collect())
    }
}
