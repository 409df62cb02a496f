//! Finding a pod's containers and sandbox in the runtime by their CRI labels.

use std::collections::HashMap;

use crate::runtime::{Runtime, RuntimeError, api, labels};

fn selector(namespace: &str, pod: &str) -> HashMap<String, String> {
    [(labels::POD_NAMESPACE.to_owned(), namespace.to_owned()), (labels::POD_NAME.to_owned(), pod.to_owned())].into()
}

/// Every instance of container `name` of the pod, the newest (highest attempt) first.
pub async fn instances(
    runtime: &dyn Runtime,
    namespace: &str,
    pod: &str,
    name: &str,
) -> Result<Vec<api::Container>, RuntimeError> {
    let mut label_selector = selector(namespace, pod);
    label_selector.insert(labels::CONTAINER_NAME.to_owned(), name.to_owned());
    let mut containers =
        runtime.list_containers(Some(api::ContainerFilter { label_selector, ..Default::default() })).await?;
    containers.sort_by_key(|c| std::cmp::Reverse((c.metadata.as_ref().map_or(0, |m| m.attempt), c.created_at)));
    Ok(containers)
}

/// The attempt (restart count) of a container.
pub fn attempt(container: &api::Container) -> u32 {
    container.metadata.as_ref().map_or(0, |m| m.attempt)
}

/// The newest instance that is running (the one exec and attach reach).
pub async fn running(
    runtime: &dyn Runtime,
    namespace: &str,
    pod: &str,
    name: &str,
) -> Result<Option<api::Container>, RuntimeError> {
    let running = api::ContainerState::ContainerRunning as i32;
    Ok(instances(runtime, namespace, pod, name).await?.into_iter().find(|c| c.state == running))
}

/// The pod's ready sandbox (the newest when there are several).
pub async fn sandbox(
    runtime: &dyn Runtime,
    namespace: &str,
    pod: &str,
) -> Result<Option<api::PodSandbox>, RuntimeError> {
    let filter = api::PodSandboxFilter {
        label_selector: selector(namespace, pod),
        state: Some(api::PodSandboxStateValue { state: api::PodSandboxState::SandboxReady as i32 }),
        ..Default::default()
    };
    let mut sandboxes = runtime.list_pod_sandboxes(Some(filter)).await?;
    sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(sandboxes.into_iter().next())
}
