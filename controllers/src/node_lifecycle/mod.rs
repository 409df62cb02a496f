//! The node lifecycle controller (kube-controller-manager's
//! `node-lifecycle`, events as `node-controller`): nodes whose kubelet
//! stopped renewing its Lease and posting status turn Ready=Unknown after
//! the grace period, their pods not ready; nodes get the NoSchedule taints
//! of their conditions and, when not ready or unreachable, the NoExecute
//! ones, removed when they are ready again; pods on NoExecute-tainted nodes
//! are evicted as their tolerations allow (upstream's taint eviction
//! controller, which runs here as part of this controller).
//!
//! [`start`] runs it with upstream's defaults; [`start_with`] takes a
//! [`Config`] (e.g. a short grace period for tests).

mod health;
mod monitor;
pub(crate) mod pod_status;
pub mod taint_eviction;
pub mod taints;
mod zones;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tracing::Instrument;

use self::monitor::{Monitor, NODE_LEASE_NAMESPACE};
use self::taint_eviction::{Evictor, no_execute_taints};
use crate::clock::Clock;
use crate::events::Events;
use crate::{Context, Error};

/// The controller's settings (kube-controller-manager's flags of the same names).
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node may go without a heartbeat (Lease renewal or Ready
    /// update) before it is Unknown (`--node-monitor-grace-period`).
    pub node_monitor_grace_period: Duration,
    /// The same for a node that never posted its status (`--node-startup-grace-period`).
    pub node_startup_grace_period: Duration,
    /// How often the nodes are checked (`--node-monitor-period`).
    pub node_monitor_period: Duration,
    /// Nodes tainted NoExecute per second and zone (`--node-eviction-rate`).
    pub eviction_limiter_qps: f32,
    /// The same in a partly disrupted large zone (`--secondary-node-eviction-rate`).
    pub secondary_eviction_limiter_qps: f32,
    /// Zones of at most this many nodes stop tainting when partly disrupted (`--large-cluster-size-threshold`).
    pub large_cluster_threshold: usize,
    /// The share of not-ready nodes that makes a zone partly disrupted (`--unhealthy-zone-threshold`).
    pub unhealthy_zone_threshold: f32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            node_monitor_period: Duration::from_secs(5),
            eviction_limiter_qps: 0.1,
            secondary_eviction_limiter_qps: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

impl Config {
    /// Sets the grace period for silent nodes.
    pub fn node_monitor_grace_period(mut self, period: Duration) -> Self {
        self.node_monitor_grace_period = period;
        self
    }

    /// Sets the grace period for nodes that never posted status.
    pub fn node_startup_grace_period(mut self, period: Duration) -> Self {
        self.node_startup_grace_period = period;
        self
    }

    /// Sets how often nodes are checked.
    pub fn node_monitor_period(mut self, period: Duration) -> Self {
        self.node_monitor_period = period;
        self
    }
}

/// How often the NoExecute taint queues are looked at (upstream's NodeEvictionPeriod).
const TAINT_PASS_PERIOD: Duration = Duration::from_millis(100);

/// Runs the controller with upstream's defaults until the future is dropped.
pub fn start(ctx: Context) -> BoxFuture<'static, ()> {
    start_with(ctx, Config::default())
}

/// Runs the controller with these settings until the future is dropped.
pub fn start_with(ctx: Context, config: Config) -> BoxFuture<'static, ()> {
    Box::pin(run(ctx, config))
}

async fn run(ctx: Context, config: Config) {
    let client = ctx.client;
    let wc = watcher::Config::default();
    let (nodes, node_writer) = reflector::store::<Node>();
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (leases, lease_writer) = reflector::store::<Lease>();
    // Pods on a node whose NoExecute taints changed are looked at again.
    let (retaint, retainted) = futures::channel::mpsc::unbounded::<ObjectRef<Pod>>();
    let pods_on_node = pods.clone();
    let mut seen: HashMap<String, Vec<Taint>> = HashMap::new();
    let node_events = watcher(Api::<Node>::all(client.clone()), wc.clone())
        .default_backoff()
        .reflect(node_writer)
        .inspect(move |event| {
            let (node, taints) = match event {
                Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => (node, no_execute_taints(node)),
                Ok(watcher::Event::Delete(node)) => (node, Vec::new()),
                _ => return,
            };
            let name = node.name_any();
            if seen.get(&name).map_or(taints.is_empty(), |before| *before == taints) {
                return;
            }
            seen.insert(name.clone(), taints);
            for pod in pods_on_node.state_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()) == Some(&name))
            {
                let _ = retaint.unbounded_send(ObjectRef::from_obj(pod.as_ref()));
            }
        })
        .applied_objects();
    let pod_events =
        watcher(Api::<Pod>::all(client.clone()), wc.clone()).default_backoff().reflect(pod_writer).applied_objects();
    let lease_events = watcher(Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE), wc)
        .default_backoff()
        .reflect(lease_writer)
        .for_each(|_| std::future::ready(()));

    let no_schedule = Controller::for_stream(node_events, nodes.clone())
        .run(reconcile_node, node_error_policy, Arc::new((client.clone(), Arc::clone(&ctx.clock))))
        .for_each(|_| std::future::ready(()));
    let evictor = Arc::new(Evictor {
        client: client.clone(),
        clock: Arc::clone(&ctx.clock),
        events: Events::new(client.clone(), "taint-eviction-controller"),
        nodes: nodes.clone(),
        scheduled: Mutex::new(HashMap::new()),
    });
    let evictions = Controller::for_stream(pod_events, pods.clone())
        .reconcile_on(retainted)
        .run(taint_eviction::reconcile, taint_eviction::error_policy, evictor)
        .for_each(|_| std::future::ready(()));
    let monitor = Monitor::new(client, ctx.clock, config, (nodes, leases, pods));
    futures::join!(lease_events, no_schedule, evictions, monitor_loop(monitor));
}

/// Runs the health monitor every period and the tainting queues every 100 ms.
async fn monitor_loop(mut monitor: Monitor) {
    for ready in [
        monitor.nodes.wait_until_ready().await,
        monitor.leases.wait_until_ready().await,
        monitor.pods.wait_until_ready().await,
    ] {
        if ready.is_err() {
            return;
        }
    }
    let mut health = tokio::time::interval(monitor.config.node_monitor_period);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tainting = tokio::time::interval(TAINT_PASS_PERIOD);
    tainting.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = health.tick() => monitor.monitor().instrument(tracing::debug_span!("monitor_node_health")).await,
            _ = tainting.tick() => monitor.taint_pass().instrument(tracing::debug_span!("no_execute_tainting")).await,
        }
    }
}

/// What the NoSchedule reconcile needs: a client and the clock.
type NodeContext = (kube::Client, Arc<dyn Clock>);

fn node_error_policy(node: Arc<Node>, error: &Error, _: Arc<NodeContext>) -> Action {
    tracing::debug!(%error, node = node.name_any(), "updating the node's NoSchedule taints or labels failed");
    Action::requeue(Duration::from_secs(1))
}

/// Keeps a node's NoSchedule taints and beta labels as its conditions and labels say.
async fn reconcile_node(node: Arc<Node>, context: Arc<NodeContext>) -> Result<Action, Error> {
    let span = tracing::debug_span!("reconcile", node = node.name_any());
    let (client, clock) = context.as_ref();
    async {
        let (add, remove) = taints::no_schedule_changes(&node);
        if !add.is_empty() || !remove.is_empty() {
            taints::swap(client, &node.name_any(), &add, &remove, clock.now()).await?;
        }
        let labels = taints::label_changes(&node);
        if !labels.is_empty() {
            let api: Api<Node> = Api::all(client.clone());
            let patch = json!({ "metadata": { "labels": labels } });
            api.patch(&node.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Ok(Action::await_change())
    }
    .instrument(span)
    .await
}
