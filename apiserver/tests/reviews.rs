//! Access reviews and SelfSubjectReview are answered, not stored; without
//! RBAC yet, every access is allowed (kube-apiserver's AlwaysAllow).

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReview};
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_store::MemoryBackend;

#[tokio::test]
async fn reviews_are_answered() {
    let client = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start").client();
    let pp = PostParams::default();

    let access: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = serde_json::from_value(json!({
        "spec": { "resourceAttributes": { "verb": "create", "resource": "pods", "namespace": "default" } },
    }))
    .expect("review");
    let answered = access.create(&pp, &review).await.expect("create");
    assert_eq!(answered.status.map(|s| s.allowed), Some(true));

    let bad = serde_json::from_value(json!({ "spec": {} })).expect("review");
    match access.create(&pp, &bad).await {
        Err(kube::Error::Api(status)) => assert_eq!(
            (status.code, status.message.as_str()),
            (
                422,
                "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
            )
        ),
        other => panic!("expected a 422, got {other:?}"),
    }

    let subject: Api<SubjectAccessReview> = Api::all(client.clone());
    let review = serde_json::from_value(json!({
        "spec": { "user": "bob", "nonResourceAttributes": { "verb": "get", "path": "/healthz" } },
    }))
    .expect("review");
    assert_eq!(subject.create(&pp, &review).await.expect("create").status.map(|s| s.allowed), Some(true));

    let whoami: Api<SelfSubjectReview> = Api::all(client);
    let me = whoami.create(&pp, &SelfSubjectReview::default()).await.expect("create");
    let info = me.status.and_then(|s| s.user_info).expect("user info");
    assert_eq!(info.username.as_deref(), Some("system:admin"));
    assert_eq!(info.groups, Some(vec!["system:masters".to_owned(), "system:authenticated".to_owned()]));
}
