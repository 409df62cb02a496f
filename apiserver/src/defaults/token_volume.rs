//! The ServiceAccount admission plugin's token volume
//! (plugin/pkg/admission/serviceaccount): a pod that does not opt out with
//! `automountServiceAccountToken: false` gets the projected volume
//! `kube-api-access-<5 random chars>` (a bound token, the cluster CA from the
//! `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only at
//! /var/run/secrets/kubernetes.io/serviceaccount in every container and init
//! container that has nothing mounted there yet. (Upstream also honours the
//! ServiceAccount's own automountServiceAccountToken; that needs a lookup the
//! defaulting step cannot make, so only the pod's field is read.)

use serde_json::{Value, json};

use super::json::Obj;

/// Where the token volume is mounted (upstream's DefaultAPITokenMountPath).
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the volume's name (upstream's ServiceAccountVolumeName).
pub const VOLUME_NAME_PREFIX: &str = "kube-api-access-";
/// The token lifetime the plugin asks for (upstream's WarnOnlyBoundTokenExpirationSeconds).
const EXPIRATION_SECONDS: i64 = 3607;
/// The characters of generated name suffixes (upstream's utilrand alphabet, no vowels).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Adds the token volume and its mounts to a pod's spec unless the pod opts out.
pub(crate) fn mount_service_account_token(spec: &mut Obj) {
    if spec.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
        return;
    }
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .find(|name| name.starts_with(VOLUME_NAME_PREFIX))
        .map(str::to_owned);
    let name = existing.clone().unwrap_or_else(|| format!("{VOLUME_NAME_PREFIX}{}", random_suffix()));
    let mount = json!({ "name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH });
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        for container in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(container) = container.as_object_mut() else { continue };
            let mounts = container.entry("volumeMounts").or_insert_with(|| Value::Array(Vec::new()));
            let Some(mounts) = mounts.as_array_mut() else { continue };
            let taken = mounts.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH));
            if !taken {
                mounts.push(mount.clone());
                needed = true;
            }
        }
    }
    if needed && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| Value::Array(Vec::new()));
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(volume(&name));
        }
    }
}

/// The projected volume, with the defaults the API server then fills in (defaultMode 0644).
fn volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "sources": [
                { "serviceAccountToken": { "expirationSeconds": EXPIRATION_SECONDS, "path": "token" } },
                { "configMap": { "name": "kube-root-ca.crt", "items": [{ "key": "ca.crt", "path": "ca.crt" }] } },
                { "downwardAPI": { "items": [{ "path": "namespace",
                    "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } }] } }
            ],
            "defaultMode": 420
        }
    })
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHANUMS[usize::from(*b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> Obj {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_container_mounts_one_projected_token_volume() {
        let mut pod = spec(json!({ "containers": [{ "name": "a" }], "initContainers": [{ "name": "i" }] }));
        mount_service_account_token(&mut pod);
        let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
        assert_eq!(volumes.len(), 1);
        let name = volumes[0]["name"].as_str().unwrap_or_default().to_owned();
        assert!(name.starts_with("kube-api-access-") && name.len() == "kube-api-access-".len() + 5, "{name}");
        assert_eq!(volumes[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
        for list in ["containers", "initContainers"] {
            assert_eq!(
                pod[list][0]["volumeMounts"],
                json!([{ "name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH }])
            );
        }
    }

    #[test]
    fn pods_that_opt_out_or_mount_the_path_themselves_get_no_token_volume() {
        let mut opted_out = spec(json!({ "automountServiceAccountToken": false, "containers": [{ "name": "a" }] }));
        mount_service_account_token(&mut opted_out);
        assert!(opted_out.get("volumes").is_none());
        let mut own = spec(
            json!({ "containers": [{ "name": "a", "volumeMounts": [{ "name": "x", "mountPath": TOKEN_MOUNT_PATH }] }] }),
        );
        mount_service_account_token(&mut own);
        assert!(own.get("volumes").is_none());
    }
}
