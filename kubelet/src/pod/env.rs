//! A container's environment as upstream's kubelet builds it
//! (`makeEnvironmentVariables`): envFrom, then env (value with `$(VAR)`
//! expansion, or valueFrom), then the service link variables, and
//! `$(VAR)` expansion of command and args.
//!
//! [`fetch_env_sources`] reads what the pod refers to through the API;
//! [`make_environment`] is the pure core over the fetched objects.

mod expansion;
mod fields;
mod services;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams};

pub use expansion::expand;
pub use services::{ServiceCache, service_env};

use crate::runtime::api;

/// Why a container's environment could not be built (messages as upstream's kubelet).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A referenced ConfigMap does not exist (`configmap "x" not found`).
    #[error("configmap {0:?} not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist (`secret "x" not found`).
    #[error("secret {0:?} not found")]
    SecretNotFound(String),
    /// A non-optional configMapKeyRef names a key the ConfigMap lacks.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyMissing { key: String, namespace: String, name: String },
    /// A non-optional secretKeyRef names a key the Secret lacks.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyMissing { key: String, namespace: String, name: String },
    /// A fieldRef names a field the kubelet does not support.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    /// A fieldRef with an apiVersion other than v1.
    #[error("unsupported pod version: {0}")]
    UnsupportedApiVersion(String),
    /// A resourceFieldRef names an unsupported resource.
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    /// Reading a ConfigMap, Secret or the Services from the API server failed.
    #[error("{source}")]
    Fetch {
        what: String,
        #[source]
        source: kube::Error,
    },
}

/// A `Result` with [`EnvError`].
pub type Result<T, E = EnvError> = std::result::Result<T, E>;

/// What the node knows about the pod that the API objects don't say.
#[derive(Debug, Clone, Default)]
pub struct EnvContext {
    /// The node's IPs (`status.hostIP` is the first).
    pub host_ips: Vec<String>,
    /// The pod's IPs (`status.podIP` is the first); empty for a pod without a sandbox yet.
    pub pod_ips: Vec<String>,
    /// The node's allocatable resources (`cpu`, `memory`, `ephemeral-storage`): resourceFieldRef's
    /// value for a limit the container does not set.
    pub node_allocatable: BTreeMap<String, Quantity>,
}

/// The objects a container's environment refers to, fetched from the API.
#[derive(Debug, Clone, Default)]
pub struct EnvSources {
    /// ConfigMaps of the pod's namespace by name (absent ones are missing).
    pub config_maps: BTreeMap<String, ConfigMap>,
    /// Secrets of the pod's namespace by name (absent ones are missing).
    pub secrets: BTreeMap<String, Secret>,
    /// The Services of the pod's namespace (when service links are enabled) and of `default`.
    pub services: Vec<Service>,
}

/// A container's environment and the warnings upstream records as events on the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// The variables: the container's own (envFrom and env) by name, then the service links it
    /// does not define itself.
    pub vars: Vec<(String, String)>,
    /// `InvalidEnvironmentVariableNames` event messages (envFrom keys skipped).
    pub warnings: Vec<String>,
}

impl Environment {
    /// The variables as CRI key-value pairs.
    pub fn key_values(&self) -> Vec<api::KeyValue> {
        self.vars.iter().map(|(key, value)| api::KeyValue { key: key.clone(), value: value.clone() }).collect()
    }

    /// The container's command and args with `$(VAR)` references expanded from these variables
    /// (upstream's `ExpandContainerCommandAndArgs`).
    pub fn expand_command_and_args(&self, container: &Container) -> (Vec<String>, Vec<String>) {
        let map: BTreeMap<&str, &str> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let lookup = |name: &str| map.get(name).map(|v| v.to_string());
        let expand_all = |items: &Option<Vec<String>>| -> Vec<String> {
            items.iter().flatten().map(|item| expand(item, &lookup)).collect()
        };
        (expand_all(&container.command), expand_all(&container.args))
    }
}

/// Whether the pod gets service link variables for its namespace's Services (default true).
fn service_links(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|spec| spec.enable_service_links).unwrap_or(true)
}

/// Reads the ConfigMaps, Secrets and Services that `container`'s environment refers to.
/// Missing ConfigMaps and Secrets are left out (the pure core decides whether that is an error).
pub async fn fetch_env_sources(client: &kube::Client, pod: &Pod, container: &Container) -> Result<EnvSources> {
    fetch_env_sources_with(client, None, pod, container).await
}

/// As [`fetch_env_sources`], with the Services from `cache` when it has synced (else listed).
pub async fn fetch_env_sources_with(
    client: &kube::Client,
    cache: Option<&ServiceCache>,
    pod: &Pod,
    container: &Container,
) -> Result<EnvSources> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut sources = EnvSources::default();
    let mut config_map_names = Vec::new();
    let mut secret_names = Vec::new();
    for from in container.env_from.iter().flatten() {
        config_map_names.extend(from.config_map_ref.as_ref().map(|r| r.name.clone()));
        secret_names.extend(from.secret_ref.as_ref().map(|r| r.name.clone()));
    }
    for var in container.env.iter().flatten() {
        let Some(from) = var.value_from.as_ref() else { continue };
        config_map_names.extend(from.config_map_key_ref.as_ref().map(|r| r.name.clone()));
        secret_names.extend(from.secret_key_ref.as_ref().map(|r| r.name.clone()));
    }
    let fetch_error = |what: String| move |source| EnvError::Fetch { what, source };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in config_map_names {
        if sources.config_maps.contains_key(&name) {
            continue;
        }
        let found = config_maps.get_opt(&name).await.map_err(fetch_error(format!("configmap {name}")))?;
        sources.config_maps.extend(found.map(|cm| (name, cm)));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in secret_names {
        if sources.secrets.contains_key(&name) {
            continue;
        }
        let found = secrets.get_opt(&name).await.map_err(fetch_error(format!("secret {name}")))?;
        sources.secrets.extend(found.map(|secret| (name, secret)));
    }
    if let Some(cache) = cache {
        let wait = std::time::Duration::from_secs(5);
        if let Some(services) = cache.services_for(namespace, service_links(pod), wait).await {
            sources.services = services;
            return Ok(sources);
        }
    }
    let list = ListParams::default();
    if service_links(pod) && namespace != "default" {
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let found = services.list(&list).await.map_err(fetch_error(format!("services in {namespace}")))?;
        sources.services.extend(found.items);
    }
    let defaults: Api<Service> = Api::namespaced(client.clone(), "default");
    let found = defaults.list(&list).await.map_err(fetch_error("services in default".into()))?;
    sources.services.extend(found.items);
    Ok(sources)
}

/// The container's environment from the fetched objects.
pub fn make_environment(
    pod: &Pod,
    container: &Container,
    ctx: &EnvContext,
    sources: &EnvSources,
) -> Result<Environment> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let service_vars = service_env(namespace, service_links(pod), &sources.services);
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let (kind, name, data): (&str, &str, BTreeMap<String, String>) = if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name) {
                Some(cm) => ("configMap", &r.name, cm.data.clone().unwrap_or_default()),
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
            }
        } else if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name) {
                Some(secret) => ("secret", &r.name, secret_strings(secret)),
                None if r.optional == Some(true) => continue,
                None => return Err(EnvError::SecretNotFound(r.name.clone())),
            }
        } else {
            continue;
        };
        let mut invalid = Vec::new();
        for (key, value) in data {
            let key = format!("{prefix}{key}");
            if is_env_var_name(&key) {
                own.insert(key, value);
            } else {
                invalid.push(key);
            }
        }
        if !invalid.is_empty() {
            warnings.push(format!(
                "Keys [{}] from the EnvFrom {kind} {namespace}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }

    for var in container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or_default();
        let value = if !literal.is_empty() {
            let lookup = |name: &str| own.get(name).or_else(|| service_vars.get(name)).cloned();
            expand(literal, &lookup)
        } else if let Some(from) = &var.value_from {
            if let Some(field) = &from.field_ref {
                fields::field_value(pod, field, ctx)?
            } else if let Some(resource) = &from.resource_field_ref {
                fields::resource_value(resource, container, ctx)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                let Some(cm) = sources.config_maps.get(&r.name) else {
                    if optional {
                        continue;
                    }
                    return Err(EnvError::ConfigMapNotFound(r.name.clone()));
                };
                match cm.data.as_ref().and_then(|data| data.get(&r.key)) {
                    Some(value) => value.clone(),
                    None if optional => continue,
                    None => {
                        return Err(EnvError::ConfigMapKeyMissing {
                            key: r.key.clone(),
                            namespace: namespace.into(),
                            name: r.name.clone(),
                        });
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                let Some(secret) = sources.secrets.get(&r.name) else {
                    if optional {
                        continue;
                    }
                    return Err(EnvError::SecretNotFound(r.name.clone()));
                };
                match secret.data.as_ref().and_then(|data| data.get(&r.key)) {
                    Some(value) => String::from_utf8_lossy(&value.0).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(EnvError::SecretKeyMissing {
                            key: r.key.clone(),
                            namespace: namespace.into(),
                            name: r.name.clone(),
                        });
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        own.insert(var.name.clone(), value);
    }

    let links: Vec<(String, String)> = service_vars.into_iter().filter(|(name, _)| !own.contains_key(name)).collect();
    Ok(Environment { vars: own.into_iter().chain(links).collect(), warnings })
}

/// Fetches and builds `container`'s environment.
pub async fn container_environment(
    client: &kube::Client,
    pod: &Pod,
    container: &Container,
    ctx: &EnvContext,
) -> Result<Environment> {
    let sources = fetch_env_sources(client, pod, container).await?;
    make_environment(pod, container, ctx, &sources)
}

/// As [`container_environment`], with the Services from `cache` (no LIST per container).
pub async fn container_environment_cached(
    client: &kube::Client,
    cache: &ServiceCache,
    pod: &Pod,
    container: &Container,
    ctx: &EnvContext,
) -> Result<Environment> {
    let sources = fetch_env_sources_with(client, Some(cache), pod, container).await?;
    make_environment(pod, container, ctx, &sources)
}

fn secret_strings(secret: &Secret) -> BTreeMap<String, String> {
    let data = secret.data.iter().flatten();
    data.map(|(key, value)| (key.clone(), String::from_utf8_lossy(&value.0).into_owned())).collect()
}

/// An environment variable name as the API server accepts it since 1.32
/// (RelaxedEnvironmentVariableValidation): printable ASCII without `=`.
fn is_env_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

#[cfg(test)]
#[path = "tests_env.rs"]
mod tests;
