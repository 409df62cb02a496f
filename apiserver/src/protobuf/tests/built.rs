//! Bodies built with the k8s-pb types, shaped like Go's encoder writes them (non-pointer fields always
//! present, zero or not), for kinds and wire types the captured kubectl commands do not exercise.

use super::super::*;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;

/// A `k8s\0` body wrapping `raw` as apiVersion/kind.
pub(super) fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(raw.to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC, &unknown.encode_to_vec()].concat()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// ObjectMeta as Go writes it for a new object: every string and number present, zero time.
fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s("default"),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        labels: [("app".to_string(), "web".to_string())].into(),
        ..Default::default()
    })
}

const SECONDS: i64 = 1_704_164_645; // 2024-01-02T03:04:05Z

fn int_port(port: i32) -> Option<IntOrString> {
    Some(IntOrString { r#type: Some(0), int_val: Some(port), str_val: s("") })
}

#[test]
fn a_pod_decodes_with_kubernetes_json_names_and_go_omitempty() {
    let container = core::Container {
        name: s("app"),
        image: s("nginx"),
        env: vec![
            core::EnvVar { name: s("A"), value: s("1"), value_from: None },
            core::EnvVar { name: s("EMPTY"), value: s(""), value_from: None },
        ],
        ports: vec![core::ContainerPort {
            name: s(""),
            host_port: Some(0),
            container_port: Some(80),
            protocol: s("TCP"),
            host_ip: s(""),
        }],
        resources: Some(core::ResourceRequirements {
            limits: [("memory".to_string(), Quantity { string: s("128Mi") })].into(),
            ..Default::default()
        }),
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction { path: s("/healthz"), port: int_port(8080), ..Default::default() }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(0),
            timeout_seconds: Some(0),
            period_seconds: Some(10),
            success_threshold: Some(0),
            failure_threshold: Some(0),
            ..Default::default()
        }),
        security_context: Some(core::SecurityContext {
            allow_privilege_escalation: Some(false),
            run_as_user: Some(0),
            ..Default::default()
        }),
        stdin: Some(false),
        tty: Some(false),
        termination_message_path: s(""),
        ..Default::default()
    };
    let pod = core::Pod {
        metadata: meta("web"),
        spec: Some(core::PodSpec {
            containers: vec![container],
            volumes: vec![core::Volume {
                name: s("cfg"),
                volume_source: Some(core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference { name: s("settings") }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            host_network: Some(false),
            host_ipc: Some(false),
            restart_policy: s("Always"),
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        status: Some(core::PodStatus::default()),
    };
    let decoded = decode(&envelope("v1", "Pod", &pod.encode_to_vec())).unwrap();
    let expected = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "app", "image": "nginx",
                "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "securityContext": {"allowPrivilegeEscalation": false, "runAsUser": 0},
            }],
            "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
        },
        "status": {},
    });
    assert_eq!(decoded, expected);
}

#[test]
fn an_eviction_carries_its_delete_options() {
    let eviction = k8s_pb::api::policy::v1::Eviction {
        metadata: meta("web-1"),
        delete_options: Some(meta::DeleteOptions {
            grace_period_seconds: Some(0),
            propagation_policy: s("Foreground"),
            dry_run: vec!["All".into()],
            preconditions: Some(meta::Preconditions { uid: s("u-1"), resource_version: None }),
            ..Default::default()
        }),
    };
    let decoded = decode(&envelope("policy/v1", "Eviction", &eviction.encode_to_vec())).unwrap();
    let expected = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
        "deleteOptions": {"gracePeriodSeconds": 0, "propagationPolicy": "Foreground", "dryRun": ["All"],
                          "preconditions": {"uid": "u-1"}},
    });
    assert_eq!(decoded, expected);
}

#[test]
fn times_become_rfc3339_strings_and_micro_times_keep_microseconds() {
    let lease = k8s_pb::api::coordination::v1::Lease {
        metadata: Some(meta::ObjectMeta {
            name: s("node-1"),
            creation_timestamp: Some(meta::Time { seconds: Some(SECONDS), nanos: Some(0) }),
            ..Default::default()
        }),
        spec: Some(k8s_pb::api::coordination::v1::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            renew_time: Some(meta::MicroTime { seconds: Some(SECONDS), nanos: Some(123_456_789) }),
            acquire_time: Some(meta::MicroTime { seconds: Some(SECONDS), nanos: Some(0) }),
            ..Default::default()
        }),
    };
    let decoded = decode(&envelope("coordination.k8s.io/v1", "Lease", &lease.encode_to_vec())).unwrap();
    assert_eq!(decoded["metadata"]["creationTimestamp"], "2024-01-02T03:04:05Z");
    assert_eq!(decoded["spec"]["renewTime"], "2024-01-02T03:04:05.123456Z");
    assert_eq!(decoded["spec"]["acquireTime"], "2024-01-02T03:04:05.000000Z");
    assert_eq!(decoded["spec"]["leaseDurationSeconds"], 40);
}

#[test]
fn raw_extensions_embed_their_json() {
    let revision = k8s_pb::api::apps::v1::ControllerRevision {
        metadata: meta("web-1"),
        data: Some(RawExtension { raw: Some(br#"{"spec":{"template":{"x":[1,"a",null]}}}"#.to_vec()) }),
        revision: Some(2),
    };
    let decoded = decode(&envelope("apps/v1", "ControllerRevision", &revision.encode_to_vec())).unwrap();
    assert_eq!(decoded["data"], json!({"spec": {"template": {"x": [1, "a", null]}}}));
    assert_eq!(decoded["revision"], 2);
}

#[test]
fn a_raw_extension_that_is_not_json_is_an_error() {
    let revision = k8s_pb::api::apps::v1::ControllerRevision {
        data: Some(RawExtension { raw: Some(b"\x00not json".to_vec()) }),
        ..Default::default()
    };
    let err = decode(&envelope("apps/v1", "ControllerRevision", &revision.encode_to_vec())).unwrap_err();
    assert!(matches!(&err, ProtobufError::Convert { kind, .. } if kind == "RawExtension"), "{err}");
}

#[test]
fn status_counters_follow_omitempty_per_type() {
    let deployment = k8s_pb::api::apps::v1::Deployment {
        metadata: meta("web"),
        spec: Some(k8s_pb::api::apps::v1::DeploymentSpec {
            replicas: Some(0),
            min_ready_seconds: Some(0),
            paused: Some(false),
            revision_history_limit: Some(0),
            ..Default::default()
        }),
        status: Some(k8s_pb::api::apps::v1::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ready_replicas: Some(0),
            ..Default::default()
        }),
    };
    let decoded = decode(&envelope("apps/v1", "Deployment", &deployment.encode_to_vec())).unwrap();
    assert_eq!(
        decoded["spec"],
        json!({"replicas": 0, "revisionHistoryLimit": 0, "selector": {},
                                       "template": {}})
    );
    assert_eq!(decoded["status"], json!({}));
}

#[test]
fn an_explicit_empty_storage_class_is_kept() {
    let claim = core::PersistentVolumeClaim {
        metadata: meta("data"),
        spec: Some(core::PersistentVolumeClaimSpec {
            access_modes: vec!["ReadWriteOnce".into()],
            storage_class_name: s(""),
            volume_name: s(""),
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&envelope("v1", "PersistentVolumeClaim", &claim.encode_to_vec())).unwrap();
    assert_eq!(decoded["spec"], json!({"accessModes": ["ReadWriteOnce"], "storageClassName": ""}));
}

#[test]
fn int_or_string_takes_the_form_its_type_says() {
    let service = core::Service {
        metadata: meta("svc"),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    port: Some(80),
                    target_port: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: s("web") }),
                    node_port: Some(0),
                    ..Default::default()
                },
                core::ServicePort { name: s("other"), port: Some(81), target_port: int_port(0), ..Default::default() },
            ],
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&envelope("v1", "Service", &service.encode_to_vec())).unwrap();
    assert_eq!(
        decoded["spec"]["ports"],
        json!([{"name": "http", "port": 80, "targetPort": "web"}, {"name": "other", "port": 81}])
    );
}

#[test]
fn a_scale_keeps_zero_replicas() {
    let scale = k8s_pb::api::autoscaling::v1::Scale {
        metadata: meta("web"),
        spec: Some(k8s_pb::api::autoscaling::v1::ScaleSpec { replicas: Some(0) }),
        status: Some(k8s_pb::api::autoscaling::v1::ScaleStatus { replicas: Some(0), selector: s("") }),
    };
    let decoded = decode(&envelope("autoscaling/v1", "Scale", &scale.encode_to_vec())).unwrap();
    assert_eq!(decoded["spec"], json!({"replicas": 0}));
    assert_eq!(decoded["status"], json!({"replicas": 0}));
}

#[test]
fn endpoint_slice_conditions_keep_false() {
    use k8s_pb::api::discovery::v1 as discovery;
    let slice = discovery::EndpointSlice {
        metadata: meta("web-abc"),
        address_type: s("IPv4"),
        endpoints: vec![discovery::Endpoint {
            addresses: vec!["10.0.0.1".into()],
            conditions: Some(discovery::EndpointConditions {
                ready: Some(false),
                serving: Some(true),
                terminating: None,
            }),
            ..Default::default()
        }],
        ports: vec![discovery::EndpointPort { port: Some(8080), ..Default::default() }],
    };
    let decoded = decode(&envelope("discovery.k8s.io/v1", "EndpointSlice", &slice.encode_to_vec())).unwrap();
    assert_eq!(
        decoded["endpoints"],
        json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true}}])
    );
    assert_eq!(decoded["ports"], json!([{"port": 8080}]));
}

#[test]
fn secret_bytes_are_base64_and_empty_values_stay() {
    let secret = core::Secret {
        metadata: meta("s"),
        data: [("bin".to_string(), vec![0, 255, 10]), ("empty".to_string(), vec![])].into(),
        string_data: Default::default(),
        r#type: s("Opaque"),
        immutable: Some(false),
    };
    let decoded = decode(&envelope("v1", "Secret", &secret.encode_to_vec())).unwrap();
    assert_eq!(decoded["data"], json!({"bin": "AP8K", "empty": ""}));
    assert_eq!(decoded["immutable"], false);
    assert_eq!(decoded["type"], "Opaque");
}
