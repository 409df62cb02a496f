//! The watch caches controllers keep: every object of a kind in a reflector
//! store, and the stream of objects that changed (applied or deleted) to
//! trigger reconciles with.

use futures::Stream;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// A cache of every `K` in the cluster and the stream of the objects it saw change.
pub fn cache<K>(client: &kube::Client) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let events = reflector::reflector(writer, watcher(Api::<K>::all(client.clone()), watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    (store, events)
}
