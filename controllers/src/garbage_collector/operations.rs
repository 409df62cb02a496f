//! The garbage collector's requests, on objects of any kind (dynamic
//! objects, metadata only): look an object up by its identity, delete it
//! with UID and resourceVersion preconditions, drop or unblock owner
//! references (strategic merge, or a JSON merge patch where the kind has
//! no strategic merge, as for custom resources), and remove a finalizer.

use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use serde_json::{Value, json};

use super::graph::Identity;
use crate::discovery::{ServedResource, ServerResources};

/// Why a request of the garbage collector failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Discovery does not (yet) serve this kind at this version.
    #[error("unable to get REST mapping for {kind}.{api_version}")]
    Mapping { api_version: String, kind: String },
    /// Upstream's `namespacedOwnerOfClusterScopedObjectErr`: never retried.
    #[error("cluster-scoped objects cannot refer to namespaced owners")]
    NamespacedOwnerOfClusterScoped,
    #[error(transparent)]
    Api(#[from] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted, or marked for deletion.
    Yes,
    /// The object was already gone.
    NotFound,
}

/// Whether a kube error is the API server's 404 / 409 / 415.
pub fn is_code(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

/// Requests on any kind the API server serves, mapped through the last discovery.
#[derive(Clone)]
pub struct Operations {
    client: kube::Client,
    resources: Arc<RwLock<Arc<ServerResources>>>,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations").finish_non_exhaustive()
    }
}

impl Operations {
    pub fn new(client: kube::Client) -> Self {
        Self { client, resources: Arc::default() }
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Replaces the mapping after a discovery.
    pub fn set_resources(&self, resources: Arc<ServerResources>) {
        *self.resources.write().unwrap_or_else(PoisonError::into_inner) = resources;
    }

    /// The resource serving `kind` at `api_version`.
    pub fn resource(&self, api_version: &str, kind: &str) -> Result<ServedResource> {
        let resources = self.resources.read().unwrap_or_else(PoisonError::into_inner);
        resources
            .find_kind(api_version, kind)
            .cloned()
            .ok_or_else(|| Error::Mapping { api_version: api_version.to_owned(), kind: kind.to_owned() })
    }

    fn api(&self, resource: &ServedResource, namespace: &str) -> Api<DynamicObject> {
        if resource.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &resource.api)
        } else {
            Api::all_with(self.client.clone(), &resource.api)
        }
    }

    fn api_for(&self, item: &Identity) -> Result<Api<DynamicObject>> {
        let resource = self.resource(&item.api_version, &item.kind)?;
        Ok(self.api(&resource, &item.namespace))
    }

    /// The live object's metadata, `None` if it is gone.
    pub async fn get(&self, item: &Identity) -> Result<Option<ObjectMeta>> {
        let resource = self.resource(&item.api_version, &item.kind)?;
        self.get_in(&resource, &item.namespace, &item.name).await
    }

    /// The live metadata of `name` of `resource` (in `namespace` when namespaced; a namespaced
    /// object without a namespace, as a cluster-scoped dependent names one, does not exist).
    pub async fn get_in(&self, resource: &ServedResource, namespace: &str, name: &str) -> Result<Option<ObjectMeta>> {
        if resource.namespaced && namespace.is_empty() {
            return Ok(None);
        }
        Ok(self.api(resource, namespace).get_metadata_opt(name).await?.map(|o| o.metadata))
    }

    /// Deletes `item` if its UID (and, when given, resourceVersion) still match. A conflict on the
    /// resourceVersion alone is retried without it when the owner references did not change.
    pub async fn delete(
        &self,
        item: &Identity,
        resource_version: Option<&str>,
        owners_at_version: &[OwnerReference],
        policy: PropagationPolicy,
    ) -> Result<Deleted> {
        let api = self.api_for(item)?;
        let mut params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(item.uid.clone()),
                resource_version: resource_version.map(str::to_owned),
            }),
            ..DeleteParams::default()
        };
        let mut result = api.delete(&item.name, &params).await;
        if let Err(error) = &result
            && is_code(error, 409)
            && resource_version.is_some()
        {
            match api.get_metadata_opt(&item.name).await? {
                None => return Ok(Deleted::NotFound),
                Some(live)
                    if live.metadata.uid.as_deref() == Some(item.uid.as_str())
                        && live.metadata.resource_version.as_deref() != resource_version
                        && live.metadata.owner_references.as_deref().unwrap_or_default() == owners_at_version =>
                {
                    if let Some(preconditions) = &mut params.preconditions {
                        preconditions.resource_version = None;
                    }
                    result = api.delete(&item.name, &params).await;
                }
                Some(_) => {}
            }
        }
        match result {
            Ok(_) => Ok(Deleted::Yes),
            Err(error) if is_code(&error, 404) => Ok(Deleted::NotFound),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the references to `owner_uids` from `item` (a no-op for references it no longer has).
    pub async fn remove_owner_references(&self, item: &Identity, owner_uids: &[String]) -> Result<()> {
        let deletions: Vec<Value> = owner_uids.iter().map(|uid| json!({ "$patch": "delete", "uid": uid })).collect();
        let strategic = json!({ "metadata": { "ownerReferences": deletions, "uid": item.uid } });
        self.patch(item, strategic, |owners| {
            owners.retain(|o| !owner_uids.contains(&o.uid));
        })
        .await
    }

    /// Sets blockOwnerDeletion to false on every reference of `item` that has it set.
    pub async fn unblock_owner_references(&self, item: &Identity, owners: &[OwnerReference]) -> Result<()> {
        let unblocked: Vec<OwnerReference> = owners
            .iter()
            .filter(|o| o.block_owner_deletion == Some(true))
            .map(|o| OwnerReference { block_owner_deletion: Some(false), ..o.clone() })
            .collect();
        let strategic = json!({ "metadata": { "ownerReferences": unblocked, "uid": item.uid } });
        self.patch(item, strategic, |owners| {
            for owner in owners.iter_mut().filter(|o| o.block_owner_deletion == Some(true)) {
                owner.block_owner_deletion = Some(false);
            }
        })
        .await
    }

    /// A strategic merge patch; where the kind has none (415), a JSON merge patch of the
    /// whole reference list as `edit` makes it, at the resourceVersion it was read at.
    async fn patch(
        &self,
        item: &Identity,
        strategic: Value,
        edit: impl FnOnce(&mut Vec<OwnerReference>),
    ) -> Result<()> {
        let api = self.api_for(item)?;
        let params = PatchParams::default();
        match api.patch(&item.name, &params, &Patch::Strategic(&strategic)).await {
            Ok(_) => return Ok(()),
            Err(error) if !is_code(&error, 415) => return Err(error.into()),
            Err(_) => {}
        }
        let live = api.get_metadata(&item.name).await?.metadata;
        if live.uid.as_deref() != Some(item.uid.as_str()) {
            return Err(kube::Error::Api(
                kube::core::Status::failure("the object was replaced", "NotFound").with_code(404).boxed(),
            )
            .into());
        }
        let mut owners = live.owner_references.unwrap_or_default();
        edit(&mut owners);
        let merge = json!({ "metadata": { "resourceVersion": live.resource_version, "ownerReferences": owners } });
        api.patch(&item.name, &params, &Patch::Merge(&merge)).await?;
        Ok(())
    }

    /// Removes `finalizer` from `item` (a merge patch at the version read, retried on conflicts);
    /// nothing to do when the object or the finalizer is gone.
    pub async fn remove_finalizer(&self, item: &Identity, finalizer: &str) -> Result<()> {
        let api = self.api_for(item)?;
        let mut attempts = 0;
        loop {
            let Some(live) = api.get_metadata_opt(&item.name).await? else { return Ok(()) };
            let live = live.metadata;
            if live.uid.as_deref() != Some(item.uid.as_str()) {
                return Ok(());
            }
            let finalizers = live.finalizers.unwrap_or_default();
            if !finalizers.iter().any(|f| f == finalizer) {
                return Ok(());
            }
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
            let patch = json!({ "metadata": { "resourceVersion": live.resource_version, "finalizers": rest } });
            match api.patch(&item.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => return Ok(()),
                Err(error) if is_code(&error, 404) => return Ok(()),
                Err(error) if is_code(&error, 409) && attempts < 4 => attempts += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }
}
