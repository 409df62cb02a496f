//! Runs the controllers together, as kube-controller-manager does.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::clock::{Clock, SystemClock};
use crate::leader::{AbortOnDrop, LeaderElection, Timings};

/// What every controller is given: a client of the API server, the clock
/// and the cluster CA (PEM) when the root CA publisher is to publish it.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub clock: Arc<dyn Clock>,
    pub root_ca: Option<Arc<str>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// Starts a controller; the future runs until it is dropped.
pub type Start = fn(Context) -> BoxFuture<'static, ()>;

/// The controllers, under kube-controller-manager's names for them.
pub const CONTROLLERS: &[(&str, Start)] = &[
    (crate::replicaset::NAME, crate::replicaset::start),
    (crate::replicaset::NAME_RC, crate::replicaset::start_replication_controller),
    (crate::deployment::NAME, crate::deployment::start),
    (crate::job::NAME, crate::job::start),
    (crate::cronjob::NAME, crate::cronjob::start),
    (crate::statefulset::NAME, crate::statefulset::start),
    (crate::daemonset::NAME, crate::daemonset::start),
    ("garbage-collector", crate::garbage_collector::start),
    ("namespace", crate::namespace::start),
    ("serviceaccount", crate::serviceaccount::start),
    ("endpoint", crate::endpoints::start),
    ("endpointslice", crate::endpointslice::start),
    ("node-lifecycle", crate::node_lifecycle::start),
    ("disruption", crate::disruption::start),
    (crate::root_ca_publisher::NAME, crate::root_ca_publisher::start),
];

/// The Lease in kube-system that controller managers elect their leader with (upstream's name).
pub const LEASE_NAME: &str = "kube-controller-manager";

/// A set of controllers to run against one API server.
#[derive(Debug)]
pub struct ControllerManager {
    context: Context,
    enabled: Vec<&'static str>,
    election: Option<(String, Timings)>,
}

impl ControllerManager {
    /// Every controller, on the system clock.
    pub fn new(client: kube::Client) -> Self {
        let context = Context { client, clock: Arc::new(SystemClock), root_ca: None };
        Self { context, enabled: CONTROLLERS.iter().map(|(name, _)| *name).collect(), election: None }
    }

    /// Runs the controllers only while this manager, named `identity`, holds
    /// the kube-system/kube-controller-manager Lease.
    pub fn with_leader_election(mut self, identity: &str, timings: Timings) -> Self {
        self.election = Some((identity.to_owned(), timings));
        self
    }

    /// Publishes `pem` (the cluster CA) as the `kube-root-ca.crt` ConfigMap of every namespace.
    pub fn with_root_ca(mut self, pem: impl Into<Arc<str>>) -> Self {
        self.context.root_ca = Some(pem.into());
        self
    }

    /// Reads time from `clock` instead (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.context.clock = clock;
        self
    }

    /// Runs only the named controllers (unknown names are ignored).
    pub fn only(mut self, names: &[&str]) -> Self {
        self.enabled.retain(|name| names.contains(name));
        self
    }

    /// The controllers it runs.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// Runs the controllers until `shutdown` completes (while leading, with leader election).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let starts: Vec<(&'static str, Start)> =
            CONTROLLERS.iter().filter(|(name, _)| self.enabled.contains(name)).copied().collect();
        let context = self.context.clone();
        let work = move || -> BoxFuture<'static, ()> {
            let tasks: Vec<_> = starts
                .iter()
                .map(|(name, start)| {
                    let span = tracing::info_span!("controller", name = *name);
                    tokio::spawn(tracing::Instrument::instrument(start(context.clone()), span))
                })
                .collect();
            Box::pin(async move {
                let _guards: Vec<AbortOnDrop> = tasks.into_iter().map(AbortOnDrop).collect();
                std::future::pending::<()>().await;
            })
        };
        match self.election {
            Some((identity, timings)) => {
                let election =
                    LeaderElection::new(self.context.client.clone(), "kube-system", LEASE_NAME, &identity, timings);
                election.run(work, shutdown).await;
            }
            None => {
                let _running = AbortOnDrop(tokio::spawn(work()));
                shutdown.await;
            }
        }
    }
}
