//! Stopping a pod: containers killed with the grace period left (preStop
//! hooks first, sidecars after the containers), then the sandbox, the
//! volumes and the pod's directories; a deleted pod's object is removed
//! last with grace 0 and a UID precondition, as upstream's status manager.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Preconditions};
use tokio::time::Instant;

use super::events::{reason, reference};
use super::runtime_pod::{RuntimePod, container_name};
use super::status::is_sidecar;
use super::sync::grace_period;
use super::worker::{Next, Worker};
use super::{hooks, sandbox};
use crate::runtime::RuntimeError;

/// The least time a container gets to stop (upstream's minimumGracePeriodInSeconds).
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

impl Worker {
    /// Kills the pod's running containers within `grace` (default: the pod's), preStop hooks first.
    pub(super) async fn kill_containers(&self, pod: &Pod, current: &RuntimePod, grace: Option<Duration>) {
        let grace = grace.unwrap_or_else(|| grace_period(pod));
        let deadline = Instant::now() + grace;
        let spec = pod.spec.clone().unwrap_or_default();
        let spec = &spec;
        let ctx = &self.ctx;
        let sidecar = |name: &str| spec.init_containers.iter().flatten().any(|c| c.name == name && is_sidecar(c));
        let pod_ip = current.ready_sandbox().and_then(|s| s.network.as_ref()).map(|n| n.ip.clone());
        for sidecars in [false, true] {
            let kills = current.running().filter(|c| sidecar(container_name(c)) == sidecars).map(|c| {
                let name = container_name(c).to_owned();
                let spec_container = spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .find(|s| s.name == name)
                    .cloned();
                let pod_ip = pod_ip.clone();
                async move {
                    let field = match spec.containers.iter().any(|s| s.name == name) {
                        true => format!("spec.containers{{{name}}}"),
                        false => format!("spec.initContainers{{{name}}}"),
                    };
                    let regarding = reference(pod, Some(field));
                    ctx.events.normal(&regarding, reason::KILLING, format!("Stopping container {name}")).await;
                    let pre_stop = spec_container.as_ref().and_then(|s| s.lifecycle.as_ref()?.pre_stop.clone());
                    if let (Some(handler), Some(container)) = (pre_stop, spec_container.as_ref()) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let target = (pod, container, c.id.as_str());
                        let run = hooks::run(ctx.runtime.as_ref(), &handler, target, pod_ip.as_deref(), left);
                        match tokio::time::timeout(left, run).await {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                let message = format!("PreStopHook failed: {error}");
                                ctx.events.warning(&regarding, reason::FAILED_PRE_STOP_HOOK, message).await;
                            }
                            Err(_) => tracing::info!(
                                container = name,
                                "the preStop hook did not finish within the grace period"
                            ),
                        }
                    }
                    let left = deadline.saturating_duration_since(Instant::now()).max(MINIMUM_GRACE);
                    if let Err(error) = ctx.runtime.stop_container(&c.id, left).await {
                        tracing::warn!(%error, container = name, "stopping a container failed");
                    }
                }
            });
            join_all(kills).await;
        }
    }

    /// Stops everything of a deleted pod, cleans up, and removes the pod object.
    pub(super) async fn terminate(
        &mut self,
        pod: &Pod,
        current: RuntimePod,
        removed: bool,
    ) -> Result<Next, RuntimeError> {
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| pod.spec.as_ref()?.termination_grace_period_seconds)
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        let grace = if removed { Some(MINIMUM_GRACE) } else { grace };
        self.kill_containers(pod, &current, grace).await;
        self.ctx.probes.remove(&self.uid);
        let runtime = self.ctx.runtime.clone();
        for sandbox in &current.sandboxes {
            runtime.stop_pod_sandbox(&sandbox.id).await.or_else(ignore_not_found)?;
        }
        // The final status (containers terminated) is sent once sandboxes, volumes and files are gone: an API
        // server may finish deleting a pod as soon as its phase is terminal.
        let stopped = RuntimePod::fetch(runtime.as_ref(), &self.uid).await?;
        for sandbox in &current.sandboxes {
            runtime.remove_pod_sandbox(&sandbox.id).await?;
        }
        for container in &current.containers {
            runtime.remove_container(&container.id).await.or_else(ignore_not_found)?;
        }
        if let Err(error) = self.ctx.volumes.teardown(&self.uid).await {
            tracing::warn!(%error, "tearing down the pod's volumes failed (retrying)");
            return Ok(Next::After(Duration::from_secs(2)));
        }
        remove_pod_files(&self.ctx.config, pod, &self.uid);
        if !removed {
            self.terminal = true;
            let status = self.status(pod, &stopped);
            self.report(pod, status).await;
        }
        if !removed {
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &namespace);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(error) => {
                    tracing::warn!(%error, "deleting the pod object failed (retrying)");
                    return Ok(Next::After(Duration::from_secs(1)));
                }
            }
        }
        tracing::info!("pod terminated and removed");
        Ok(Next::Done)
    }
}

fn ignore_not_found(error: RuntimeError) -> Result<(), RuntimeError> {
    match error {
        RuntimeError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

/// Removes the pod's directory, log directory and cgroup (best effort).
pub(super) fn remove_pod_files(config: &crate::KubeletConfig, pod: &Pod, uid: &str) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    for dir in [config.pod_dir(uid), config.pod_log_dir(&namespace, &name, uid)] {
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, dir = %dir.display(), "removing a pod directory failed");
        }
    }
    sandbox::remove_pod_cgroup(config, uid);
}
