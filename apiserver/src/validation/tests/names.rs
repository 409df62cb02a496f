use super::super::validate_name;

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

#[test]
fn names_are_checked_with_each_kinds_rule() {
    let long = "a".repeat(254);
    let cases: Vec<(&str, &str, &str, Vec<String>)> = vec![
        ("", "ConfigMap", "web.config", vec![]),
        ("", "ConfigMap", "Bad_Name", vec![SUBDOMAIN.to_string()]),
        ("", "ConfigMap", &long, vec!["must be no more than 253 characters".to_string()]),
        ("apps", "Deployment", "-web", vec![SUBDOMAIN.to_string()]),
        ("", "Namespace", "team.a", vec!["must not contain dots".to_string()]),
        ("", "Namespace", "Team", vec![LABEL.to_string()]),
        ("", "Service", "1web", vec![DNS1035.to_string()]),
        ("", "Service", "web-1", vec![]),
        ("rbac.authorization.k8s.io", "ClusterRole", "system:controller:foo", vec![]),
        ("rbac.authorization.k8s.io", "Role", "..", vec!["may not be '..'".to_string()]),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "a/b%c",
            vec!["may not contain '/'".to_string(), "may not contain '%'".to_string()],
        ),
        ("certificates.k8s.io", "CertificateSigningRequest", "Any_Thing", vec![]),
        ("example.com", "Widget", "Bad_Name", vec![SUBDOMAIN.to_string()]),
    ];
    for (group, kind, name, expected) in cases {
        assert_eq!(validate_name(group, kind, name), expected, "{kind} {name}");
    }
}

#[test]
fn syntax_checks_give_upstream_messages() {
    use super::super::names::*;
    let qualified = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (qualified_name("example.com/MyName"), vec![]),
        (qualified_name("-bad"), vec![qualified.to_string()]),
        (qualified_name("/x"), vec!["prefix part must be non-empty".to_string()]),
        (qualified_name("a/"), vec!["name part must be non-empty".to_string(), qualified.to_string()]),
        (label_value(""), vec![]),
        (config_map_key(".."), vec!["must not be '..'".to_string()]),
        (
            config_map_key("a b"),
            vec!["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string()],
        ),
        (
            port_name("HTTP--"),
            vec![
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
                "must contain at least one letter (a-z)".to_string(),
                "must not contain consecutive hyphens".to_string(),
                "must not begin or end with a hyphen".to_string(),
            ],
        ),
        (port_num(0), vec!["must be between 1 and 65535, inclusive".to_string()]),
        (
            percent("25"),
            vec!["a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')".to_string()],
        ),
        (NameRule::Subdomain.check("web-", true), vec![]),
        (NameRule::Label.check("Web-", true), vec![LABEL.to_string()]),
    ];
    for (actual, expected) in cases {
        assert_eq!(actual, expected);
    }
}
