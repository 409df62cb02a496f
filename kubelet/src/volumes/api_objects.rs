//! configMap and secret volumes: the payload of a ConfigMap's or Secret's
//! keys (all of them, or the `items` with their paths and modes), as
//! upstream's configmap and secret plugins make it, with their messages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Secret};
use kube::Api;

use super::atomic_writer::{FileProjection, Payload};

/// Upstream's defaultMode for every API-data volume (0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// The ConfigMap `name` of `namespace`; `Ok(None)` when it is missing and `optional`.
pub async fn config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    optional: bool,
) -> Result<Option<ConfigMap>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(Some(object)),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(format!("configmap \"{name}\" not found")),
        Err(error) => Err(format!("couldn't get configmap {namespace}/{name}: {error}")),
    }
}

/// The Secret `name` of `namespace`; `Ok(None)` when it is missing and `optional`.
pub async fn secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    optional: bool,
) -> Result<Option<Secret>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(object)) => Ok(Some(object)),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(format!("secret \"{name}\" not found")),
        Err(error) => Err(format!("couldn't get secret {namespace}/{name}: {error}")),
    }
}

/// A ConfigMap's data and binaryData as bytes by key.
pub fn config_map_data(object: Option<&ConfigMap>) -> BTreeMap<String, Vec<u8>> {
    let mut data = BTreeMap::new();
    if let Some(object) = object {
        for (key, value) in object.data.iter().flatten() {
            data.insert(key.clone(), value.clone().into_bytes());
        }
        for (key, value) in object.binary_data.iter().flatten() {
            data.insert(key.clone(), value.0.clone());
        }
    }
    data
}

/// A Secret's data by key.
pub fn secret_data(object: Option<&Secret>) -> BTreeMap<String, Vec<u8>> {
    object.and_then(|s| s.data.as_ref()).into_iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// What a missing key is called in the error (`configmap references non-existent config key: k`).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    ConfigMap,
    Secret,
}

/// Every key under its own name, or the items at their paths (missing keys are an error unless `optional`).
pub fn make_payload(
    kind: Kind,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let mut payload = Payload::new();
    let items = items.unwrap_or_default();
    if items.is_empty() {
        for (key, value) in data {
            payload.insert(key.clone(), FileProjection { data: value.clone(), mode: mode_bits(default_mode) });
        }
        return Ok(payload);
    }
    for item in items {
        let Some(value) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(match kind {
                Kind::ConfigMap => format!("configmap references non-existent config key: {}", item.key),
                Kind::Secret => format!("references non-existent secret key: {}", item.key),
            });
        };
        let mode = mode_bits(item.mode.unwrap_or(default_mode));
        payload.insert(item.path.clone(), FileProjection { data: value.clone(), mode });
    }
    Ok(payload)
}

/// A mode from the API (an int32) as permission bits.
pub fn mode_bits(mode: i32) -> u32 {
    u32::try_from(mode).unwrap_or(0o644) & 0o7777
}
