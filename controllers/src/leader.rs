//! Leader election through a coordination.k8s.io Lease, as client-go's
//! leaderelection does it: candidates try to take or renew the lease every
//! retry period; a lease is free once its holder has not renewed it for
//! the lease duration (measured on the candidate's own clock from when it
//! last saw the record change, so clocks need not agree); a leader that
//! cannot renew within the renew deadline stops its work. Several `skiff
//! server`s on one datastore thereby run each controller once.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

/// Aborts a task when dropped: the work of a term stops with the term,
/// also when the election itself is dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Timings (upstream's defaults: 15 s lease, 10 s renew deadline, 2 s retry period).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One candidate for the lease `namespace/name`.
#[derive(Clone)]
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
}

impl std::fmt::Debug for LeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElection").field("name", &self.name).field("identity", &self.identity).finish()
    }
}

/// The holder and renew time last seen, and when this candidate saw them change.
#[derive(Debug)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<Timestamp>,
    at: Instant,
}

impl LeaderElection {
    /// A candidate named `identity` (unique per process, e.g. host name and a random suffix).
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str, timings: Timings) -> Self {
        Self { api: Api::namespaced(client, namespace), name: name.to_owned(), identity: identity.to_owned(), timings }
    }

    /// Runs `work` (started afresh on each term) whenever this candidate
    /// leads, until `shutdown`; then gives the lease up.
    pub async fn run(
        &self,
        work: impl Fn() -> BoxFuture<'static, ()>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut observed: Option<Observed> = None;
        loop {
            // Candidate: retry until the lease is ours.
            loop {
                if self.try_acquire_or_renew(&mut observed).await {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.timings.retry_period) => {}
                    _ = &mut shutdown => return,
                }
            }
            tracing::info!(lease = self.name, identity = self.identity, "became leader");
            let task = AbortOnDrop(tokio::spawn(work()));
            // Leader: renew every retry period; give up after the renew deadline without success.
            let mut last_renewal = Instant::now();
            let stopped = loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.timings.retry_period) => {}
                    _ = &mut shutdown => break true,
                }
                if self.try_acquire_or_renew(&mut observed).await {
                    last_renewal = Instant::now();
                } else if last_renewal.elapsed() >= self.timings.renew_deadline || self.held_by_other(&observed) {
                    break false;
                }
            };
            drop(task);
            if stopped {
                self.release().await;
                return;
            }
            tracing::warn!(lease = self.name, identity = self.identity, "lost the lease; stopped leading");
        }
    }

    fn held_by_other(&self, observed: &Option<Observed>) -> bool {
        observed.as_ref().and_then(|o| o.holder.as_deref()).is_some_and(|h| !h.is_empty() && h != self.identity)
    }

    /// One attempt (upstream's tryAcquireOrRenew); true when this candidate holds the lease now.
    async fn try_acquire_or_renew(&self, observed: &mut Option<Observed>) -> bool {
        let now = Timestamp::now();
        let duration_seconds = i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(15);
        let current = match self.api.get_opt(&self.name).await {
            Ok(current) => current,
            Err(error) => {
                tracing::debug!(%error, lease = self.name, "reading the lease failed");
                return false;
            }
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return self.api.create(&PostParams::default(), &lease).await.is_ok();
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let renew_time = spec.renew_time.as_ref().map(|t| t.0);
        let changed = observed.as_ref().is_none_or(|o| o.holder != holder || o.renew_time != renew_time);
        if changed {
            *observed = Some(Observed { holder: holder.clone(), renew_time, at: Instant::now() });
        }
        let held_by_other = holder.as_deref().is_some_and(|h| h != self.identity);
        let record_duration = spec
            .lease_duration_seconds
            .map_or(self.timings.lease_duration, |s| Duration::from_secs(u64::try_from(s).unwrap_or(15)));
        let expired = observed.as_ref().is_some_and(|o| o.at.elapsed() > record_duration);
        if held_by_other && !expired {
            return false;
        }
        let mut next = spec;
        if holder.as_deref() != Some(self.identity.as_str()) {
            next.acquire_time = Some(MicroTime(now));
            next.lease_transitions = Some(next.lease_transitions.unwrap_or(0) + 1);
        }
        next.holder_identity = Some(self.identity.clone());
        next.lease_duration_seconds = Some(duration_seconds);
        next.renew_time = Some(MicroTime(now));
        lease.spec = Some(next);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(updated) => {
                let spec = updated.spec.unwrap_or_default();
                *observed = Some(Observed {
                    holder: spec.holder_identity,
                    renew_time: spec.renew_time.map(|t| t.0),
                    at: Instant::now(),
                });
                true
            }
            Err(error) => {
                tracing::debug!(%error, lease = self.name, "taking or renewing the lease failed");
                false
            }
        }
    }

    /// Gives the lease up on shutdown (upstream's ReleaseOnCancel): an empty
    /// holder and a 1 s duration, so another candidate takes over at once.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(error) = self.api.replace(&self.name, &PostParams::default(), &lease).await {
            tracing::debug!(%error, lease = self.name, "releasing the lease failed");
        }
    }
}
