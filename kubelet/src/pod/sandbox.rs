//! The pod's CRI sandbox: its config (metadata, hostname, DNS, ports,
//! labels and annotations, cgroup parent, namespaces, sysctls) and the
//! pod-level cgroup the kubelet removes when the pod is gone.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use super::dns::{ClusterDns, DnsWarning, pod_dns_config, pod_hostname};
use super::{resources, security};
use crate::config::KubeletConfig;
use crate::runtime::{api, labels};

/// The cgroup parent of the pod with `uid` (cgroupfs driver): `<cgroup_root>/pod<uid>`.
pub fn cgroup_parent(config: &KubeletConfig, uid: &str) -> String {
    format!("{}/pod{uid}", config.cgroup_root.trim_end_matches('/'))
}

/// The CRI labels every sandbox and container of the pod carries.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    HashMap::from([
        (labels::POD_NAME.to_owned(), pod.metadata.name.clone().unwrap_or_default()),
        (labels::POD_NAMESPACE.to_owned(), pod.metadata.namespace.clone().unwrap_or_default()),
        (labels::POD_UID.to_owned(), pod.metadata.uid.clone().unwrap_or_default()),
    ])
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false)
}

/// The sandbox config of `pod`'s sandbox number `attempt`, and the DNS warnings to record as events.
pub fn sandbox_config(
    pod: &Pod,
    attempt: u32,
    config: &KubeletConfig,
    host_resolv: &str,
) -> (api::PodSandboxConfig, Vec<DnsWarning>) {
    let meta = &pod.metadata;
    let (name, namespace, uid) = (
        meta.name.clone().unwrap_or_default(),
        meta.namespace.clone().unwrap_or_default(),
        meta.uid.clone().unwrap_or_default(),
    );
    let spec = pod.spec.clone().unwrap_or_default();
    let mut warnings = Vec::new();
    let hostname = if host_network(pod) {
        String::new()
    } else {
        match pod_hostname(pod, &config.cluster_domain) {
            Ok(hostname) => hostname.kernel_hostname,
            Err(error) => {
                warnings.push(DnsWarning { reason: "DNSConfigForming", message: error.to_string() });
                name.chars().take(63).collect()
            }
        }
    };
    let dns = pod_dns_config(pod, &ClusterDns::of(config), host_resolv);
    warnings.extend(dns.warnings);
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| api::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => api::Protocol::Udp,
                Some("SCTP") => api::Protocol::Sctp,
                _ => api::Protocol::Tcp,
            } as i32,
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or(0),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let mut sandbox_labels: HashMap<String, String> = meta.labels.clone().unwrap_or_default().into_iter().collect();
    sandbox_labels.extend(pod_labels(pod));
    let mut security_context = security::sandbox_security_context(pod);
    security_context.namespace_options = Some(security::namespace_options(pod));
    let node = resources::NodeResources::detect();
    let (pod_resources, overhead) = resources::sandbox_resources(pod, &node);
    let sandbox = api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt,
        }),
        hostname,
        log_directory: config.pod_log_dir(&namespace, &name, &uid).display().to_string(),
        dns_config: Some(dns.config),
        port_mappings,
        labels: sandbox_labels,
        annotations: meta.annotations.clone().unwrap_or_default().into_iter().collect(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(config, &uid),
            security_context: Some(security_context),
            sysctls: security::sysctls(pod),
            overhead,
            resources: Some(pod_resources),
        }),
        windows: None,
    };
    (sandbox, warnings)
}

/// Removes the pod's cgroup (and any leftover children) from every cgroup hierarchy; best effort.
pub fn remove_pod_cgroup(config: &KubeletConfig, uid: &str) {
    let relative = cgroup_parent(config, uid);
    let relative = relative.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        hierarchies.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for hierarchy in hierarchies {
        let dir = hierarchy.join(relative);
        if dir.is_dir() {
            remove_cgroup_tree(&dir);
        }
    }
}

/// cgroup directories can only be removed with rmdir, children first.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    if let Err(error) = std::fs::remove_dir(dir) {
        tracing::debug!(%error, dir = %dir.display(), "removing a pod cgroup failed");
    }
}
