//! The sandbox's DNS configuration and hostname, as upstream's kubelet
//! derives them (`pkg/kubelet/network/dns`, `GeneratePodHostNameAndDomain`):
//! dnsPolicy ClusterFirst (cluster DNS, falling back to Default when the
//! kubelet has none), ClusterFirstWithHostNet, Default (the host's
//! resolv.conf), None, then the pod's dnsConfig merged and libc's limits applied.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::api;

/// The most nameservers libc uses.
pub const MAX_NAMESERVERS: usize = 3;
/// The most search domains the kubelet passes.
pub const MAX_SEARCH_PATHS: usize = 32;
/// The longest search line the kubelet passes.
pub const MAX_SEARCH_LINE_CHARS: usize = 2048;
/// The longest search domain (a DNS-1123 subdomain); longer ones make some libcs abort.
const MAX_SEARCH_DOMAIN_CHARS: usize = 253;
/// The longest hostname (the kernel's nodename holds 64 bytes with the terminator).
const MAX_HOSTNAME_CHARS: usize = 63;
/// The longest FQDN a hostname may be set to with setHostnameAsFQDN.
const MAX_FQDN_CHARS: usize = 64;
/// Where the host's resolver configuration is read from (`--resolv-conf`).
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Why a pod's hostname cannot be set (messages as upstream's kubelet).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// spec.hostname is not a DNS label (the name, what is wrong with it).
    #[error("pod Hostname {0:?} is not a valid DNS label: {1}")]
    InvalidHostname(String, String),
    /// spec.subdomain is not a DNS label (the name, what is wrong with it).
    #[error("pod Subdomain {0:?} is not a valid DNS label: {1}")]
    InvalidSubdomain(String, String),
    /// The hostname is empty after truncation.
    #[error("hostname for pod {pod:?} was invalid: {hostname:?}")]
    TruncatedHostnameEmpty { pod: String, hostname: String },
    /// setHostnameAsFQDN with an FQDN longer than the kernel takes.
    #[error(
        "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({MAX_FQDN_CHARS} characters is the max, {} characters requested)", fqdn.len()
    )]
    FqdnTooLong { fqdn: String },
}

/// A warning upstream records as an event while forming the DNS config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsWarning {
    /// The event reason (`MissingClusterDNS`, `DNSConfigForming`).
    pub reason: &'static str,
    /// The event message (for the pod).
    pub message: String,
}

/// The pod's DNS configuration and the warnings to record as events on the pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodDns {
    pub config: api::DnsConfig,
    pub warnings: Vec<DnsWarning>,
}

/// The cluster facts DNS depends on (from `KubeletConfig`).
#[derive(Debug, Clone, Default)]
pub struct ClusterDns {
    /// The cluster DNS servers (`--cluster-dns`); empty: none.
    pub servers: Vec<IpAddr>,
    /// The cluster domain (`cluster.local`); empty: no cluster search domains.
    pub domain: String,
}

impl ClusterDns {
    /// The cluster DNS settings of a kubelet.
    pub fn of(config: &crate::KubeletConfig) -> Self {
        Self { servers: config.cluster_dns.clone(), domain: config.cluster_domain.clone() }
    }
}

/// The resolv.conf systemd-resolved writes with the real upstream servers.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// The host's resolv.conf contents (empty when it cannot be read, as a host without one); see
/// [`choose_resolv_conf`].
pub fn host_resolv_conf() -> String {
    let etc = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let systemd = std::fs::read_to_string(SYSTEMD_RESOLV_CONF).ok();
    choose_resolv_conf(etc, systemd)
}

/// `/etc/resolv.conf`, unless it names only loopback servers (a local stub such as
/// systemd-resolved's 127.0.0.53, which pods cannot reach) and systemd-resolved's own file names
/// real ones: then that file, as k3s picks for its kubelet's `--resolv-conf`.
pub fn choose_resolv_conf(etc: String, systemd: Option<String>) -> String {
    let only_loopback = |text: &str| {
        let servers = parse_resolv_conf(text).servers;
        !servers.is_empty() && servers.iter().all(|s| s.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
    };
    match systemd {
        Some(systemd)
            if only_loopback(&etc) && !parse_resolv_conf(&systemd).servers.is_empty() && !only_loopback(&systemd) =>
        {
            systemd
        }
        _ => etc,
    }
}

/// Parses resolv.conf: nameservers accumulate, the last `search` line wins (trailing dots
/// dropped, `.` ignored), options merge by name.
pub fn parse_resolv_conf(text: &str) -> api::DnsConfig {
    let mut config = api::DnsConfig::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => config.servers.extend(fields.next().map(str::to_owned)),
            Some("search") => {
                config.searches =
                    fields.filter(|s| *s != ".").map(|s| s.strip_suffix('.').unwrap_or(s).to_owned()).collect();
            }
            Some("options") => config.options = merge_options(&config.options, fields.map(split_option)),
            _ => {}
        }
    }
    config
}

/// The sandbox's DNS config for the pod's dnsPolicy and dnsConfig. `host_resolv` is the host's
/// resolv.conf contents.
pub fn pod_dns_config(pod: &Pod, cluster: &ClusterDns, host_resolv: &str) -> PodDns {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let mut warnings = Vec::new();
    let mut config = parse_resolv_conf(host_resolv);
    let cluster_first = match policy {
        "None" => {
            config = api::DnsConfig::default();
            false
        }
        "Default" => false,
        "ClusterFirst" => !host_network,
        // ClusterFirstWithHostNet, and anything else (which the API server rejects).
        _ => true,
    };
    if cluster_first {
        if cluster.servers.is_empty() {
            let message = format!(
                "pod: {:?}. kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
                super::security::format_pod(pod)
            );
            warnings.push(DnsWarning { reason: "MissingClusterDNS", message });
        } else {
            config.servers = cluster.servers.iter().map(IpAddr::to_string).collect();
            if !cluster.domain.is_empty() {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
                let domain = &cluster.domain;
                let mut searches = vec![format!("{namespace}.svc.{domain}"), format!("svc.{domain}"), domain.clone()];
                searches.append(&mut config.searches);
                config.searches = without_duplicates(searches);
            }
            config.options = vec!["ndots:5".into()];
        }
    }
    if let Some(pod_config) = spec.and_then(|s| s.dns_config.as_ref()) {
        config.servers.extend(pod_config.nameservers.iter().flatten().cloned());
        config.servers = without_duplicates(std::mem::take(&mut config.servers));
        config.searches.extend(pod_config.searches.iter().flatten().cloned());
        config.searches = without_duplicates(std::mem::take(&mut config.searches));
        let options = pod_config.options.iter().flatten().filter_map(|o| Some((o.name.clone()?, o.value.clone())));
        config.options = merge_options(&config.options, options);
    }
    fit_limits(&mut config, &mut warnings);
    PodDns { config, warnings }
}

fn fit_limits(config: &mut api::DnsConfig, warnings: &mut Vec<DnsWarning>) {
    if config.servers.len() > MAX_NAMESERVERS {
        config.servers.truncate(MAX_NAMESERVERS);
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                config.servers.join(" ")
            ),
        });
    }
    let mut exceeded = false;
    if config.searches.len() > MAX_SEARCH_PATHS {
        config.searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = config.searches.len();
    config.searches.retain(|search| search.len() <= MAX_SEARCH_DOMAIN_CHARS);
    exceeded |= config.searches.len() != before;
    let line_len =
        |searches: &[String]| searches.iter().map(String::len).sum::<usize>() + searches.len().saturating_sub(1);
    while line_len(&config.searches) > MAX_SEARCH_LINE_CHARS {
        config.searches.pop();
        exceeded = true;
    }
    if exceeded {
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                config.searches.join(" ")
            ),
        });
    }
}

fn split_option(option: &str) -> (String, Option<String>) {
    match option.split_once(':') {
        Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
        None => (option.to_owned(), None),
    }
}

/// Options by name, later ones replacing earlier ones, as `name` or `name:value` (sorted by name:
/// upstream's order is a Go map's, i.e. none).
fn merge_options(existing: &[String], more: impl IntoIterator<Item = (String, Option<String>)>) -> Vec<String> {
    let mut options: BTreeMap<String, Option<String>> = existing.iter().map(|o| split_option(o)).collect();
    options.extend(more);
    options
        .into_iter()
        .map(|(name, value)| match value.filter(|v| !v.is_empty()) {
            Some(value) => format!("{name}:{value}"),
            None => name,
        })
        .collect()
}

fn without_duplicates(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|item| seen.insert(item.clone())).collect()
}

/// The pod's hostname, DNS domain and the name its sandbox's kernel hostname is set to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodHostname {
    /// spec.hostname or the pod's name, at most 63 characters.
    pub hostname: String,
    /// `<subdomain>.<namespace>.svc.<cluster-domain>` when spec.subdomain is set.
    pub domain: Option<String>,
    /// The sandbox's hostname: the FQDN with setHostnameAsFQDN and a domain, else `hostname`.
    pub kernel_hostname: String,
}

/// The pod's hostname and domain (upstream's `GeneratePodHostNameAndDomain` and
/// `GetNodenameForKernel`). Host-network pods keep the node's hostname (the caller leaves the
/// sandbox hostname empty for them).
pub fn pod_hostname(pod: &Pod, cluster_domain: &str) -> Result<PodHostname, DnsError> {
    let spec = pod.spec.as_ref();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let mut hostname = pod_name.clone();
    if let Some(requested) = spec.and_then(|s| s.hostname.as_deref()).filter(|h| !h.is_empty()) {
        if let Some(problems) = dns_label_problems(requested) {
            return Err(DnsError::InvalidHostname(requested.to_owned(), problems));
        }
        hostname = requested.to_owned();
    }
    if hostname.len() > MAX_HOSTNAME_CHARS {
        let original = hostname.clone();
        hostname.truncate(MAX_HOSTNAME_CHARS);
        let trimmed = hostname.trim_end_matches(['-', '.']).to_owned();
        tracing::warn!(pod = %pod_name, truncated = %trimmed, "Hostname for pod was too long, truncated it");
        if trimmed.is_empty() {
            return Err(DnsError::TruncatedHostnameEmpty { pod: pod_name, hostname: original });
        }
        hostname = trimmed;
    }
    let mut domain = None;
    if let Some(subdomain) = spec.and_then(|s| s.subdomain.as_deref()).filter(|s| !s.is_empty()) {
        if let Some(problems) = dns_label_problems(subdomain) {
            return Err(DnsError::InvalidSubdomain(subdomain.to_owned(), problems));
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        domain = Some(format!("{subdomain}.{namespace}.svc.{cluster_domain}"));
    }
    let mut kernel_hostname = hostname.clone();
    if let (Some(domain), Some(true)) = (&domain, spec.and_then(|s| s.set_hostname_as_fqdn)) {
        let fqdn = format!("{hostname}.{domain}");
        if fqdn.len() > MAX_FQDN_CHARS {
            return Err(DnsError::FqdnTooLong { fqdn });
        }
        kernel_hostname = fqdn;
    }
    Ok(PodHostname { hostname, domain, kernel_hostname })
}

/// What makes `text` not a DNS-1123 label, in upstream's words (`IsDNS1123Label`), `;`-joined.
fn dns_label_problems(text: &str) -> Option<String> {
    let mut problems = Vec::new();
    if text.len() > 63 {
        problems.push("must be no more than 63 characters".to_owned());
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let well_formed = !text.is_empty()
        && text.chars().all(|c| alnum(c) || c == '-')
        && text.starts_with(alnum)
        && text.ends_with(alnum);
    if !well_formed {
        problems.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and \
             end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    (!problems.is_empty()).then(|| problems.join(";"))
}

#[cfg(test)]
#[path = "tests_dns.rs"]
mod tests;
