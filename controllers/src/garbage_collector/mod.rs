//! The garbage collector (kube-controller-manager's `garbage-collector`):
//! deletes objects whose owners are gone, and carries out foreground and
//! orphan deletions of owners.
//!
//! As upstream: monitors watch the metadata of every deletable resource
//! (found through discovery, re-run periodically) and feed one graph
//! builder, which keeps the ownerReferences graph and queues objects to look
//! at (attemptToDelete) and owners whose dependents to orphan
//! (attemptToOrphan); workers decide from live GETs (the graph may lag)
//! and act through the API. Background deletion: dependents of an owner
//! gone are deleted. Foreground (`foregroundDeletion` finalizer): dependents
//! are deleted first, the owner waits for those with blockOwnerDeletion,
//! then loses the finalizer. Orphan (`orphan` finalizer): the owner's
//! references are removed from its dependents, then the finalizer.

mod absent;
mod collector;
pub mod graph;
mod monitors;
mod operations;
mod queue;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinSet;
use tracing::Instrument;

use self::absent::AbsentOwners;
use self::collector::Next;
use self::graph::{Change, Effect, Graph, Identity, Node};
use self::operations::Operations;
use self::queue::WorkQueue;
use crate::discovery::ServerResources;
use crate::events::Events;
use crate::manager::Context;

/// The component its events are reported by.
pub const COMPONENT: &str = "garbage-collector-controller";
/// The warning for a reference to an owner in another namespace.
pub const OWNER_REF_INVALID_NAMESPACE: &str = "OwnerRefInvalidNamespace";

/// How the garbage collector runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Workers on each queue (upstream's `--concurrent-gc-syncs`).
    pub workers: usize,
    /// How often discovery is re-run for new or removed resources.
    pub resync_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { workers: 20, resync_period: Duration::from_secs(30) }
    }
}

/// Starts the garbage collector with the default configuration.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx.client, Config::default()))
}

/// What the graph builder, the monitors and the workers share.
pub(crate) struct Shared {
    graph: Mutex<Graph>,
    absent: Mutex<AbsentOwners>,
    attempt_to_delete: Arc<WorkQueue<String>>,
    attempt_to_orphan: Arc<WorkQueue<String>>,
    changes: UnboundedSender<Change>,
    ops: Operations,
    events: Events,
}

impl Shared {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn node(&self, uid: &str) -> Option<Node> {
        self.graph().node(uid).cloned()
    }

    fn dependents(&self, uid: &str) -> Vec<Node> {
        self.graph().dependents(uid).into_iter().cloned().collect()
    }

    fn blocking_dependents(&self, uid: &str) -> Vec<Node> {
        self.graph().blocking_dependents(uid).into_iter().cloned().collect()
    }

    fn is_absent(&self, identity: &Identity) -> bool {
        self.absent.lock().unwrap_or_else(PoisonError::into_inner).has(identity)
    }

    fn add_absent(&self, identity: Identity) {
        self.absent.lock().unwrap_or_else(PoisonError::into_inner).add(identity);
    }
}

/// Runs the garbage collector until the future is dropped.
pub async fn run(client: kube::Client, config: Config) {
    let (changes, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        graph: Mutex::default(),
        absent: Mutex::default(),
        attempt_to_delete: WorkQueue::new(),
        attempt_to_orphan: WorkQueue::new(),
        changes,
        ops: Operations::new(client.clone()),
        events: Events::new(client.clone(), COMPONENT),
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(build_graph(Arc::clone(&shared), receiver));
    for _ in 0..config.workers.max(1) {
        tasks.spawn(delete_worker(Arc::clone(&shared)));
        tasks.spawn(orphan_worker(Arc::clone(&shared)));
    }
    let mut monitors = monitors::Monitors::default();
    let mut failures = 0;
    loop {
        let wait = match ServerResources::discover(&client).await {
            Ok(resources) => {
                if let Some(message) = resources.failure_message() {
                    tracing::info!(message, "failed to discover some groups");
                }
                let resources = Arc::new(resources);
                shared.ops.set_resources(Arc::clone(&resources));
                monitors.sync(&shared, &resources);
                failures = 0;
                config.resync_period
            }
            Err(error) => {
                // Not discovered at all (the API server starting?): try again sooner than a resync.
                tracing::info!(%error, "failed to discover preferred resources");
                failures += 1;
                Duration::from_millis(100).saturating_mul(1 << failures.min(8)).min(config.resync_period)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// The single graph builder: applies changes in order and carries out their effects.
async fn build_graph(shared: Arc<Shared>, mut changes: UnboundedReceiver<Change>) {
    while let Some(change) = changes.recv().await {
        let effects = shared.graph().apply(change);
        for effect in effects {
            match effect {
                Effect::AttemptToDelete(uid) => shared.attempt_to_delete.add(uid),
                Effect::AttemptToDeleteLater(uid) => shared.attempt_to_delete.add_rate_limited(uid),
                Effect::AttemptToOrphan(uid) => shared.attempt_to_orphan.add(uid),
                Effect::Absent(identity) => shared.add_absent(identity),
                Effect::InvalidNamespace { dependent, owner } => {
                    let events = shared.events.clone();
                    let message = format!("ownerRef {owner} does not exist in namespace {:?}", dependent.namespace);
                    tokio::spawn(async move {
                        let regarding = collector::object_reference(&dependent);
                        events.warning(&regarding, OWNER_REF_INVALID_NAMESPACE, message).await;
                    });
                }
            }
        }
    }
}

async fn delete_worker(shared: Arc<Shared>) {
    loop {
        let uid = shared.attempt_to_delete.get().await;
        let span = tracing::info_span!("attempt_to_delete", uid);
        let next = collector::attempt_to_delete(&shared, &uid).instrument(span).await;
        finish(&shared.attempt_to_delete, uid, next);
    }
}

async fn orphan_worker(shared: Arc<Shared>) {
    loop {
        let uid = shared.attempt_to_orphan.get().await;
        let span = tracing::info_span!("attempt_to_orphan", uid);
        let next = collector::attempt_to_orphan(&shared, &uid).instrument(span).await;
        finish(&shared.attempt_to_orphan, uid, next);
    }
}

fn finish(queue: &Arc<WorkQueue<String>>, uid: String, next: Next) {
    match next {
        Next::Forget => queue.forget(&uid),
        Next::Requeue => queue.add_rate_limited(uid.clone()),
    }
    queue.done(&uid);
}
