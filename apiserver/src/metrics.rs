//! `/metrics` in the Prometheus text format, with kube-apiserver's metric
//! names: requests by verb, resource and code, their latency, requests in
//! flight, open watches, and store latency.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `apiserver_request_total` and `apiserver_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: String,
    pub component: String,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    request_kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: String,
    #[prometheus(flatten)]
    kind: StoreKind,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreKind {
    r#type: String,
}

/// The API server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
    inflight: Family<KindLabels, Gauge>,
    watches: Family<WatchLabels, Gauge>,
    store: Family<StoreLabels, Histogram>,
}

fn latency_buckets() -> Histogram {
    // kube-apiserver's request latency buckets.
    Histogram::new([
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0,
        30.0, 45.0, 60.0,
    ])
}

fn store_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0,
        30.0, 45.0, 60.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        let inflight = Family::<KindLabels, Gauge>::default();
        let watches = Family::<WatchLabels, Gauge>::default();
        let store = Family::<StoreLabels, Histogram>::new_with_constructor(store_buckets as fn() -> Histogram);
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component",
            durations.clone(),
        );
        registry.register(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request kind in last second",
            inflight.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource",
            watches.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "Etcd request latency in seconds for each operation and object type",
            store.clone(),
        );
        Self { registry, requests, durations, inflight, watches, store }
    }
}

/// Counts a request while it is in flight.
#[derive(Debug)]
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Marks a request in flight until the guard drops (`mutating` for writes).
    pub fn in_flight(&self, mutating: bool) -> InFlight {
        let kind = if mutating { "mutating" } else { "readOnly" };
        let gauge = self.inflight.get_or_create(&KindLabels { request_kind: kind.to_owned() }).clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Records a finished request.
    pub fn request(&self, labels: RequestLabels, elapsed: Duration) {
        let duration = DurationLabels {
            verb: labels.verb.clone(),
            group: labels.group.clone(),
            version: labels.version.clone(),
            resource: labels.resource.clone(),
            subresource: labels.subresource.clone(),
            scope: labels.scope.clone(),
            component: labels.component.clone(),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations.get_or_create(&duration).observe(elapsed.as_secs_f64());
    }

    /// An open watch, counted until the guard drops.
    pub fn watch(&self, group: &str, version: &str, resource: &str) -> InFlight {
        let labels = WatchLabels {
            verb: "WATCH".into(),
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        };
        let gauge = self.watches.get_or_create(&labels).clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Records one store call.
    pub fn store(&self, operation: &str, kind: &str, elapsed: Duration) {
        let labels = StoreLabels { operation: operation.into(), kind: StoreKind { r#type: kind.into() } };
        self.store.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            tracing::warn!("encoding metrics failed");
        }
        out
    }
}
