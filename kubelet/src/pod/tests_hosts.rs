use k8s_openapi::api::core::v1::HostAlias;

use super::*;

fn aliases() -> Vec<HostAlias> {
    vec![HostAlias { ip: "10.1.2.3".into(), hostnames: Some(vec!["foo.local".into(), "bar.local".into()]) }]
}

const LOCALHOST: &str = "# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
";

#[test]
fn the_managed_hosts_file_names_the_pod_by_its_ips() {
    let cases = [
        (vec!["10.42.0.5"], None, vec![], "10.42.0.5\tweb\n"),
        (
            vec!["10.42.0.5", "fd00::5"],
            Some("sub.shop.svc.cluster.local"),
            vec![],
            "10.42.0.5\tweb.sub.shop.svc.cluster.local\tweb\nfd00::5\tweb.sub.shop.svc.cluster.local\tweb\n",
        ),
        (
            vec!["10.42.0.5"],
            None,
            aliases(),
            "10.42.0.5\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n",
        ),
    ];
    for (ips, domain, aliases, tail) in cases {
        let ips: Vec<String> = ips.into_iter().map(String::from).collect();
        assert_eq!(managed_hosts_file(&ips, "web", domain, &aliases), format!("{LOCALHOST}{tail}"));
    }
}

#[test]
fn host_network_pods_get_the_nodes_hosts_file_and_their_aliases() {
    assert_eq!(
        host_network_hosts_file("127.0.0.1 localhost\n", &aliases()),
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"
    );
}

#[test]
fn the_hosts_file_is_written_under_the_pod_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_hosts_file(&dir.path().join("pod"), "x\n").unwrap();
    assert_eq!(path, dir.path().join("pod").join("etc-hosts"));
    assert_eq!(std::fs::read_to_string(path).unwrap(), "x\n");
}
