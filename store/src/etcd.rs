//! [`EtcdBackend`]: the [`Backend`] over a real etcd v3 cluster.
//!
//! Keys and values are stored exactly as given, so `etcdctl` can inspect
//! them. The compacted revision is recorded in `compact_rev_key`, as
//! kube-apiserver does, because etcd cannot be asked for it directly.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, GetResponse, PutOptions,
    SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchOptions,
};
use futures::stream;
use tracing::debug;

use crate::backend::{Backend, WatchStream};
use crate::error::{Error, Result};
use crate::kv::{Event, EventKind, KeyValue, LeaseId, Outcome, RangeRequest, RangeResponse, Revision};

/// A result straight from `etcd-client`.
type Raw<T> = std::result::Result<T, etcd_client::Error>;

/// The key holding the last compacted revision as decimal text (the same key
/// kube-apiserver uses).
const COMPACT_REV_KEY: &str = "compact_rev_key";

/// The largest response accepted, as kube-apiserver's etcd client
/// (gRPC's 4 MiB default is smaller than one page of a big list).
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// How many times [`EtcdBackend::connect`] tries before giving up (default 5).
    pub connect_attempts: u32,
    /// The limit on each connection attempt (default 2 s).
    pub connect_timeout: Duration,
    /// The limit on each request (default 10 s); watches are not limited.
    pub request_timeout: Duration,
}

impl EtcdConfig {
    /// A configuration for `endpoints` with the default limits.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            connect_attempts: 5,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Sets how many connection attempts to make (at least 1).
    pub fn connect_attempts(mut self, attempts: u32) -> Self {
        self.connect_attempts = attempts;
        self
    }

    /// Sets the limit on each connection attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the limit on each request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// A [`Backend`] over etcd through `etcd-client`. Cheap to share: requests
/// run concurrently over one HTTP/2 connection per endpoint.
#[derive(Clone)]
pub struct EtcdBackend {
    client: Client,
    config: EtcdConfig,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Connects and checks that etcd answers a read, retrying with
    /// exponential backoff (200 ms doubling, at most 2 s) up to
    /// `config.connect_attempts` times; then fails with
    /// [`Error::EtcdUnreachable`]. A malformed endpoint is
    /// [`Error::InvalidEndpoint`] at once.
    pub async fn connect(config: EtcdConfig) -> Result<EtcdBackend> {
        let endpoints = config.endpoints.join(",");
        if config.endpoints.is_empty() {
            return Err(Error::InvalidEndpoint { endpoint: endpoints, reason: "no etcd endpoint given".into() });
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
            .with_keep_alive_while_idle(false);
        let attempts = config.connect_attempts.max(1);
        let mut backoff = Duration::from_millis(200);
        let mut last = etcd_client::Error::Internal("no connection attempt made".into());
        for attempt in 1..=attempts {
            let probe = async {
                let mut client = Client::connect(&config.endpoints, Some(options.clone())).await?;
                client.get(COMPACT_REV_KEY, Some(GetOptions::new().with_count_only())).await?;
                Ok(client)
            };
            match timed(config.connect_timeout, probe).await {
                Ok(client) => {
                    debug!(%endpoints, attempt, "connected to etcd");
                    return Ok(EtcdBackend { client, config });
                }
                Err(e @ (etcd_client::Error::InvalidUri(_) | etcd_client::Error::InvalidArgs(_))) => {
                    return Err(Error::InvalidEndpoint { endpoint: endpoints, reason: e.to_string() });
                }
                Err(e) => {
                    debug!(%endpoints, attempt, error = %e, "etcd did not answer");
                    last = e;
                }
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Err(Error::EtcdUnreachable { endpoints, attempts, source: last })
    }

    /// A KV client that accepts responses as large as kube-apiserver's does.
    fn kv(&self) -> etcd_client::KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Runs `fut` under the request timeout.
    async fn timed<T>(&self, fut: impl Future<Output = Raw<T>>) -> Raw<T> {
        timed(self.config.request_timeout, fut).await
    }

    /// A transaction under the request timeout.
    async fn txn(&self, txn: Txn) -> Raw<TxnResponse> {
        self.timed(self.kv().txn(txn)).await
    }

    /// A range read under the request timeout.
    async fn read(&self, key: impl Into<Vec<u8>>, opts: GetOptions) -> Raw<GetResponse> {
        self.timed(self.kv().get(key, Some(opts))).await
    }

    /// Maps a read error, asking etcd for the revisions a
    /// [`Error::Compacted`] or [`Error::FutureRevision`] reports.
    async fn read_error(&self, e: etcd_client::Error, requested: Revision) -> Error {
        if etcd_says(&e, COMPACTED) {
            match self.compacted_revision().await {
                Ok(compacted) => Error::Compacted { requested, compacted },
                Err(e) => e,
            }
        } else if etcd_says(&e, FUTURE_REVISION) {
            match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(e) => e,
            }
        } else {
            Error::Etcd(e)
        }
    }

    /// Runs `then` if all `compares` hold, else reads `key` for the conflict.
    async fn guarded(
        &self,
        key: &str,
        compares: Vec<Compare>,
        then: TxnOp,
        lease: Option<LeaseId>,
    ) -> Result<Result<TxnResponse, Option<KeyValue>>> {
        let txn = Txn::new().when(compares).and_then([then]).or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await.map_err(|e| write_error(e, lease))?;
        if resp.succeeded() {
            return Ok(Ok(resp));
        }
        let current = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(convert_kv).transpose()?,
            _ => return Err(internal("guarded write failed without reading the key")),
        };
        debug!(key, current = ?current.as_ref().map(|kv| kv.mod_revision), "etcd write conflict");
        Ok(Err(current))
    }

    /// A put guarded by `compares`.
    async fn put_if(
        &self,
        key: &str,
        compares: Vec<Compare>,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>> {
        let put = PutOptions::new().with_lease(lease.unwrap_or(0));
        let put = TxnOp::put(key, value.to_vec(), Some(put));
        Ok(match self.guarded(key, compares, put, lease).await? {
            Ok(resp) => Outcome::Applied(header_revision(resp.header())?),
            Err(current) => Outcome::Conflict { current },
        })
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn current_revision(&self) -> Result<Revision> {
        let resp = self.read(COMPACT_REV_KEY, GetOptions::new().with_count_only()).await?;
        header_revision(resp.header())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        let resp = self.read(COMPACT_REV_KEY, GetOptions::new()).await?;
        resp.kvs().first().map_or(Ok(0), |kv| parse_revision(kv.value()))
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<Option<KeyValue>> {
        let opts = GetOptions::new().with_revision(revision.unwrap_or(0));
        match self.read(key, opts).await {
            Ok(resp) => resp.kvs().first().map(convert_kv).transpose(),
            Err(e) => Err(self.read_error(e, revision.unwrap_or(0)).await),
        }
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let (start, end) = request.interval();
        let (start, end) = key_range(start, end);
        let limit = request.limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let opts = GetOptions::new()
            .with_range(end)
            .with_sort(SortTarget::Key, SortOrder::Ascend)
            .with_limit(limit)
            .with_revision(request.revision.unwrap_or(0));
        let resp = match self.read(start, opts).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.read_error(e, request.revision.unwrap_or(0)).await),
        };
        let kvs = resp.kvs().iter().map(convert_kv).collect::<Result<Vec<_>>>()?;
        let revision = match request.revision {
            Some(r) if r > 0 => r,
            _ => header_revision(resp.header())?,
        };
        Ok(RangeResponse { kvs, more: resp.more(), count: resp.count(), revision })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let (start, end) = key_range(prefix.to_owned(), crate::prefix_end(prefix));
        let opts = GetOptions::new().with_range(end).with_count_only();
        Ok(self.read(start, opts).await?.count())
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Outcome<Revision>> {
        let absent = Compare::create_revision(key, CompareOp::Equal, 0);
        self.put_if(key, vec![absent], value, lease).await
    }

    /// As etcd compares a missing key's mod revision as 0, the key is also
    /// required to exist: updating a missing key is always a conflict.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Outcome<Revision>> {
        let compares = vec![
            Compare::mod_revision(key, CompareOp::Equal, expected),
            Compare::create_revision(key, CompareOp::Greater, 0),
        ];
        self.put_if(key, compares, value, lease).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Outcome<(Revision, KeyValue)>> {
        let mut compares = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let delete = TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()));
        let resp = match self.guarded(key, compares, delete, None).await? {
            Ok(resp) => resp,
            Err(current) => return Ok(Outcome::Conflict { current }),
        };
        let revision = header_revision(resp.header())?;
        let deleted = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Delete(del)) => del.prev_kvs().first().map(convert_kv).transpose()?,
            _ => None,
        };
        match deleted {
            Some(kv) => Ok(Outcome::Applied((revision, kv))),
            None => Err(internal("delete succeeded without returning the deleted key")),
        }
    }

    /// The stream ends with [`Error::Compacted`] if etcd compacts past it;
    /// its `requested` is the first revision the stream had yet to deliver
    /// (`after + 1` if it delivered nothing).
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let start_revision = after.max(0) + 1;
        // Fail fast: etcd reports a compacted watch start only asynchronously,
        // but a read at that revision fails at once by the same rule.
        let probe = GetOptions::new().with_revision(start_revision).with_count_only();
        match self.read(COMPACT_REV_KEY, probe).await {
            Err(e) if !etcd_says(&e, FUTURE_REVISION) => {
                return Err(self.read_error(e, start_revision).await);
            }
            _ => {} // readable, or in the future: watching from "now" or later is fine
        }
        let (start, end) = key_range(prefix.to_owned(), crate::prefix_end(prefix));
        let opts = WatchOptions::new().with_range(end).with_start_revision(start_revision).with_prev_key();
        let mut inner = self
            .timed(self.client.watch_client().max_decoding_message_size(MAX_RESPONSE_BYTES).watch(start, Some(opts)))
            .await?;
        match self.timed(inner.message()).await? {
            Some(resp) if resp.compact_revision() > 0 => {
                return Err(Error::Compacted { requested: start_revision, compacted: resp.compact_revision() });
            }
            Some(resp) if resp.canceled() => {
                return Err(watch_error(format!("canceled: {}", resp.cancel_reason())));
            }
            Some(resp) if resp.created() => {}
            Some(_) => return Err(internal("watch answered without confirming its creation")),
            None => {
                return Err(watch_error("etcd closed the watch as it was created".into()));
            }
        }
        debug!(prefix, start_revision, "etcd watch started");
        let state = WatchState { inner, pending: VecDeque::new(), next: start_revision, done: false };
        Ok(Box::pin(stream::unfold(state, next_event)))
    }

    /// Records `revision` in `compact_rev_key` (never lowering it), then
    /// compacts etcd physically. Compacting at or below an earlier
    /// compaction is a no-op; at or below 0 too.
    async fn compact(&self, revision: Revision) -> Result<()> {
        if revision <= 0 {
            return Ok(());
        }
        let mut attempts = 0;
        loop {
            let resp = self.read(COMPACT_REV_KEY, GetOptions::new()).await?;
            let current = header_revision(resp.header())?;
            if revision > current {
                return Err(Error::FutureRevision { requested: revision, current });
            }
            let (previous, key_mod) = match resp.kvs().first() {
                Some(kv) => (parse_revision(kv.value())?, kv.mod_revision()),
                None => (0, 0),
            };
            if revision <= previous {
                break;
            }
            let unchanged = Compare::mod_revision(COMPACT_REV_KEY, CompareOp::Equal, key_mod);
            let record = TxnOp::put(COMPACT_REV_KEY, revision.to_string(), None);
            if self.txn(Txn::new().when([unchanged]).and_then([record])).await?.succeeded() {
                break;
            }
            attempts += 1;
            if attempts == 5 {
                return Err(internal("compact_rev_key kept changing under concurrent compactions"));
            }
        }
        let opts = CompactionOptions::new().with_physical();
        match self.timed(self.kv().compact(revision, Some(opts))).await {
            Ok(_) => {
                debug!(revision, "etcd compacted");
                Ok(())
            }
            Err(e) if etcd_says(&e, COMPACTED) => Ok(()),
            Err(e) => Err(Error::Etcd(e)),
        }
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0));
        let secs = i64::try_from(secs).unwrap_or(i64::MAX).max(1);
        let resp = self.timed(self.client.lease_client().grant(secs, None)).await?;
        if !resp.error().is_empty() {
            return Err(internal(&format!("lease grant: {}", resp.error())));
        }
        debug!(lease = resp.id(), ttl = resp.ttl(), "etcd lease granted");
        Ok(resp.id())
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.timed(self.client.lease_client().revoke(lease)).await.map_err(|e| write_error(e, Some(lease)))?;
        Ok(())
    }
}

/// What the stream returned by [`EtcdBackend::watch`] carries along.
struct WatchState {
    /// Owns the etcd watch: dropping it cancels the watch.
    inner: etcd_client::WatchStream,
    pending: VecDeque<Event>,
    /// The first revision not yet delivered.
    next: Revision,
    done: bool,
}

/// Yields the next event of a watch, ending after its first error.
async fn next_event(mut st: WatchState) -> Option<(Result<Event>, WatchState)> {
    loop {
        if st.done {
            return None;
        }
        if let Some(event) = st.pending.pop_front() {
            st.next = event.revision() + 1;
            return Some((Ok(event), st));
        }
        let failure = match st.inner.message().await {
            Ok(Some(resp)) if resp.compact_revision() > 0 => {
                Error::Compacted { requested: st.next, compacted: resp.compact_revision() }
            }
            Ok(Some(resp)) if resp.canceled() => watch_error(format!("canceled: {}", resp.cancel_reason())),
            Ok(Some(resp)) => match resp.events().iter().map(convert_event).collect::<Result<Vec<_>>>() {
                Ok(events) => {
                    st.pending.extend(events);
                    continue;
                }
                Err(e) => e,
            },
            Ok(None) => watch_error("etcd closed the watch".into()),
            Err(e) => Error::Etcd(e),
        };
        debug!(error = %failure, "etcd watch ended");
        st.done = true;
        return Some((Err(failure), st));
    }
}

/// Converts a watch event. Like etcd itself, a create revision of 0 marks a
/// delete (this avoids `Event::event_type`, which panics on unknown types).
fn convert_event(event: &etcd_client::Event) -> Result<Event> {
    let kv = event.kv().ok_or_else(|| internal("watch event without a key"))?;
    let kind = if kv.create_revision() == 0 { EventKind::Delete } else { EventKind::Put };
    Ok(Event { kind, kv: convert_kv(kv)?, prev: event.prev_kv().map(convert_kv).transpose()? })
}

fn convert_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = String::from_utf8(kv.key().to_vec()).map_err(|e| Error::NonUtf8Key(e.into_bytes()))?;
    Ok(KeyValue {
        key,
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: (kv.lease() != 0).then_some(kv.lease()),
    })
}

/// etcd's form of `[start, end)`: an empty start or end means "from the
/// first key" or "to the last key".
fn key_range(start: String, end: String) -> (Vec<u8>, Vec<u8>) {
    let bytes = |s: String| {
        if s.is_empty() { vec![0] } else { s.into_bytes() }
    };
    (bytes(start), bytes(end))
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header.map(|h| h.revision()).ok_or_else(|| internal("etcd response without a header"))
}

fn parse_revision(value: &[u8]) -> Result<Revision> {
    std::str::from_utf8(value).ok().and_then(|s| s.trim().parse().ok()).ok_or_else(|| {
        internal(&format!("{COMPACT_REV_KEY} holds {:?}, not a revision", String::from_utf8_lossy(value)))
    })
}

// What etcd's errors say, as in etcd 3.4's mvcc and lease packages.
const COMPACTED: &str = "required revision has been compacted";
const FUTURE_REVISION: &str = "required revision is a future revision";
const LEASE_NOT_FOUND: &str = "requested lease not found";

/// Whether `e` is the gRPC error whose message contains `what`.
fn etcd_says(e: &etcd_client::Error, what: &str) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(status) if status.message().contains(what))
}

fn write_error(e: etcd_client::Error, lease: Option<LeaseId>) -> Error {
    match lease {
        Some(lease) if etcd_says(&e, LEASE_NOT_FOUND) => Error::LeaseNotFound(lease),
        _ => Error::Etcd(e),
    }
}

fn internal(message: &str) -> Error {
    Error::Etcd(etcd_client::Error::Internal(message.to_owned()))
}

fn watch_error(message: String) -> Error {
    Error::Etcd(etcd_client::Error::WatchError(message))
}

/// Runs `fut`, failing with a `TimedOut` I/O error after `limit`.
async fn timed<T>(limit: Duration, fut: impl Future<Output = Raw<T>>) -> Raw<T> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(etcd_client::Error::IoError(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from etcd within {limit:?}"),
        )))
    })
}
