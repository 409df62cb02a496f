//! Bodies captured from kubectl 1.33 (1.32 sent byte-identical ones) by a local capture server, compared
//! with what `kubectl create ... --dry-run=client -o json` prints for the same command.

use super::*;
use serde_json::json;

mod built;

/// kubectl's client-side output shows Go's zero `creationTimestamp` as `null`; the decoded object omits it.
fn without_null_timestamps(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| !(k == "creationTimestamp" && v.is_null()));
            map.values_mut().for_each(without_null_timestamps);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null_timestamps),
        _ => {}
    }
}

macro_rules! captured {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("fixtures/", $name, ".pb")), include_str!(concat!("fixtures/", $name, ".dry-run.json")))),*]
    };
}

const WITH_DRY_RUN: &[(&str, &[u8], &str)] = captured![
    "configmap",
    "secret_generic",
    "secret_tls",
    "secret_docker_registry",
    "namespace",
    "deployment",
    "deployment_zero",
    "job",
    "cronjob",
    "service_nodeport",
    "service_clusterip",
    "clusterrole",
    "clusterrole_nonresource",
    "role",
    "rolebinding",
    "clusterrolebinding",
    "quota",
    "pdb",
    "pdb_int",
    "ingress",
    "priorityclass",
    "serviceaccount",
];

#[test]
fn captured_kubectl_bodies_decode_to_the_json_kubectl_would_send() {
    for (name, body, dry_run) in WITH_DRY_RUN {
        let mut expected: Value = serde_json::from_str(dry_run).unwrap();
        without_null_timestamps(&mut expected);
        let decoded = decode(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, expected, "{name}");
    }
}

#[test]
fn captured_bodies_without_a_dry_run_decode_to_their_json() {
    let cases: &[(&str, &[u8], Value)] = &[
        (
            "create token sa1 --duration=1h --audience=api",
            include_bytes!("fixtures/token.pb"),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                   "spec": {"audiences": ["api"], "expirationSeconds": 3600}}),
        ),
        (
            "auth can-i get pods --subresource=log",
            include_bytes!("fixtures/can_i.pb"),
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {},
                   "spec": {"resourceAttributes": {"namespace": "default", "resource": "pods", "subresource": "log",
                            "verb": "get"}},
                   "status": {"allowed": false}}),
        ),
        (
            "drain's pod deletion when eviction is unsupported",
            include_bytes!("fixtures/delete_options.pb"),
            json!({"apiVersion": "v1", "kind": "DeleteOptions"}),
        ),
    ];
    for (what, body, expected) in cases {
        assert_eq!(&decode(body).unwrap_or_else(|e| panic!("{what}: {e}")), expected, "{what}");
    }
}

#[test]
fn a_body_without_the_magic_prefix_is_rejected() {
    for body in [&b""[..], b"k8s", b"{\"kind\":\"ConfigMap\"}", b"K8S\0\x0a\x00"] {
        assert!(matches!(decode(body), Err(ProtobufError::MissingPrefix)), "{body:?}");
    }
}

#[test]
fn a_prefix_alone_is_an_empty_body() {
    assert!(matches!(decode(b"k8s\0"), Err(ProtobufError::EmptyBody)));
}

#[test]
fn an_unknown_kind_is_named_in_the_error() {
    let body = built::envelope("example.com/v1", "Widget", &[]);
    let err = decode(&body).unwrap_err();
    assert!(
        matches!(&err, ProtobufError::UnknownKind { api_version, kind } if api_version == "example.com/v1" && kind == "Widget")
    );
    assert_eq!(err.to_string(), r#"no kind "Widget" is registered for version "example.com/v1""#);
    assert_eq!(err.status_code(), 400);
}

#[test]
fn a_known_kind_in_another_version_is_unknown() {
    let err = decode(&built::envelope("apps/v1beta1", "Deployment", &[])).unwrap_err();
    assert!(matches!(err, ProtobufError::UnknownKind { .. }));
}

#[test]
fn an_envelope_without_kind_or_version_is_rejected() {
    assert!(matches!(decode(&built::envelope("v1", "", &[])), Err(ProtobufError::MissingKind)));
    assert!(matches!(decode(&built::envelope("", "ConfigMap", &[])), Err(ProtobufError::MissingVersion)));
}

#[test]
fn garbage_after_the_prefix_is_a_malformed_envelope() {
    assert!(matches!(decode(b"k8s\0\xff\xff\xff"), Err(ProtobufError::MalformedEnvelope(_))));
}

#[test]
fn a_garbage_object_is_malformed_for_its_kind() {
    let err = decode(&built::envelope("v1", "ConfigMap", b"\x0a\x05ab")).unwrap_err();
    assert!(matches!(&err, ProtobufError::Malformed { kind, .. } if kind == "ConfigMap"), "{err}");
}

#[test]
fn every_truncation_of_every_captured_body_fails_cleanly_or_decodes() {
    let bodies = WITH_DRY_RUN.iter().map(|(_, b, _)| *b).chain([&include_bytes!("fixtures/token.pb")[..]]);
    for body in bodies {
        for len in 0..body.len() {
            let _ = decode(&body[..len]); // must not panic
        }
        assert!(decode(&body[..body.len() - 1]).is_err());
    }
}

#[test]
fn flipped_bytes_never_panic() {
    for (_, body, _) in WITH_DRY_RUN {
        for i in 4..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut copy = body.to_vec();
                copy[i] ^= flip;
                let _ = decode(&copy);
            }
        }
    }
}

#[test]
fn every_registered_kind_decodes_an_empty_object() {
    for (api_version, kind) in KINDS {
        let decoded = decode(&built::envelope(api_version, kind, &[])).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(decoded["apiVersion"], *api_version);
        assert_eq!(decoded["kind"], *kind);
    }
}

#[test]
fn delete_options_decode_in_any_group_version() {
    let decoded = decode(&built::envelope("apps/v1", "DeleteOptions", &[])).unwrap();
    assert_eq!(decoded, json!({"apiVersion": "apps/v1", "kind": "DeleteOptions"}));
}

#[test]
fn go_durations_are_formatted_like_go() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (300_000_000, "300ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-61_000_000_000, "-1m1s"),
    ];
    for (nanos, want) in cases {
        assert_eq!(special::go_duration(nanos), want, "{nanos}");
    }
}

#[test]
fn debug_strings_with_escapes_read_back_exactly() {
    let original = "quote \" backslash \\ newline \n tab \t nul \0 bell \u{7} zwj \u{200d} é ✓";
    let node = debug_tree::parse(&format!("{original:?}")).unwrap();
    assert_eq!(node, debug_tree::Node::Str(original.to_string()));
}

#[test]
fn deeply_nested_renderings_are_refused() {
    let text = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(debug_tree::parse(&text), Err(ProtobufError::Internal(_))));
}
