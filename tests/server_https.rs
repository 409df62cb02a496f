//! A live `skiff server` over HTTPS, used by real kubectl: the generated
//! kubeconfig verifies the server, client certificates and static tokens
//! authenticate, unauthenticated requests get 401, SIGTERM shuts down.

mod common;

use common::{KUBECTL, Server, require_kubectl};

#[test]
fn kubectl_works_against_the_generated_kubeconfig_and_sigterm_stops_the_server() {
    if !require_kubectl() {
        return;
    }
    let server = Server::start(&[]);
    let kubeconfig = std::fs::read_to_string(server.kubeconfig()).expect("kubeconfig written");
    assert!(!kubeconfig.contains("insecure-skip-tls-verify"));
    assert!(kubeconfig.contains(server.url()));

    let version = server.kubectl(&["version"]);
    assert!(version.contains("Server Version: v1.33."), "{version}");
    let namespaces = server.kubectl(&["get", "namespaces", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(namespaces.contains(&format!("namespace/{ns}")), "{namespaces}");
    }
    assert_eq!(
        server.kubectl(&["create", "configmap", "demo", "--from-literal=greeting=hello"]).trim(),
        "configmap/demo created"
    );
    assert_eq!(server.kubectl(&["get", "configmap", "demo", "-o", "jsonpath={.data.greeting}"]), "hello");
    let table = server.kubectl(&["get", "configmaps"]);
    assert!(table.starts_with("NAME") && table.contains("DATA") && table.contains("demo"), "{table}");
    assert_eq!(server.kubectl(&["delete", "configmap", "demo"]).trim(), "configmap \"demo\" deleted");

    assert!(server.terminate().0.success(), "skiff server exits cleanly on SIGTERM");
}

#[test]
fn requests_without_credentials_are_unauthorized_and_tokens_authenticate() {
    if !require_kubectl() {
        return;
    }
    let tokens = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(tokens.path(), "s3cret-token,alice,1001,\"dev,ops\"\n").expect("write tokens");
    let server = Server::start(&["--token-file", tokens.path().to_str().expect("utf-8 path")]);
    let ca = server.dir().join("server/tls/server-ca.crt");
    let with_user = |user: &str| {
        let path = server.dir().join(format!("{user}.kubeconfig"));
        // (A kubeconfig user with no credentials at all makes kubectl prompt for a password.)
        let token = if user == "alice" { "    token: s3cret-token\n" } else { "    token: not-a-known-token\n" };
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: {}\n    server: {}\n  name: c\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n{token}",
            ca.display(),
            server.url()
        );
        std::fs::write(&path, config).expect("kubeconfig");
        path
    };
    let anonymous = server.kubectl_with(KUBECTL, &with_user("nobody"), &["get", "namespaces"]);
    assert!(!anonymous.status.success());
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("error: You must be logged in to the server"), "{stderr}");
    let alice_config = with_user("alice");
    let alice = server.kubectl_with(KUBECTL, &alice_config, &["get", "namespaces", "-o", "name"]);
    assert!(alice.status.success(), "{}", String::from_utf8_lossy(&alice.stderr));
    let whoami = server.kubectl_with(KUBECTL, &alice_config, &["auth", "whoami", "-o", "jsonpath={.status.userInfo}"]);
    assert!(whoami.status.success(), "{}", String::from_utf8_lossy(&whoami.stderr));
    let info: serde_json::Value = serde_json::from_slice(&whoami.stdout).expect("userInfo as JSON");
    assert_eq!(info["username"], "alice");
    assert_eq!(info["uid"], "1001");
    assert_eq!(info["groups"], serde_json::json!(["dev", "ops", "system:authenticated"]));
}
