//! Controller references: making them, finding an object's controller, and
//! claiming children by selector as upstream's ControllerRefManager does
//! (adopt matching orphans, release owned children that stopped matching).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::{Resource, ResourceExt};
use serde_json::json;

/// The owner reference a controller puts on what it creates (controller and blockOwnerDeletion set).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The owner reference marked as controller, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Whether `meta`'s controller is the object with this UID.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// A label selector as kube's matcher; an invalid one matches nothing (`None`).
pub fn selector(selector: &LabelSelector) -> Option<Selector> {
    Selector::try_from(selector.clone()).ok()
}

/// Whether `selector` (converted with [`selector`]) selects `labels`; an empty selector selects everything.
pub fn selects(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches(labels)
}

/// An owner claiming its children: adopts orphans its selector matches and
/// releases children whose labels no longer match, through patches with a
/// UID precondition (so a replaced object is never touched).
#[derive(Debug)]
pub struct Claim<'a> {
    pub owner: OwnerReference,
    pub selector: &'a Selector,
    /// The owner is being deleted: it adopts nothing (and releases nothing).
    pub owner_deleting: bool,
}

impl Claim<'_> {
    /// The candidates this owner controls after adopting and releasing.
    /// A child that cannot be patched (gone, changed) is left out.
    pub async fn run<K>(&self, api: &Api<K>, candidates: impl IntoIterator<Item = Arc<K>>) -> Vec<Arc<K>>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut claimed = Vec::new();
        for child in candidates {
            let meta = child.meta();
            let matches = self.selector.matches(meta.labels.as_ref().unwrap_or(&BTreeMap::new()));
            match controller_of(meta) {
                Some(r) if r.uid == self.owner.uid => {
                    if matches || self.owner_deleting {
                        claimed.push(child);
                    } else if let Err(error) = self.release(api, &child).await {
                        tracing::debug!(%error, child = child.name_any(), "releasing failed");
                    }
                }
                Some(_) => {}
                None => {
                    if !matches || self.owner_deleting || meta.deletion_timestamp.is_some() {
                        continue;
                    }
                    match self.adopt(api, &child).await {
                        Ok(adopted) => claimed.push(Arc::new(adopted)),
                        Err(error) => tracing::debug!(%error, child = child.name_any(), "adopting failed"),
                    }
                }
            }
        }
        claimed
    }

    async fn adopt<K>(&self, api: &Api<K>, child: &K) -> Result<K, kube::Error>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let patch = json!({ "metadata": { "ownerReferences": [self.owner], "uid": child.meta().uid } });
        api.patch(&child.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await
    }

    async fn release<K>(&self, api: &Api<K>, child: &K) -> Result<K, kube::Error>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let patch = json!({ "metadata": {
            "ownerReferences": [{ "$patch": "delete", "uid": self.owner.uid }], "uid": child.meta().uid } });
        api.patch(&child.name_any(), &PatchParams::default(), &Patch::Strategic(&patch)).await
    }
}
