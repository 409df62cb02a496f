use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::*;

const HOST_RESOLV: &str = "# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example. lab.example .\noptions ndots:2 timeout:1\noptions edns0\n";

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1"}, "spec": spec}))
        .unwrap()
}

fn cluster() -> ClusterDns {
    ClusterDns { servers: vec!["10.43.0.10".parse().unwrap()], domain: "cluster.local".into() }
}

fn dns(spec: serde_json::Value, cluster: &ClusterDns) -> PodDns {
    pod_dns_config(&pod(spec), cluster, HOST_RESOLV)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn resolv_conf_parses_as_upstream() {
    let parsed = parse_resolv_conf(HOST_RESOLV);
    assert_eq!(parsed.servers, strings(&["192.168.1.1", "192.168.1.2"]));
    assert_eq!(parsed.searches, strings(&["corp.example", "lab.example"]));
    assert_eq!(parsed.options, strings(&["edns0", "ndots:2", "timeout:1"]));
    assert_eq!(parse_resolv_conf("search a\nsearch b\n").searches, strings(&["b"]));
}

#[test]
fn dns_policies_choose_cluster_or_host_settings() {
    let cluster_config = api::DnsConfig {
        servers: strings(&["10.43.0.10"]),
        searches: strings(&[
            "shop.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
            "corp.example",
            "lab.example",
        ]),
        options: strings(&["ndots:5"]),
    };
    let host_config = parse_resolv_conf(HOST_RESOLV);
    let cases = [
        (json!({}), cluster_config.clone()),
        (json!({"dnsPolicy": "ClusterFirst"}), cluster_config.clone()),
        (json!({"dnsPolicy": "ClusterFirst", "hostNetwork": true}), host_config.clone()),
        (json!({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}), cluster_config.clone()),
        (json!({"dnsPolicy": "Default"}), host_config.clone()),
        (json!({"dnsPolicy": "None"}), api::DnsConfig::default()),
    ];
    for (mut spec, want) in cases {
        spec["containers"] = json!([]);
        let got = dns(spec.clone(), &cluster());
        assert_eq!(got.config, want, "{spec}");
        assert!(got.warnings.is_empty(), "{spec}");
    }
}

#[test]
fn cluster_first_without_cluster_dns_falls_back_to_default_with_a_warning() {
    let got = dns(json!({"containers": []}), &ClusterDns { servers: vec![], domain: "cluster.local".into() });
    assert_eq!(got.config, parse_resolv_conf(HOST_RESOLV));
    assert_eq!(
        got.warnings,
        [DnsWarning {
            reason: "MissingClusterDNS",
            message: "pod: \"web_shop(u-1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.".into(),
        }]
    );
}

#[test]
fn the_pods_dns_config_is_merged_in() {
    let got = dns(
        json!({"dnsPolicy": "None", "containers": [], "dnsConfig": {
            "nameservers": ["1.1.1.1", "1.1.1.1"], "searches": ["a.example"],
            "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}}),
        &cluster(),
    );
    assert_eq!(got.config.servers, strings(&["1.1.1.1"]));
    assert_eq!(got.config.searches, strings(&["a.example"]));
    assert_eq!(got.config.options, strings(&["ndots:1", "single-request"]));

    let merged = dns(
        json!({"containers": [], "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]}}),
        &cluster(),
    );
    assert_eq!(merged.config.servers, strings(&["10.43.0.10", "1.1.1.1"]));
    assert_eq!(merged.config.options, strings(&["ndots:2"]));
}

#[test]
fn limits_drop_extra_nameservers_and_search_domains_with_warnings() {
    let searches: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
    let got = dns(
        json!({"dnsPolicy": "None", "containers": [], "dnsConfig": {
            "nameservers": ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4"], "searches": searches}}),
        &cluster(),
    );
    assert_eq!(got.config.servers.len(), MAX_NAMESERVERS);
    assert_eq!(got.config.searches.len(), MAX_SEARCH_PATHS);
    let reasons: Vec<_> = got.warnings.iter().map(|w| w.reason).collect();
    assert_eq!(reasons, ["DNSConfigForming", "DNSConfigForming"]);
    assert_eq!(
        got.warnings[0].message,
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.0.0.1 1.0.0.2 1.0.0.3"
    );
    assert!(got.warnings[1].message.starts_with("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: d0.example d1.example"));
}

#[test]
fn hostnames_come_from_the_spec_or_the_pod_name() {
    let cases = [
        (json!({}), "web", None, "web"),
        (json!({"hostname": "db-0"}), "db-0", None, "db-0"),
        (json!({"hostname": "db-0", "subdomain": "db"}), "db-0", Some("db.shop.svc.cluster.local"), "db-0"),
        (
            json!({"hostname": "db-0", "subdomain": "db", "setHostnameAsFQDN": true}),
            "db-0",
            Some("db.shop.svc.cluster.local"),
            "db-0.db.shop.svc.cluster.local",
        ),
    ];
    for (mut spec, hostname, domain, kernel) in cases {
        spec["containers"] = json!([]);
        let got = pod_hostname(&pod(spec.clone()), "cluster.local").unwrap();
        assert_eq!(
            (got.hostname.as_str(), got.domain.as_deref(), got.kernel_hostname.as_str()),
            (hostname, domain, kernel),
            "{spec}"
        );
    }
}

#[test]
fn long_pod_names_are_truncated_to_63_characters_without_a_trailing_dash() {
    let mut long = pod(json!({"containers": []}));
    long.metadata.name = Some("a".repeat(62) + "-b");
    assert_eq!(pod_hostname(&long, "cluster.local").unwrap().hostname, "a".repeat(62));
    let invalid = pod(json!({"hostname": "Not_A_Label", "containers": []}));
    assert_eq!(
        pod_hostname(&invalid, "cluster.local").unwrap_err().to_string(),
        "pod Hostname \"Not_A_Label\" is not a valid DNS label: a lowercase RFC 1123 label must consist of lower case \
         alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
         '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    );
}

#[test]
fn an_fqdn_longer_than_the_kernel_takes_is_an_error() {
    let spec = json!({"hostname": "x".repeat(40), "subdomain": "sub", "setHostnameAsFQDN": true, "containers": []});
    let err = pod_hostname(&pod(spec), "cluster.local").unwrap_err().to_string();
    assert!(err.starts_with("failed to construct FQDN from pod hostname and cluster domain, FQDN "), "{err}");
    assert!(err.ends_with("is too long (64 characters is the max, 67 characters requested)"), "{err}");
}

#[test]
fn a_loopback_only_resolv_conf_gives_way_to_systemd_resolveds() {
    let stub = "nameserver 127.0.0.53\noptions edns0\n".to_string();
    let real = "nameserver 192.168.1.1\n".to_string();
    let cases = [
        (HOST_RESOLV.to_string(), Some(real.clone()), HOST_RESOLV.to_string()),
        (stub.clone(), Some(real.clone()), real.clone()),
        (stub.clone(), None, stub.clone()),
        (stub.clone(), Some(stub.clone()), stub.clone()),
        (String::new(), Some(real.clone()), String::new()),
    ];
    for (etc, systemd, want) in cases {
        assert_eq!(choose_resolv_conf(etc.clone(), systemd.clone()), want, "{etc:?} {systemd:?}");
    }
}
