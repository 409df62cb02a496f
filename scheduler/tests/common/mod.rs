//! A cluster in the test process: the API server on the memory store, the
//! scheduler and simulated nodes as its clients (the real parts, no mocks).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_kubelet::simulated::SimulatedNodes;
use skiff_scheduler::Scheduler;
use skiff_scheduler::profile::Profile;
use skiff_store::MemoryBackend;
use tokio::task::JoinHandle;

/// How long a test waits for the cluster to get somewhere.
pub const DEADLINE: Duration = Duration::from_secs(20);

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
    /// The API server with the default scheduler running.
    pub async fn start() -> Self {
        Self::start_with(vec![Profile::default_profile()]).await
    }

    /// The API server with a scheduler running these profiles.
    pub async fn start_with(profiles: Vec<Profile>) -> Self {
        let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
        let client = api.client();
        let scheduler = Scheduler::new(client.clone(), profiles);
        let tasks = vec![tokio::spawn(scheduler.run(std::future::pending()))];
        Self { client, tasks }
    }

    /// `count` simulated nodes named `<prefix>-<n>` whose Node objects copy `template` (labels, taints, capacity).
    pub async fn add_nodes(&mut self, prefix: &str, count: usize, template: Value) -> Vec<String> {
        let template: Node = serde_json::from_value(template).expect("a Node template");
        // Status-only: the tests write pods' statuses themselves, which pod workers would overwrite.
        let nodes = SimulatedNodes::new(self.client.clone(), prefix, count, template).status_only();
        nodes.register().await.expect("register the nodes");
        let names = nodes.names().to_vec();
        self.tasks.push(tokio::spawn(async move {
            let _ = nodes.run(std::future::pending()).await;
        }));
        names
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates a pod named `name` in `default` with `spec` (a container asking for nothing if none).
    pub async fn create_pod(&self, name: &str, labels: Value, mut spec: Value) -> Pod {
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{ "name": "c", "image": "busybox" }]);
        }
        let pod: Pod = serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels }, "spec": spec }))
            .expect("a pod");
        self.pods().create(&PostParams::default(), &pod).await.expect("create the pod")
    }

    /// Waits until the pod satisfies `done`, polling; panics with `what` and the last version after DEADLINE.
    pub async fn wait_pod(&self, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
        let started = Instant::now();
        loop {
            let pod = self.pods().get_opt(name).await.expect("get the pod");
            if let Some(pod) = &pod
                && done(pod)
            {
                return pod.clone();
            }
            assert!(started.elapsed() < DEADLINE, "pod {name} never {what}: {pod:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the pod is bound and Running; returns its node.
    pub async fn running_on(&self, name: &str) -> String {
        let pod =
            self.wait_pod(name, "ran", |p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).await;
        pod.spec.and_then(|s| s.node_name).unwrap_or_default()
    }

    /// Waits until the scheduler marks the pod unschedulable; returns the condition's message.
    pub async fn unschedulable(&self, name: &str) -> String {
        let pod = self
            .wait_pod(name, "was marked unschedulable", |p| {
                scheduled_condition(p).is_some_and(|(s, _, _)| s == "False")
            })
            .await;
        let (_, reason, message) = scheduled_condition(&pod).unwrap_or_default();
        assert_eq!(reason, "Unschedulable");
        message
    }
}

/// The PodScheduled condition: (status, reason, message).
pub fn scheduled_condition(pod: &Pod) -> Option<(String, String, String)> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == "PodScheduled")?;
    Some((c.status.clone(), c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()))
}

/// A node template: labels, taints and CPUs.
pub fn template(labels: Value, taints: Value, cpus: &str) -> Value {
    json!({
        "metadata": { "labels": labels },
        "spec": { "taints": taints },
        "status": { "capacity": { "cpu": cpus, "memory": "64Gi", "pods": "110" } },
    })
}
