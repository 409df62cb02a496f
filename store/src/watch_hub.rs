//! Watches served from memory: a ring of the most recent events that every
//! watcher of a backend reads from, falling back to the backend's on-disk
//! (or in-memory) history for revisions the ring no longer holds.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;

use crate::backend::WatchStream;
use crate::error::{Error, Result};
use crate::kv::{Event, Revision};

/// How many events a watcher takes from the ring or the history at a time.
const BATCH: usize = 512;

/// Where the events older than the ring come from.
#[async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Events under `prefix` with revisions in `from..=to`, in revision order,
    /// at most `limit` of them.
    async fn events(&self, prefix: &str, from: Revision, to: Revision, limit: usize) -> Result<Vec<Event>>;

    /// The compacted revision: history at or before it may be gone.
    async fn compacted(&self) -> Result<Revision>;
}

/// The recent events of one backend, published in revision order with no gap.
#[derive(Debug)]
pub(crate) struct WatchHub {
    ring: RwLock<Ring>,
    latest: watch::Sender<Revision>,
}

#[derive(Debug)]
struct Ring {
    events: VecDeque<Arc<Event>>,
    /// The revision of `events[0]`, or of the next event when empty.
    first: Revision,
    capacity: usize,
}

/// What the ring holds for a watcher that wants revisions from `next` on.
enum RingRead {
    /// Matching events (possibly none) and the next revision to ask for.
    Events(Vec<Arc<Event>>, Revision),
    /// The ring starts after `next`; read the history up to the ring's first revision.
    Behind { ring_first: Revision },
    /// Nothing newer than `next - 1` has been published yet.
    UpToDate,
}

impl WatchHub {
    /// A hub for a store whose latest revision is `current`, keeping the last
    /// `capacity` events in memory.
    pub(crate) fn new(current: Revision, capacity: usize) -> Self {
        let ring =
            Ring { events: VecDeque::with_capacity(capacity.min(4096)), first: current + 1, capacity: capacity.max(1) };
        Self { ring: RwLock::new(ring), latest: watch::channel(current).0 }
    }

    /// Publishes the events of durable writes; their revisions must continue
    /// the published ones with no gap.
    pub(crate) fn publish(&self, events: Vec<Event>) {
        let Some(last) = events.last().map(Event::revision) else {
            return;
        };
        {
            let mut ring = self.ring.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for event in events {
                debug_assert_eq!(event.revision(), ring.first + ring.events.len() as i64);
                ring.events.push_back(Arc::new(event));
                if ring.events.len() > ring.capacity {
                    ring.events.pop_front();
                    ring.first += 1;
                }
            }
        }
        self.latest.send_replace(last);
    }

    fn read(&self, prefix: &str, next: Revision) -> RingRead {
        let ring = self.ring.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if next < ring.first {
            return RingRead::Behind { ring_first: ring.first };
        }
        let skip = (next - ring.first) as usize;
        if skip >= ring.events.len() {
            return RingRead::UpToDate;
        }
        let mut out = Vec::new();
        let mut scanned_to = next - 1;
        for event in ring.events.iter().skip(skip) {
            scanned_to = event.revision();
            if event.kv.key.starts_with(prefix) {
                out.push(Arc::clone(event));
                if out.len() == BATCH {
                    break;
                }
            }
        }
        RingRead::Events(out, scanned_to + 1)
    }

    /// A watch of `prefix` from the revision after `after`, reading older
    /// revisions from `history`. Fails at once if `after` is compacted.
    pub(crate) async fn watch<H: History + ?Sized>(
        self: &Arc<Self>,
        history: Arc<H>,
        prefix: &str,
        after: Revision,
    ) -> Result<WatchStream> {
        let compacted = history.compacted().await?;
        if after < compacted {
            return Err(Error::Compacted { requested: after + 1, compacted });
        }
        let watcher = Watcher {
            hub: Arc::downgrade(self),
            history,
            prefix: prefix.to_owned(),
            next: after + 1,
            latest: self.latest.subscribe(),
            failed: false,
        };
        let stream = futures::stream::unfold(watcher, |mut w| async move {
            let batch = w.next_batch().await?;
            Some((futures::stream::iter(batch), w))
        });
        Ok(stream.flatten().boxed())
    }
}

/// One watcher's position.
struct Watcher<H: ?Sized> {
    /// Weak, so that watches end when their backend is dropped.
    hub: Weak<WatchHub>,
    history: Arc<H>,
    prefix: String,
    /// The first revision not yet delivered.
    next: Revision,
    latest: watch::Receiver<Revision>,
    failed: bool,
}

impl<H: History + ?Sized> Watcher<H> {
    /// The next non-empty batch of results; `None` ends the stream.
    async fn next_batch(&mut self) -> Option<Vec<Result<Event>>> {
        if self.failed {
            return None;
        }
        loop {
            let read = self.hub.upgrade()?.read(&self.prefix, self.next);
            match read {
                RingRead::Events(events, next) => {
                    self.next = next;
                    if !events.is_empty() {
                        return Some(events.iter().map(|e| Ok(Event::clone(e))).collect());
                    }
                }
                RingRead::Behind { ring_first } => match self.read_history(ring_first - 1).await {
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => return Some(events.into_iter().map(Ok).collect()),
                    Err(err) => {
                        self.failed = true;
                        return Some(vec![Err(err)]);
                    }
                },
                RingRead::UpToDate => {
                    // Only wait if nothing was published since the ring was read.
                    let published = *self.latest.borrow_and_update();
                    if published < self.next && self.latest.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Reads history from `self.next` up to `to`, checking afterwards that
    /// compaction did not remove any of it meanwhile.
    async fn read_history(&mut self, to: Revision) -> Result<Vec<Event>> {
        let events = self.history.events(&self.prefix, self.next, to, BATCH).await?;
        let compacted = self.history.compacted().await?;
        if self.next <= compacted {
            return Err(Error::Compacted { requested: self.next, compacted });
        }
        self.next = match events.last() {
            Some(last) if events.len() == BATCH => last.revision() + 1,
            _ => to + 1,
        };
        Ok(events)
    }
}
