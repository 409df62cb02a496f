//! A container's environment read through a real (in-process) API server:
//! ConfigMaps, Secrets and service links, listed or from the Service cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::ApiServer;
use skiff_kubelet::pod::env::{self, EnvContext, ServiceCache};
use skiff_store::MemoryBackend;

async fn create<K>(client: &kube::Client, namespace: &str, object: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Clone
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(object).expect("an object");
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &object).await.expect("created");
}

#[tokio::test]
async fn the_environment_comes_from_the_api_listed_or_cached() {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = api.client();
    for namespace in ["shop"] {
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("a namespace");
        let _ = Api::all(client.clone()).create(&PostParams::default(), &ns).await;
    }
    create::<ConfigMap>(&client, "shop", json!({"metadata": {"name": "cfg"}, "data": {"MODE": "fast"}})).await;
    create::<Secret>(&client, "shop", json!({"metadata": {"name": "creds"}, "data": {"PASSWORD": "czNjcjN0"}})).await;
    create::<Service>(&client, "shop", json!({"metadata": {"name": "redis"}, "spec": {"ports": [{"port": 6379}]}}))
        .await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .expect("a pod");
    let container: Container = serde_json::from_value(json!({
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
                {"name": "REDIS", "value": "$(REDIS_SERVICE_HOST):$(REDIS_SERVICE_PORT)"}],
    }))
    .expect("a container");
    let ctx = EnvContext::default();

    let started = Instant::now();
    let listed = env::container_environment(&client, &pod, &container, &ctx).await.expect("an environment");
    let listed_took = started.elapsed();
    let vars: std::collections::BTreeMap<_, _> = listed.vars.iter().cloned().collect();
    assert_eq!(vars["MODE"], "fast");
    assert_eq!(vars["PASSWORD"], "s3cr3t");
    let redis_ip = &vars["REDIS_SERVICE_HOST"];
    assert!(redis_ip.parse::<std::net::IpAddr>().is_ok(), "{redis_ip}");
    assert_eq!(vars["REDIS"], format!("{redis_ip}:6379"));

    let cache = ServiceCache::start(client.clone());
    let cached = env::container_environment_cached(&client, &cache, &pod, &container, &ctx).await.expect("cached");
    assert_eq!(cached, listed);
    let started = Instant::now();
    for _ in 0..20 {
        env::container_environment_cached(&client, &cache, &pod, &container, &ctx).await.expect("cached");
    }
    let cached_took = started.elapsed() / 20;
    eprintln!("environment: listed {listed_took:?}, cached {cached_took:?}");
    assert!(cached_took < Duration::from_secs(1));

    let missing: Container = serde_json::from_value(json!({
        "name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
    }))
    .expect("a container");
    let err = env::container_environment(&client, &pod, &missing, &ctx).await.expect_err("a missing configmap");
    assert_eq!(err.to_string(), "configmap \"nope\" not found");
}
