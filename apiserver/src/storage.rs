//! The generic object store: every kind's objects as JSON under its key
//! prefix, with `resourceVersion` being the store's mod revision (it is not
//! kept in the stored JSON, as in kube-apiserver).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_store::{Backend, KeyValue, Outcome, RangeRequest, Revision};

use crate::metrics::Metrics;
use crate::object::{metadata_mut, resource_version};
use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};

/// How many times a read-modify-write retries after losing a race.
pub const MAX_RETRIES: usize = 16;

/// Objects of every kind, over one store backend.
#[derive(Debug, Clone)]
pub struct Objects {
    backend: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Value>,
    /// The revision the page was read at.
    pub revision: Revision,
    /// The last key on the page if more keys follow.
    pub next_key: Option<String>,
    /// Keys after this page (when more follow).
    pub remaining: i64,
}

impl Objects {
    pub fn new(backend: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Self {
        Self { backend, metrics }
    }

    /// Times a store call for `etcd_request_duration_seconds`.
    async fn timed<T>(&self, operation: &str, resource: &Resource, call: impl std::future::Future<Output = T>) -> T {
        let start = std::time::Instant::now();
        let out = call.await;
        self.metrics.store(operation, &resource.qualified_plural(), start.elapsed());
        out
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The object, with its resourceVersion.
    pub async fn get(&self, resource: &Resource, namespace: Option<&str>, name: &str) -> ApiResult<Value> {
        let kv = self.timed("get", resource, self.backend.get(&resource.key(namespace, name), None)).await?;
        match kv {
            Some(kv) => decode(resource, &kv),
            None => Err(ApiError::not_found(resource, name)),
        }
    }

    /// Stores a new object; 409 AlreadyExists if the name is taken.
    pub async fn create(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        object: Value,
    ) -> ApiResult<Value> {
        let key = resource.key(namespace, name);
        match self.timed("create", resource, self.backend.create(&key, encode(resource, &object)?, None)).await? {
            Outcome::Applied(revision) => with_resource_version(object, revision),
            Outcome::Conflict { .. } => Err(ApiError::already_exists(resource, name)),
        }
    }

    /// Replaces the object if it is still at `expected`; on a lost race,
    /// `Ok(Err(current))` carries what it holds now (`None`: gone).
    pub async fn replace(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        object: Value,
        expected: Revision,
    ) -> ApiResult<Result<Value, Option<Value>>> {
        let key = resource.key(namespace, name);
        match self
            .timed("update", resource, self.backend.update(&key, encode(resource, &object)?, expected, None))
            .await?
        {
            Outcome::Applied(revision) => Ok(Ok(with_resource_version(object, revision)?)),
            Outcome::Conflict { current } => Ok(Err(current.as_ref().map(|kv| decode(resource, kv)).transpose()?)),
        }
    }

    /// Removes the object if it is still at `expected` (any version if
    /// `None`); returns the removed object.
    pub async fn remove(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        expected: Option<Revision>,
    ) -> ApiResult<Value> {
        match self.timed("delete", resource, self.backend.delete(&resource.key(namespace, name), expected)).await? {
            Outcome::Applied((_, removed)) => decode(resource, &removed),
            Outcome::Conflict { current: Some(_) } => Err(ApiError::conflict(resource, name)),
            Outcome::Conflict { current: None } => Err(ApiError::not_found(resource, name)),
        }
    }

    /// A page of objects from `start` (a key, inclusive) at `revision` (latest if `None`).
    pub async fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        start: Option<String>,
        limit: Option<usize>,
        revision: Option<Revision>,
    ) -> ApiResult<Page> {
        let request = RangeRequest { prefix: resource.prefix(namespace), start, limit, revision };
        let response = self.timed("list", resource, self.backend.range(request)).await?;
        let items = response.kvs.iter().map(|kv| decode(resource, kv)).collect::<ApiResult<Vec<_>>>()?;
        let next_key = response.more.then(|| response.kvs.last().map(|kv| kv.key.clone())).flatten();
        let remaining = response.count - response.kvs.len() as i64;
        Ok(Page { items, revision: response.revision, next_key, remaining })
    }
}

/// The stored JSON of an object: in its storage version, without its resourceVersion.
fn encode(resource: &Resource, object: &Value) -> ApiResult<Bytes> {
    let mut stored = crate::convert::to_storage(resource, object.clone());
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&stored).map(Bytes::from).map_err(|e| ApiError::internal("encoding an object failed", &e))
}

/// An object read from the store, as the resource serves it, with its resourceVersion.
pub fn decode(resource: &Resource, kv: &KeyValue) -> ApiResult<Value> {
    let object: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(&format!("decoding {} failed", kv.key), &e))?;
    with_resource_version(crate::convert::from_storage(resource, object), kv.mod_revision)
}

fn with_resource_version(mut object: Value, revision: Revision) -> ApiResult<Value> {
    metadata_mut(&mut object)?.insert("resourceVersion".into(), json!(revision.to_string()));
    Ok(object)
}

/// The revision an object was read at.
pub fn revision_of(object: &Value) -> ApiResult<Revision> {
    let rv = resource_version(object).ok_or_else(|| ApiError::bad_request("the object has no resourceVersion"))?;
    crate::object::parse_resource_version(rv)
}
