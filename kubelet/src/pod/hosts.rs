//! The /etc/hosts file the kubelet writes for each pod and mounts into its
//! containers (upstream's managed hosts file): localhost entries, the pod's
//! IPs with its hostname (and FQDN), and spec.hostAliases. Host-network pods
//! get the node's hosts file with the aliases appended.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{HostAlias, Pod};

/// The file name under the pod's directory (upstream's `etc-hosts`).
pub const HOSTS_FILE_NAME: &str = "etc-hosts";
/// Where the node's own hosts file is read from.
pub const NODE_HOSTS_FILE: &str = "/etc/hosts";

/// The managed hosts file of a pod with its own network namespace.
pub fn managed_hosts_file(pod_ips: &[String], hostname: &str, domain: Option<&str>, aliases: &[HostAlias]) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match domain.filter(|d| !d.is_empty()) {
            Some(domain) => out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&alias_entries(aliases));
    out
}

/// The hosts file of a host-network pod: the node's hosts file (its contents given) and the aliases.
pub fn host_network_hosts_file(node_hosts: &str, aliases: &[HostAlias]) -> String {
    format!("# Kubernetes-managed hosts file (host network).\n{node_hosts}{}", alias_entries(aliases))
}

/// The hosts file for `pod`: managed, or for host-network pods the node's (read from /etc/hosts).
pub fn pod_hosts_file(pod: &Pod, pod_ips: &[String], hostname: &super::dns::PodHostname) -> std::io::Result<String> {
    let spec = pod.spec.as_ref();
    let aliases = spec.and_then(|s| s.host_aliases.as_deref()).unwrap_or_default();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        let node_hosts = std::fs::read_to_string(NODE_HOSTS_FILE)?;
        return Ok(host_network_hosts_file(&node_hosts, aliases));
    }
    Ok(managed_hosts_file(pod_ips, &hostname.hostname, hostname.domain.as_deref(), aliases))
}

/// Writes `content` to `<pod_dir>/etc-hosts` (mode 0644) and returns the path to mount at /etc/hosts.
pub fn write_hosts_file(pod_dir: &Path, content: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(pod_dir)?;
    let path = pod_dir.join(HOSTS_FILE_NAME);
    std::fs::write(&path, content)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    Ok(path)
}

fn alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        let names = alias.hostnames.as_deref().unwrap_or_default().join("\t");
        out.push_str(&format!("{}\t{names}\n", alias.ip));
    }
    out
}

#[cfg(test)]
#[path = "tests_hosts.rs"]
mod tests;
