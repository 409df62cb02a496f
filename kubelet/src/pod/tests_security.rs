use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::json;

use super::*;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u-1"}, "spec": spec}))
        .unwrap()
}

fn first_container(pod: &Pod) -> Container {
    pod.spec.as_ref().unwrap().containers[0].clone()
}

fn context_of(spec: serde_json::Value) -> api::LinuxContainerSecurityContext {
    let pod = pod(spec);
    container_security_context(&pod, &first_container(&pod), None, Path::new("/var/lib/skiff/seccomp")).unwrap()
}

fn image(uid: Option<i64>, username: &str) -> api::Image {
    api::Image { uid: uid.map(|value| api::Int64Value { value }), username: username.into(), ..Default::default() }
}

#[test]
fn pod_level_users_apply_unless_the_container_sets_its_own() {
    let cases = [
        (json!({}), json!({}), (None, None)),
        (json!({"runAsUser": 1000, "runAsGroup": 3000}), json!({}), (Some(1000), Some(3000))),
        (json!({"runAsUser": 1000, "runAsGroup": 3000}), json!({"runAsUser": 2000}), (Some(2000), Some(3000))),
    ];
    for (pod_sc, container_sc, (user, group)) in cases {
        let got = context_of(
            json!({"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": container_sc}]}),
        );
        assert_eq!(
            (got.run_as_user.map(|u| u.value), got.run_as_group.map(|g| g.value)),
            (user, group),
            "{pod_sc} {container_sc}"
        );
    }
}

#[test]
fn the_images_user_is_the_default_run_as_user() {
    let p = pod(json!({"containers": [{"name": "c"}]}));
    let seccomp = Path::new("/s");
    let numeric = container_security_context(&p, &first_container(&p), Some(&image(Some(65534), "")), seccomp).unwrap();
    assert_eq!(numeric.run_as_user, Some(api::Int64Value { value: 65534 }));
    let named = container_security_context(&p, &first_container(&p), Some(&image(None, "nginx")), seccomp).unwrap();
    assert_eq!((named.run_as_user, named.run_as_username.as_str()), (None, "nginx"));
}

#[test]
fn groups_capabilities_and_privileges_map_to_the_cri_fields() {
    let got = context_of(json!({
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [4000, 5000]},
        "containers": [{"name": "c", "securityContext": {
            "capabilities": {"add": ["SETUID", "SETGID", "NET_ADMIN"], "drop": ["ALL"]},
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true}}]}));
    assert_eq!(got.supplemental_groups, [2000, 4000, 5000]);
    let caps = got.capabilities.unwrap();
    assert_eq!(caps.add_capabilities, ["SETUID", "SETGID", "NET_ADMIN"]);
    assert_eq!(caps.drop_capabilities, ["ALL"]);
    assert!(got.no_new_privs && got.readonly_rootfs && !got.privileged);

    let plain = context_of(json!({"containers": [{"name": "c"}]}));
    assert!(plain.capabilities.is_none() && !plain.no_new_privs && plain.supplemental_groups.is_empty());
    let escalating =
        context_of(json!({"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": true}}]}));
    assert!(!escalating.no_new_privs);
    let privileged = context_of(json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}));
    assert!(privileged.privileged);
}

#[test]
fn masked_and_readonly_paths_are_the_defaults_unless_proc_mount_is_unmasked() {
    let default = context_of(json!({"containers": [{"name": "c"}]}));
    assert_eq!(default.masked_paths, DEFAULT_MASKED_PATHS);
    assert_eq!(default.readonly_paths, DEFAULT_READONLY_PATHS);
    let unmasked = context_of(json!({"containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]}));
    assert!(unmasked.masked_paths.is_empty() && unmasked.readonly_paths.is_empty());
}

#[test]
fn seccomp_profiles_come_from_the_container_then_the_pod_else_unconfined() {
    let profile =
        |t: ProfileType, r: &str| Some(api::SecurityProfile { profile_type: t as i32, localhost_ref: r.into() });
    let cases = [
        (json!({}), json!({}), profile(ProfileType::Unconfined, "")),
        (json!({"seccompProfile": {"type": "RuntimeDefault"}}), json!({}), profile(ProfileType::RuntimeDefault, "")),
        (
            json!({"seccompProfile": {"type": "RuntimeDefault"}}),
            json!({"seccompProfile": {"type": "Unconfined"}}),
            profile(ProfileType::Unconfined, ""),
        ),
        (
            json!({}),
            json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "audit.json"}}),
            profile(ProfileType::Localhost, "/var/lib/skiff/seccomp/audit.json"),
        ),
    ];
    for (pod_sc, container_sc, want) in cases {
        let got = context_of(
            json!({"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": container_sc}]}),
        );
        assert_eq!(got.seccomp, want, "{pod_sc} {container_sc}");
    }
    let p = pod(json!({"containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Localhost"}}}]}));
    let err = container_security_context(&p, &first_container(&p), None, Path::new("/s")).unwrap_err();
    assert_eq!(err.to_string(), "localhostProfile must be set if seccompProfile type is Localhost.");
}

#[test]
fn run_as_non_root_is_verified_against_the_user_and_the_image() {
    let check = |pod_sc: serde_json::Value, container_sc: serde_json::Value, image: ImageUser| {
        let p =
            pod(json!({"securityContext": pod_sc, "containers": [{"name": "app", "securityContext": container_sc}]}));
        verify_run_as_non_root(&p, &first_container(&p), &image).map_err(|e| e.to_string())
    };
    let non_root = json!({"runAsNonRoot": true});
    assert_eq!(check(json!({}), json!({}), ImageUser::Uid(0)), Ok(()));
    assert_eq!(check(non_root.clone(), json!({}), ImageUser::Uid(1000)), Ok(()));
    assert_eq!(check(non_root.clone(), json!({"runAsUser": 1000}), ImageUser::Uid(0)), Ok(()));
    assert_eq!(
        check(non_root.clone(), json!({}), ImageUser::Uid(0)),
        Err(r#"container has runAsNonRoot and image will run as root (pod: "web_shop(u-1)", container: app)"#.into())
    );
    assert_eq!(
        check(json!({}), json!({"runAsNonRoot": true, "runAsUser": 0}), ImageUser::Uid(1000)),
        Err(r#"container's runAsUser breaks non-root policy (pod: "web_shop(u-1)", container: app)"#.into())
    );
    assert_eq!(
        check(non_root, json!({}), ImageUser::Name("nginx".into())),
        Err(r#"container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web_shop(u-1)", container: app)"#.into())
    );
    assert_eq!(ImageUser::of(None), ImageUser::Uid(0));
    assert_eq!(ImageUser::of(Some(&image(None, ""))), ImageUser::Uid(0));
}

#[test]
fn the_sandbox_runs_runtime_default_with_the_pods_user_and_groups() {
    let p = pod(json!({
        "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [7],
                            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
        "initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
        "containers": [{"name": "c"}]}));
    let sandbox = sandbox_security_context(&p);
    assert_eq!(sandbox.run_as_user, Some(api::Int64Value { value: 1000 }));
    assert_eq!(sandbox.run_as_group, Some(api::Int64Value { value: 3000 }));
    assert_eq!(sandbox.supplemental_groups, [2000, 7]);
    assert!(sandbox.privileged);
    assert_eq!(sandbox.seccomp.map(|s| s.profile_type), Some(ProfileType::RuntimeDefault as i32));
    assert_eq!(sysctls(&p).get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
    assert_eq!(fs_group(&p), Some(2000));
}

#[test]
fn namespaces_follow_host_flags_and_process_sharing() {
    use api::NamespaceMode::{Container as C, Node as N, Pod as P};
    let cases = [
        (json!({}), (P, C, P)),
        (json!({"hostNetwork": true}), (N, C, P)),
        (json!({"hostPID": true, "hostIPC": true}), (P, N, N)),
        (json!({"shareProcessNamespace": true}), (P, P, P)),
    ];
    for (flags, (network, pid, ipc)) in cases {
        let mut spec = flags.clone();
        spec["containers"] = json!([{"name": "c"}]);
        let got = namespace_options(&pod(spec));
        assert_eq!((got.network, got.pid, got.ipc), (network as i32, pid as i32, ipc as i32), "{flags}");
    }
}
