use serde_json::{Value, json};

use super::*;

const ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const NONE: &[&str] = &[];

const fn r(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    subresources: &'static [&'static str],
) -> ResourceRef {
    ResourceRef { group, version, kind, plural, namespaced, verbs: ALL, subresources }
}

/// A review: created, never stored.
const fn review(group: &'static str, kind: &'static str, plural: &'static str, namespaced: bool) -> ResourceRef {
    ResourceRef { group, version: "v1", kind, plural, namespaced, verbs: &["create"], subresources: NONE }
}

/// The resources skiff's registry serves.
pub const RESOURCES: &[ResourceRef] = &[
    r("", "v1", "ConfigMap", "configmaps", true, NONE),
    r("", "v1", "Endpoints", "endpoints", true, NONE),
    r("", "v1", "Event", "events", true, NONE),
    r("", "v1", "LimitRange", "limitranges", true, NONE),
    r("", "v1", "Namespace", "namespaces", false, &["finalize", "status"]),
    r("", "v1", "Node", "nodes", false, &["proxy", "status"]),
    r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["status"]),
    r("", "v1", "PersistentVolume", "persistentvolumes", false, &["status"]),
    r(
        "",
        "v1",
        "Pod",
        "pods",
        true,
        &[
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "resize",
            "status",
        ],
    ),
    r("", "v1", "PodTemplate", "podtemplates", true, NONE),
    r("", "v1", "ReplicationController", "replicationcontrollers", true, &["scale", "status"]),
    r("", "v1", "ResourceQuota", "resourcequotas", true, &["status"]),
    r("", "v1", "Secret", "secrets", true, NONE),
    r("", "v1", "ServiceAccount", "serviceaccounts", true, &["token"]),
    r("", "v1", "Service", "services", true, &["proxy", "status"]),
    r("apps", "v1", "ControllerRevision", "controllerrevisions", true, NONE),
    r("apps", "v1", "DaemonSet", "daemonsets", true, &["status"]),
    r("apps", "v1", "Deployment", "deployments", true, &["scale", "status"]),
    r("apps", "v1", "ReplicaSet", "replicasets", true, &["scale", "status"]),
    r("apps", "v1", "StatefulSet", "statefulsets", true, &["scale", "status"]),
    review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false),
    review("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
    review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
    review("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
    review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
    r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["status"]),
    r("batch", "v1", "CronJob", "cronjobs", true, &["status"]),
    r("batch", "v1", "Job", "jobs", true, &["status"]),
    r("coordination.k8s.io", "v1", "Lease", "leases", true, NONE),
    r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, NONE),
    r("events.k8s.io", "v1", "Event", "events", true, NONE),
    r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, NONE),
    r("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["status"]),
    r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, NONE),
    r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["status"]),
    r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, NONE),
    r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, NONE),
    r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, NONE),
    r("rbac.authorization.k8s.io", "v1", "Role", "roles", true, NONE),
    r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, NONE),
    r("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, NONE),
];

#[test]
fn index_lists_every_group_version_with_its_hash() {
    let index = index(RESOURCES);
    let paths = index["paths"].as_object().unwrap();
    let expected = [
        "api/v1",
        "apis/apps/v1",
        "apis/authentication.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
        "apis/autoscaling/v2",
        "apis/batch/v1",
        "apis/coordination.k8s.io/v1",
        "apis/discovery.k8s.io/v1",
        "apis/events.k8s.io/v1",
        "apis/networking.k8s.io/v1",
        "apis/policy/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/scheduling.k8s.io/v1",
        "apis/storage.k8s.io/v1",
    ];
    assert_eq!(paths.keys().collect::<Vec<_>>(), expected);
    let apps = document(RESOURCES, "apps", "v1").unwrap();
    let url = format!("/openapi/v3/apis/apps/v1?hash={}", document_hash(&apps));
    assert_eq!(paths["apis/apps/v1"]["serverRelativeURL"], json!(url));
}

#[test]
fn document_hash_is_upper_hex_sha512_of_the_served_body() {
    let served = document_at(RESOURCES, "apis/apps/v1").unwrap();
    assert_eq!(served.hash.len(), 128);
    assert!(served.hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert_eq!(served.hash, document_hash(&served.document));
    assert_eq!(
        hash::sha512_hex_upper(b"abc"),
        "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F"
    );
    let long = vec![b'a'; 1000];
    assert_eq!(&hash::sha512_hex_upper(&long)[..16], "67BA5535A46E3F86");
}

#[test]
fn unknown_group_versions_have_no_document() {
    assert!(document(RESOURCES, "apps", "v2").is_none());
    assert!(document(RESOURCES, "nope", "v1").is_none());
    assert_eq!(document_at(RESOURCES, "apis/nope/v1").unwrap_err(), OpenApiError::NotFound("apis/nope/v1".into()));
    assert!(document_at(RESOURCES, "api/v1").is_ok());
    assert!(document_at(RESOURCES, "/apis/batch/v1").is_ok());
}

#[test]
fn document_has_kind_schemas_with_group_version_kind() {
    let doc = document(RESOURCES, "apps", "v1").unwrap();
    let schemas = &doc["components"]["schemas"];
    for (name, kind) in [
        ("io.k8s.api.apps.v1.Deployment", "Deployment"),
        ("io.k8s.api.apps.v1.DeploymentList", "DeploymentList"),
        ("io.k8s.api.apps.v1.StatefulSet", "StatefulSet"),
    ] {
        assert_eq!(
            schemas[name]["x-kubernetes-group-version-kind"],
            json!([{ "group": "apps", "kind": kind, "version": "v1" }]),
            "{name}"
        );
    }
    assert_eq!(
        schemas["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"],
        json!([{ "group": "autoscaling", "kind": "Scale", "version": "v1" }])
    );
    assert!(schemas["io.k8s.api.core.v1.PodSpec"].is_object());
    assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
    assert!(schemas.get("io.k8s.api.core.v1.ConfigMap").is_none());
    assert_eq!(doc["openapi"], json!("3.0.0"));
}

#[test]
fn every_ref_in_a_document_resolves_inside_it() {
    for (group, version) in schemas::group_versions() {
        let doc = document(RESOURCES, group, version).unwrap();
        let mut refs = Vec::new();
        collect_schema_refs(&doc, &mut refs);
        for r in refs {
            assert!(doc["components"]["schemas"].get(&r).is_some(), "{group}/{version}: {r}");
        }
    }
}

#[test]
fn field_descriptions_sit_beside_refs_in_all_of() {
    let doc = document(RESOURCES, "apps", "v1").unwrap();
    let replicas = &doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"];
    assert!(replicas["description"].as_str().unwrap().contains("Number of desired pods"));
    let spec = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"];
    assert_eq!(spec["allOf"], json!([{ "$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" }]));
}

fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    &doc["paths"][path][method]
}

fn param_names(op: &Value) -> Vec<&str> {
    op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect()
}

#[test]
fn writes_advertise_field_validation_and_carry_the_kind() {
    let doc = document(RESOURCES, "apps", "v1").unwrap();
    let item = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}";
    let collection = "/apis/apps/v1/namespaces/{namespace}/deployments";
    let cases = [
        (collection, "post", "createAppsV1NamespacedDeployment", "post"),
        (item, "put", "replaceAppsV1NamespacedDeployment", "put"),
        (item, "patch", "patchAppsV1NamespacedDeployment", "patch"),
        (&format!("{item}/status"), "patch", "patchAppsV1NamespacedDeploymentStatus", "patch"),
    ];
    for (path, method, id, action) in cases {
        let op = op(&doc, path, method);
        assert_eq!(op["operationId"], json!(id));
        assert_eq!(op["x-kubernetes-action"], json!(action));
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({ "group": "apps", "kind": "Deployment", "version": "v1" })
        );
        let names = param_names(op);
        assert!(names.contains(&"fieldValidation") && names.contains(&"dryRun") && names.contains(&"fieldManager"));
        let field_validation = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "fieldValidation");
        assert_eq!(field_validation.unwrap()["in"], json!("query"));
    }
    let scale = op(&doc, &format!("{item}/scale"), "patch");
    assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], json!("Scale"));
}

#[test]
fn collection_and_cluster_scoped_operations_are_named_like_upstream() {
    let core = document(RESOURCES, "", "v1").unwrap();
    let rbac = document(RESOURCES, "rbac.authorization.k8s.io", "v1").unwrap();
    let cases = [
        (&core, "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod"),
        (&core, "/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod"),
        (&core, "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces"),
        (&core, "/api/v1/watch/namespaces/{namespace}/pods/{name}", "get", "watchCoreV1NamespacedPod"),
        (&core, "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction"),
        (&core, "/api/v1/namespaces/{name}/finalize", "put", "replaceCoreV1NamespaceFinalize"),
        (&core, "/api/v1/nodes/{name}", "get", "readCoreV1Node"),
        (&core, "/api/v1/", "get", "getCoreV1APIResources"),
        (&rbac, "/apis/rbac.authorization.k8s.io/v1/clusterroles", "post", "createRbacAuthorizationV1ClusterRole"),
    ];
    for (doc, path, method, id) in cases {
        assert_eq!(op(doc, path, method)["operationId"], json!(id), "{path} {method}");
    }
    assert_eq!(
        op(&rbac, "/apis/rbac.authorization.k8s.io/v1/clusterroles", "post")["tags"],
        json!(["rbacAuthorization_v1"])
    );
    assert!(core["paths"].get("/api/v1/namespaces/{namespace}/pods/{name}/exec").is_none());
}

#[test]
fn patch_bodies_leave_out_strategic_merge_while_schemas_lack_merge_keys() {
    let doc = document(RESOURCES, "apps", "v1").unwrap();
    let body = &op(&doc, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch")["requestBody"]["content"];
    assert!(body.get("application/merge-patch+json").is_some());
    assert_eq!(body.get("application/strategic-merge-patch+json").is_some(), ADVERTISE_STRATEGIC_MERGE);
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "labels": { "app": "web", "tier": "front" }, "annotations": { "a/b": "c" } },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 1 } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx",
                        "ports": [{ "containerPort": 80 }],
                        "resources": { "limits": { "cpu": "500m", "memory": "128Mi" } },
                        "livenessProbe": { "httpGet": { "path": "/", "port": "http" } },
                        "readinessProbe": { "tcpSocket": { "port": 80 } },
                    }],
                    "nodeSelector": { "disk": "ssd" },
                },
            },
        },
        "status": { "replicas": 2 },
    })
}

#[test]
fn valid_objects_have_no_unknown_fields() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": { "name": "s" },
        "spec": { "ports": [{ "port": 80, "targetPort": "http" }, { "port": 81, "targetPort": 8081 }], "selector": { "app": "web" } },
    });
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "c", "labels": { "x": "y" }, "managedFields": [{ "fieldsV1": { "f:data": { "f:any": {} } } }] },
        "data": { "any.key": "v", "other": "w" }, "binaryData": { "b": "AA==" },
    });
    let revision = json!({ "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": { "name": "r" }, "revision": 1, "data": { "spec": { "anything": true } } });
    let cases = [
        ("apps", "Deployment", deployment()),
        ("", "Service", service),
        ("", "ConfigMap", config_map),
        ("apps", "ControllerRevision", revision),
    ];
    for (group, kind, object) in cases {
        assert_eq!(unknown_fields(group, "v1", kind, &object), Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn unknown_fields_are_named_by_their_path() {
    let mut deep = deployment();
    deep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    let mut top =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" }, "data": {}, "extra": 1 });
    let mut meta = deployment();
    meta["metadata"]["labelz"] = json!({});
    meta["spec"]["foo"] = json!(1);
    let cases = [
        ("apps", "Deployment", deep, vec!["spec.template.spec.containers[0].imagePullPolicyy"]),
        ("", "ConfigMap", top.take(), vec!["extra"]),
        ("apps", "Deployment", meta, vec!["metadata.labelz", "spec.foo"]),
    ];
    for (group, kind, object, expected) in cases {
        assert_eq!(unknown_fields(group, "v1", kind, &object), expected, "{kind}");
    }
}

#[test]
fn field_names_match_case_sensitively() {
    let object = json!({ "apiVersion": "v1", "kind": "ConfigMap", "Data": {} });
    assert_eq!(unknown_fields("", "v1", "ConfigMap", &object), vec!["Data"]);
}

#[test]
fn kinds_without_a_schema_report_nothing() {
    assert!(unknown_fields("example.com", "v1", "Widget", &json!({ "x": 1 })).is_empty());
}

#[test]
fn strict_messages_join_fields_like_upstream() {
    let one = vec!["spec.foo".to_owned()];
    let two = vec!["spec.foo".to_owned(), "spec.template.spec.containers[0].bar".to_owned()];
    assert_eq!(strict_error_message(&one), r#"strict decoding error: unknown field "spec.foo""#);
    assert_eq!(
        strict_error_message(&two),
        r#"strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar""#
    );
    assert_eq!(
        decode_error_message("Deployment", "v1", &one),
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#
    );
    assert_eq!(unknown_field_message("a\"b"), r#"unknown field "a\"b""#);
}

#[test]
fn v2_document_is_a_small_protobuf() {
    let bytes = v2_document_protobuf("v1.33.0");
    assert_eq!(&bytes[..5], b"\x0a\x032.0");
    assert!(bytes.windows(10).any(|w| w == b"Kubernetes"));
}

/// Writes the index and every document under $OPENAPI_DUMP_DIR for the kubectl check.
#[test]
#[ignore]
fn dump_documents() {
    let dir = std::path::PathBuf::from(std::env::var("OPENAPI_DUMP_DIR").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index(RESOURCES)).unwrap()).unwrap();
    for (group, version) in schemas::group_versions() {
        let served = document_at(RESOURCES, &group_version_path(group, version)).unwrap();
        let file = dir.join(format!("{}.json", group_version_path(group, version).replace('/', "_")));
        std::fs::write(file, &served.body).unwrap();
    }
    std::fs::write(dir.join("v2.pb"), v2_document_protobuf("v1.33.0")).unwrap();
}
