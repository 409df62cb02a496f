//! The monitors (upstream's resource monitors and `Sync`): one metadata-only
//! watch per deletable resource (list, watch and delete verbs, preferred
//! version, events excepted), feeding the graph; discovery is re-run
//! periodically so that resources that appear (custom resources) get a
//! monitor and those that go away lose theirs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::Shared;
use super::graph::{Change, Identity, Observed};
use crate::discovery::{ServedResource, ServerResources};

/// Resources never monitored (upstream's default ignored resources).
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// A resource as `group/version/plural`.
type Key = (String, String, String);

fn key(api: &ApiResource) -> Key {
    (api.group.clone(), api.version.clone(), api.plural.clone())
}

/// The resources the garbage collector watches: preferred versions supporting list, watch and delete.
pub fn deletable(resources: &ServerResources) -> Vec<&ServedResource> {
    resources
        .preferred()
        .into_iter()
        .filter(|r| ["list", "watch", "delete"].iter().all(|verb| r.supports(verb)))
        .filter(|r| !IGNORED.contains(&(r.api.group.as_str(), r.api.plural.as_str())))
        .collect()
}

/// The running monitors; dropping it stops them.
#[derive(Debug, Default)]
pub struct Monitors {
    running: HashMap<Key, JoinHandle<()>>,
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

impl Monitors {
    /// Starts monitors for new resources and stops those of resources no longer served
    /// (except for group versions whose discovery failed this time).
    pub fn sync(&mut self, shared: &Arc<Shared>, resources: &ServerResources) {
        let wanted = deletable(resources);
        let failed: BTreeSet<&str> = resources.failed.iter().map(|(gv, _)| gv.as_str()).collect();
        let keep: BTreeSet<Key> = wanted.iter().map(|r| key(&r.api)).collect();
        let before = self.running.len();
        self.running.retain(|(group, version, plural), task| {
            let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
            let kept = keep.contains(&(group.clone(), version.clone(), plural.clone()))
                || failed.contains(api_version.as_str());
            if !kept {
                task.abort();
            }
            kept
        });
        let removed = before - self.running.len();
        let mut added = 0;
        for resource in wanted {
            let key = key(&resource.api);
            if self.running.contains_key(&key) {
                continue;
            }
            let api = resource.api.clone();
            let changes = shared.changes.clone();
            let client = shared.ops.client().clone();
            self.running.insert(key, tokio::spawn(monitor(client, api, changes)));
            added += 1;
        }
        if added + removed > 0 {
            tracing::debug!(added, removed, total = self.running.len(), "synced monitors");
        }
    }
}

/// What the graph needs of an object's metadata.
fn observed(api: &ApiResource, object: PartialObjectMeta<DynamicObject>) -> Observed {
    let meta = object.metadata;
    Observed {
        identity: Identity {
            kind: api.kind.clone(),
            api_version: api.api_version.clone(),
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            uid: meta.uid.unwrap_or_default(),
        },
        owners: meta.owner_references.unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.unwrap_or_default(),
    }
}

/// Watches one resource's metadata until aborted; a relist reports the objects that
/// disappeared meanwhile as deleted.
async fn monitor(client: kube::Client, api: ApiResource, changes: UnboundedSender<Change>) {
    let objects: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &api);
    let mut stream = std::pin::pin!(watch(objects, watcher::Config::default()).default_backoff());
    let mut known: HashMap<String, Identity> = HashMap::new();
    let mut relisted: Option<HashMap<String, Identity>> = None;
    while let Some(event) = stream.next().await {
        let change = match event {
            Ok(Event::Init) => {
                relisted = Some(HashMap::new());
                continue;
            }
            Ok(Event::InitApply(object)) => {
                let object = observed(&api, object);
                relisted.get_or_insert_default().insert(object.identity.uid.clone(), object.identity.clone());
                Change::Upsert(object)
            }
            Ok(Event::InitDone) => {
                let now = relisted.take().unwrap_or_default();
                for (uid, identity) in known.drain() {
                    if !now.contains_key(&uid) {
                        let object = Observed { identity, ..Observed::default() };
                        let _ = changes.send(Change::Delete { object, virtual_: false });
                    }
                }
                known = now;
                continue;
            }
            Ok(Event::Apply(object)) => {
                let object = observed(&api, object);
                known.insert(object.identity.uid.clone(), object.identity.clone());
                Change::Upsert(object)
            }
            Ok(Event::Delete(object)) => {
                let object = observed(&api, object);
                known.remove(&object.identity.uid);
                Change::Delete { object, virtual_: false }
            }
            Err(error) => {
                tracing::debug!(%error, resource = api.plural, group = api.group, "monitor watch failed");
                continue;
            }
        };
        if changes.send(change).is_err() {
            return;
        }
    }
}
