//! A cluster in the test process for the controllers' integration tests:
//! the API server on the memory store, the scheduler, simulated nodes (pods
//! go Running and Ready without processes) and the controllers under test,
//! all real and talking through the API (no mocks).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_controllers::ControllerManager;
use skiff_controllers::clock::Clock;
use skiff_kubelet::simulated::SimulatedNodes;
use skiff_scheduler::Scheduler;
use skiff_scheduler::profile::Profile;
use skiff_store::MemoryBackend;
use tokio::task::JoinHandle;

/// How long a test waits for the cluster to get somewhere.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub client: kube::Client,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Cluster {
    /// The API server, the scheduler, `nodes` simulated nodes (`node-N`) and the named controllers.
    pub async fn start(controllers: &[&str], nodes: usize) -> Self {
        Self::start_with_clock(controllers, nodes, None).await
    }

    /// The same, with the controllers reading time from `clock`.
    pub async fn start_with_clock(controllers: &[&str], nodes: usize, clock: Option<Arc<dyn Clock>>) -> Self {
        let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
        let client = api.client();
        let scheduler = Scheduler::new(client.clone(), vec![Profile::default_profile()]);
        let mut tasks = vec![tokio::spawn(scheduler.run(std::future::pending()))];
        let mut manager = ControllerManager::new(client.clone()).only(controllers);
        if let Some(clock) = clock {
            manager = manager.with_clock(clock);
        }
        assert_eq!(manager.enabled().len(), controllers.len(), "unknown controller in {controllers:?}");
        tasks.push(tokio::spawn(manager.run(std::future::pending())));
        let mut cluster = Self { client, tasks };
        if nodes > 0 {
            cluster.add_nodes("node", nodes, json!({})).await;
        }
        cluster
    }

    /// `count` simulated nodes named `<prefix>-<n>` whose Node objects copy `template`.
    pub async fn add_nodes(&mut self, prefix: &str, count: usize, template: Value) -> Vec<String> {
        let mut template: Node = serde_json::from_value(template).expect("a Node template");
        if template.status.is_none() {
            template.status = skiff_kubelet::simulated::default_template().status;
        }
        // Status-only: the tests write pods' statuses themselves, which pod workers would overwrite.
        let nodes = SimulatedNodes::new(self.client.clone(), prefix, count, template).status_only();
        nodes.register().await.expect("register the nodes");
        let names = nodes.names().to_vec();
        self.tasks.push(tokio::spawn(async move {
            let _ = nodes.run(std::future::pending()).await;
        }));
        names
    }

    /// Creates an object from JSON in `namespace` (or cluster-wide with `None`).
    pub async fn create<K>(&self, namespace: Option<&str>, object: Value) -> K
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        let object: K = serde_json::from_value(object).expect("a valid object");
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace.unwrap_or("default"));
        api.create(&PostParams::default(), &object).await.expect("create the object")
    }

    pub fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after DEADLINE.
pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
