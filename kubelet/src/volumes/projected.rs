//! projected volumes: configMap, secret, downwardAPI and serviceAccountToken
//! sources merged into one payload, as upstream's projected plugin does
//! (errors of all sources are reported together).

use k8s_openapi::api::core::v1::{Pod, ProjectedVolumeSource};

use super::api_objects::{self, DEFAULT_MODE, Kind};
use super::atomic_writer::{FileProjection, Payload};
use super::downward_api;
use super::token::{BoundPod, DEFAULT_EXPIRATION_SECONDS, TokenManager};

/// The payload of a projected volume of `pod`.
pub async fn make_payload(
    client: &kube::Client,
    tokens: &TokenManager,
    pod: &Pod,
    source: &ProjectedVolumeSource,
    fs_group: Option<u32>,
) -> Result<Payload, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for projection in source.sources.iter().flatten() {
        if let Some(cm) = &projection.config_map {
            let optional = cm.optional.unwrap_or(false);
            let result = match api_objects::config_map(client, namespace, &cm.name, optional).await {
                Ok(object) => {
                    let data = api_objects::config_map_data(object.as_ref());
                    api_objects::make_payload(Kind::ConfigMap, &data, cm.items.as_deref(), default_mode, optional)
                }
                Err(error) => Err(error),
            };
            merge(&mut payload, &mut errors, result);
        }
        if let Some(secret) = &projection.secret {
            let optional = secret.optional.unwrap_or(false);
            let result = match api_objects::secret(client, namespace, &secret.name, optional).await {
                Ok(object) => {
                    let data = api_objects::secret_data(object.as_ref());
                    api_objects::make_payload(Kind::Secret, &data, secret.items.as_deref(), default_mode, optional)
                }
                Err(error) => Err(error),
            };
            merge(&mut payload, &mut errors, result);
        }
        if let Some(downward) = &projection.downward_api {
            let items = downward.items.as_deref().unwrap_or_default();
            merge(&mut payload, &mut errors, downward_api::make_payload(pod, items, default_mode));
        }
        if let Some(token) = &projection.service_account_token {
            // With an fsGroup the token is 0600 and the ownership step widens it to 0640 (as upstream).
            let mode = if fs_group.is_some() { 0o600 } else { api_objects::mode_bits(default_mode) };
            let audiences = token.audience.iter().filter(|a| !a.is_empty()).cloned().collect();
            let account = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("default");
            let bound = BoundPod {
                namespace,
                name: pod.metadata.name.as_deref().unwrap_or_default(),
                uid: pod.metadata.uid.as_deref().unwrap_or_default(),
            };
            let expiration = token.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS);
            let result = tokens.token(client, account, &bound, audiences, expiration).await;
            let result = result
                .map(|jwt| Payload::from([(token.path.clone(), FileProjection { data: jwt.into_bytes(), mode })]));
            merge(&mut payload, &mut errors, result);
        }
        if projection.cluster_trust_bundle.is_some() {
            errors.push("clusterTrustBundle projections are not supported by this kubelet".to_owned());
        }
    }
    match errors.len() {
        0 => Ok(payload),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

fn merge(payload: &mut Payload, errors: &mut Vec<String>, result: Result<Payload, String>) {
    match result {
        Ok(files) => payload.extend(files),
        Err(error) => errors.push(error),
    }
}
