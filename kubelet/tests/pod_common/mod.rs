//! A node of pod workers on the simulated runtime against an in-process API server.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;
use skiff_apiserver::ApiServer;
use skiff_kubelet::KubeletConfig;
use skiff_kubelet::pod::{PodManager, PodManagerConfig};
use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::volumes::VolumeManager;
use skiff_store::MemoryBackend;

pub const NODE: &str = "node-a";
pub const DEADLINE: Duration = Duration::from_secs(30);

pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct Node<R: Runtime> {
    pub api: ApiServer,
    pub client: kube::Client,
    pub runtime: Arc<R>,
    pub config: Arc<KubeletConfig>,
    pub dir: tempfile::TempDir,
    pub manager: Option<tokio::task::JoinHandle<()>>,
}

impl<R: Runtime> Node<R> {
    pub async fn start(runtime: R, options: PodManagerConfig) -> Self {
        Self::start_with(Arc::new(runtime), options, |config| config).await
    }

    pub async fn start_with(
        runtime: Arc<R>,
        options: PodManagerConfig,
        configure: impl FnOnce(KubeletConfig) -> KubeletConfig,
    ) -> Self {
        let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
        let client = api.client();
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = Arc::new(configure(KubeletConfig::new(NODE, dir.path().join("agent"), runtime.clone())));
        let mut node = Self { api, client, runtime, config, dir, manager: None };
        node.start_manager(options);
        node
    }

    pub fn start_manager(&mut self, options: PodManagerConfig) {
        let volumes = VolumeManager::new(self.client.clone(), self.config.root_dir.join("pods"));
        let manager = PodManager::new(self.client.clone(), self.config.clone(), volumes).with_options(options);
        self.manager = Some(tokio::spawn(async move {
            let _ = manager.run(std::future::pending()).await;
        }));
    }

    pub async fn stop_manager(&mut self) {
        if let Some(task) = self.manager.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn create(&self, pod: Value) -> Pod {
        let mut pod: Pod = serde_json::from_value(pod).expect("a pod");
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(NODE.into());
        spec.automount_service_account_token = Some(false);
        self.pods().create(&PostParams::default(), &pod).await.expect("create the pod")
    }

    /// Waits until `check` holds for the pod `name`.
    pub async fn wait_pod(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        let pods = self.pods();
        wait_for(what, async || pods.get(name).await.ok().filter(|p| check(p))).await
    }

    pub async fn events(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let list = events.list(&ListParams::default()).await.expect("list events").items;
        list.into_iter().filter(|e| e.involved_object.name.as_deref() == Some(name)).collect()
    }
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

pub fn container(pod: &Pod, name: &str) -> Option<ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
        .cloned()
}

pub fn condition(pod: &Pod, type_: &str) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.clone())
}

pub fn waiting(pod: &Pod, name: &str) -> Option<(String, String)> {
    let waiting = container(pod, name)?.state?.waiting?;
    Some((waiting.reason.unwrap_or_default(), waiting.message.unwrap_or_default()))
}
