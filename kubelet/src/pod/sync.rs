//! One sync of a pod (upstream's `SyncPod` after `computePodActions`): the
//! sandbox (re-created when it died), init containers in order, sidecars
//! kept running, then the containers, each (re)started as the restart
//! policy and back-off allow; terminal pods get their sandbox stopped.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use super::backoff::go_duration;
use super::container::{ConfigInputs, annotations, container_config, container_hash};
use super::events::{reason, reference};
use super::image_pull::{ensure_image, runtime_message};
use super::runtime_pod::{RuntimePod, attempt, is_exited, is_running};
use super::security::format_pod;
use super::status::is_sidecar;
use super::worker::{Next, Worker};
use super::{hooks, sandbox};
use crate::probes::RunningContainer;
use crate::runtime::{RuntimeError, api};
use crate::volumes::PodVolumes;

/// How soon a sync that failed part-way is retried.
const RETRY: Duration = Duration::from_secs(2);

/// The waiting reason of a container in crash back-off.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";

/// The sandbox containers of this sync run in.
pub(super) struct PodSandbox {
    pub id: String,
    pub config: api::PodSandboxConfig,
    pub ips: Vec<String>,
}

/// The field path of a container in events (`spec.containers{web}`, `spec.initContainers{init}`).
pub(super) fn field_path(pod: &Pod, name: &str) -> String {
    let init = pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).any(|c| c.name == name);
    if init { format!("spec.initContainers{{{name}}}") } else { format!("spec.containers{{{name}}}") }
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

/// Whether an exited container of the pod is started again.
fn should_restart(pod: &Pod, container: &Container, exit_code: i32, is_init: bool) -> bool {
    if is_init && is_sidecar(container) {
        return true;
    }
    match restart_policy(pod) {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => !is_init || exit_code != 0,
    }
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Worker {
    /// One sync; see the module doc.
    pub(super) async fn sync(&mut self, pod: &Pod, removed: bool) -> Result<Next, RuntimeError> {
        let runtime = self.ctx.runtime.clone();
        let current = RuntimePod::fetch(runtime.as_ref(), &self.uid).await?;
        if removed || pod.metadata.deletion_timestamp.is_some() {
            return self.terminate(pod, current, removed).await;
        }
        if matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed")) {
            self.terminal = true;
        }
        if !self.terminal && self.deadline_exceeded(pod) {
            let message = "Pod was active on the node longer than the specified deadline";
            self.forced = Some(("Failed".into(), "DeadlineExceeded".into(), message.into()));
            self.ctx.events.normal(&reference(pod, None), reason::DEADLINE_EXCEEDED, message).await;
            self.terminal = true;
            self.kill_containers(pod, &current, None).await;
        }
        let mut next = self.until_deadline(pod);
        if !self.terminal {
            next = earliest(next, self.sync_containers(pod, &current).await);
        }
        let mut current = RuntimePod::fetch(runtime.as_ref(), &self.uid).await?;
        self.read_termination_messages(pod, &current);
        if !self.terminal && self.containers_done(pod, &current) {
            self.terminal = true;
        }
        if self.terminal {
            self.stop_sandboxes(pod, &current).await;
            current = RuntimePod::fetch(runtime.as_ref(), &self.uid).await?;
        }
        let pod_ip = current.ready_sandbox().and_then(|s| s.network.as_ref()).map(|n| n.ip.clone());
        let running: Vec<RunningContainer> = current
            .containers
            .iter()
            .filter(|c| is_running(c))
            .map(|c| RunningContainer {
                name: super::runtime_pod::container_name(c).to_owned(),
                id: c.id.clone(),
                started_at: crate::probes::manager::instant_from_unix_nanos(c.started_at),
            })
            .collect();
        self.ctx.probes.update(pod, pod_ip.as_deref(), &running);
        let status = self.status(pod, &current);
        self.report(pod, status).await;
        Ok(Next::After(next.unwrap_or(self.ctx.options.resync_period)))
    }

    /// How long until activeDeadlineSeconds runs out (a wake-up for it).
    fn until_deadline(&self, pod: &Pod) -> Option<Duration> {
        let deadline = pod.spec.as_ref()?.active_deadline_seconds?;
        let started = pod.status.as_ref().and_then(|s| s.start_time.clone()).map(|t| t.0)?;
        let ends = started.checked_add(jiff::SignedDuration::from_secs(deadline)).ok()?;
        let left = ends.duration_since(Timestamp::now());
        Some(left.unsigned_abs().max(Duration::from_millis(50)) + Duration::from_millis(50))
            .filter(|_| left.is_positive())
    }

    fn deadline_exceeded(&self, pod: &Pod) -> bool {
        let Some(deadline) = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds) else { return false };
        let started = pod.status.as_ref().and_then(|s| s.start_time.clone()).map(|t| t.0);
        let started = started.or_else(|| self.last_sent.as_ref().and_then(|s| s.start_time.clone()).map(|t| t.0));
        started.is_some_and(|s| Timestamp::now().duration_since(s).as_secs() >= deadline)
    }

    /// All regular containers exited and none of them restarts: the pod is done.
    fn containers_done(&self, pod: &Pod, current: &RuntimePod) -> bool {
        let Some(spec) = pod.spec.as_ref() else { return false };
        !spec.containers.is_empty()
            && spec.containers.iter().all(|c| {
                current.latest(&c.name).is_some_and(|s| is_exited(s) && !should_restart(pod, c, s.exit_code, false))
            })
            || spec.init_containers.iter().flatten().any(|c| {
                !is_sidecar(c)
                    && restart_policy(pod) == "Never"
                    && current.latest(&c.name).is_some_and(|s| is_exited(s) && s.exit_code != 0)
            })
    }

    /// Brings sandbox and containers towards the spec; returns when to sync again at the latest.
    async fn sync_containers(&mut self, pod: &Pod, current: &RuntimePod) -> Option<Duration> {
        let volumes = if pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).is_none_or(|v| v.is_empty()) {
            PodVolumes::default()
        } else {
            match self.ctx.volumes.setup(pod).await {
                Ok(volumes) => volumes,
                Err(error) => {
                    self.ctx.events.warning(&reference(pod, None), reason::FAILED_MOUNT, error.to_string()).await;
                    return Some(RETRY);
                }
            }
        };
        let sandbox = match self.ensure_sandbox(pod, current).await {
            Ok(sandbox) => sandbox,
            Err(error) => {
                let message = format!("Failed to create pod sandbox: {}", runtime_message(&error));
                self.ctx.events.warning(&reference(pod, None), reason::FAILED_CREATE_POD_SANDBOX, message).await;
                return Some(RETRY);
            }
        };
        let current = if current.ready_sandbox().map(|s| s.id.as_str()) == Some(sandbox.id.as_str()) {
            current.clone()
        } else {
            RuntimePod::fetch(self.ctx.runtime.as_ref(), &self.uid).await.ok()?
        };
        let hostname = super::dns::pod_hostname(pod, &self.ctx.config.cluster_domain).ok();
        let hosts_file = hostname
            .and_then(|h| super::hosts::pod_hosts_file(pod, &sandbox.ips, &h).ok())
            .and_then(|content| super::hosts::write_hosts_file(&self.ctx.config.pod_dir(&self.uid), &content).ok());
        let mut ctx = StartContext { sandbox: &sandbox, volumes: &volumes, hosts_file: hosts_file.as_ref() };
        let spec = pod.spec.clone().unwrap_or_default();
        let mut next = None;
        for init in spec.init_containers.iter().flatten() {
            let latest = current.latest(&init.name).filter(|c| current.sandbox_of(&c.id) == Some(sandbox.id.as_str()));
            if is_sidecar(init) {
                let (wake, started) = self.keep_running(pod, init, latest, &current, &mut ctx, true).await;
                next = earliest(next, wake);
                if !started {
                    return earliest(next, Some(Duration::from_secs(1)));
                }
                continue;
            }
            match latest {
                Some(c) if is_exited(c) && c.exit_code == 0 => continue,
                Some(c) if is_running(c) => return next,
                Some(c) if is_exited(c) => {
                    if should_restart(pod, init, c.exit_code, true) {
                        next = earliest(next, self.restart(pod, init, c, &current, &mut ctx).await);
                    }
                    return next;
                }
                _ => {
                    next = earliest(next, self.start(pod, init, &current, &mut ctx).await);
                    return next;
                }
            }
        }
        for container in &spec.containers {
            let newest = current.latest(&container.name);
            let latest = newest.filter(|c| current.sandbox_of(&c.id) == Some(sandbox.id.as_str()));
            // A container that finished for good in an earlier sandbox is not started in a new one.
            if latest.is_none()
                && newest.is_some_and(|c| is_exited(c) && !should_restart(pod, container, c.exit_code, false))
            {
                continue;
            }
            let (wake, _) = self.keep_running(pod, container, latest, &current, &mut ctx, false).await;
            next = earliest(next, wake);
        }
        next
    }

    /// Starts, restarts or leaves running one container; returns (next wake, whether it counts as started).
    async fn keep_running(
        &mut self,
        pod: &Pod,
        container: &Container,
        latest: Option<&api::ContainerStatus>,
        current: &RuntimePod,
        ctx: &mut StartContext<'_>,
        is_init: bool,
    ) -> (Option<Duration>, bool) {
        match latest {
            None => (self.start(pod, container, current, ctx).await, false),
            Some(c) if is_running(c) => {
                let probes = self.ctx.probes.status(&self.uid, &c.id);
                let failed = probes.as_ref().and_then(|p| {
                    p.liveness_failed
                        .as_ref()
                        .map(|_| format!("Container {} failed liveness probe, will be restarted", container.name))
                        .or_else(|| {
                            p.startup_failed.as_ref().map(|_| {
                                format!("Container {} failed startup probe, will be restarted", container.name)
                            })
                        })
                });
                let changed = c.annotations.get(annotations::HASH).is_some_and(|h| *h != container_hash(container));
                let failed = failed.or_else(|| {
                    changed.then(|| format!("Container {} definition changed, will be restarted", container.name))
                });
                if let Some(message) = failed {
                    let regarding = reference(pod, Some(field_path(pod, &container.name)));
                    self.ctx.events.normal(&regarding, reason::KILLING, message).await;
                    let grace = grace_period(pod);
                    if let Err(error) = self.ctx.runtime.stop_container(&c.id, grace).await {
                        tracing::warn!(%error, container = container.name, "stopping a container failed");
                    }
                    return (Some(Duration::from_millis(100)), false);
                }
                (None, probes.is_none_or(|p| p.started))
            }
            Some(c) if is_exited(c) => {
                let ever_started = c.started_at > 0;
                if should_restart(pod, container, c.exit_code, is_init) {
                    (self.restart(pod, container, c, current, ctx).await, ever_started && is_init)
                } else {
                    (None, true)
                }
            }
            Some(c) => {
                // Created but never started (the kubelet stopped half-way): start it anew.
                let _ = self.ctx.runtime.remove_container(&c.id).await;
                (Some(Duration::from_millis(100)), false)
            }
        }
    }

    /// Restarts an exited container unless it is in back-off.
    async fn restart(
        &mut self,
        pod: &Pod,
        container: &Container,
        exited: &api::ContainerStatus,
        current: &RuntimePod,
        ctx: &mut StartContext<'_>,
    ) -> Option<Duration> {
        let key = format!("{}_{}", container.name, container_hash(container));
        let finished = Timestamp::from_nanosecond(i128::from(exited.finished_at)).unwrap_or_else(|_| Timestamp::now());
        let now = Timestamp::now();
        if let Some((period, ends)) = self.crash_backoff.in_backoff_since(&key, finished, now) {
            let pod_name = format_pod(pod);
            let message = format!(
                "back-off {} restarting failed container={} pod={pod_name}",
                go_duration(period),
                container.name
            );
            self.waiting.insert(container.name.clone(), (CRASH_LOOP_BACK_OFF.into(), message));
            let regarding = reference(pod, Some(field_path(pod, &container.name)));
            let event = format!("Back-off restarting failed container {} in pod {pod_name}", container.name);
            self.ctx.events.warning(&regarding, reason::BACK_OFF, event).await;
            let wait = ends.duration_since(now).unsigned_abs();
            return Some(wait + Duration::from_millis(50));
        }
        self.crash_backoff.next(&key, finished);
        self.start(pod, container, current, ctx).await
    }

    /// Pulls the image, creates and starts one container (instance = latest attempt + 1).
    async fn start(
        &mut self,
        pod: &Pod,
        container: &Container,
        current: &RuntimePod,
        ctx: &mut StartContext<'_>,
    ) -> Option<Duration> {
        let runtime = self.ctx.runtime.clone();
        let regarding = reference(pod, Some(field_path(pod, &container.name)));
        let image_ref = match ensure_image(
            runtime.as_ref(),
            &self.ctx.events,
            &regarding,
            &mut self.image_backoff,
            (&self.uid, container),
            &ctx.sandbox.config,
        )
        .await
        {
            Ok(image_ref) => image_ref,
            Err(error) => {
                self.ctx.events.warning(&regarding, reason::FAILED, format!("Error: {}", error.reason)).await;
                self.waiting.insert(container.name.clone(), (error.reason.into(), error.message));
                let key = format!("{}_{}", self.uid, container.image.clone().unwrap_or_default());
                let wait = self
                    .image_backoff
                    .in_backoff(&key, Timestamp::now())
                    .map(|(_, ends)| ends.duration_since(Timestamp::now()).unsigned_abs() + Duration::from_millis(50));
                // Synced again during the back-off (ImagePullBackOff shows) and when it ends.
                return Some(wait.map_or(RETRY, |w| w.min(RETRY)));
            }
        };
        let image = runtime.image_status(&image_ref).await.ok().flatten();
        let attempt = current.latest(&container.name).map(|c| attempt(c) + 1).unwrap_or(0);
        let inputs = ConfigInputs {
            client: &self.ctx.client,
            config: &self.ctx.config,
            pod,
            attempt,
            image_ref: &image_ref,
            image: image.as_ref(),
            volumes: ctx.volumes,
            pod_ips: &ctx.sandbox.ips,
            hosts_file: ctx.hosts_file,
        };
        let user = super::security::ImageUser::of(image.as_ref());
        let checked =
            super::security::verify_run_as_non_root(pod, container, &user).map_err(super::container::ConfigError::from);
        let config = match checked {
            Ok(()) => container_config(container, &inputs).await,
            Err(error) => Err(error),
        };
        let config = match config {
            Ok((config, warnings)) => {
                for warning in warnings {
                    self.ctx.events.warning(&reference(pod, None), "InvalidEnvironmentVariableNames", warning).await;
                }
                config
            }
            Err(error) => {
                let message = error.to_string();
                self.ctx.events.warning(&regarding, reason::FAILED, format!("Error: {message}")).await;
                self.waiting
                    .insert(container.name.clone(), (super::container::CREATE_CONTAINER_CONFIG_ERROR.into(), message));
                return Some(RETRY);
            }
        };
        // Keep the newest exited instance (for logs --previous); older ones go.
        for old in current.instances(&container.name).skip(1) {
            if let Err(error) = runtime.remove_container(&old.id).await {
                tracing::debug!(%error, "removing an old container failed");
            }
        }
        let id = match runtime.create_container(&ctx.sandbox.id, config, &ctx.sandbox.config).await {
            Ok(id) => id,
            Err(error) => {
                let message = runtime_message(&error);
                self.ctx.events.warning(&regarding, reason::FAILED, format!("Error: {message}")).await;
                self.waiting.insert(container.name.clone(), ("CreateContainerError".into(), message));
                return Some(RETRY);
            }
        };
        self.ctx.events.normal(&regarding, reason::CREATED, format!("Created container: {}", container.name)).await;
        if let Err(error) = runtime.start_container(&id).await {
            let message = runtime_message(&error);
            self.ctx.events.warning(&regarding, reason::FAILED, format!("Error: {message}")).await;
            self.waiting.insert(container.name.clone(), ("RunContainerError".into(), message));
            return Some(RETRY);
        }
        self.waiting.remove(&container.name);
        self.ctx.events.normal(&regarding, reason::STARTED, format!("Started container {}", container.name)).await;
        if let Some(post_start) = container.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let pod_ip = ctx.sandbox.ips.first().map(String::as_str);
            let target = (pod, container, id.as_str());
            if let Err(error) = hooks::run(runtime.as_ref(), post_start, target, pod_ip, grace_period(pod)).await {
                let message = match &error {
                    hooks::HookError::Http { .. } => error.to_string(),
                    other => format!(
                        "Exec lifecycle hook ({:?}) for Container {:?} in Pod {:?} failed - error: {other}, message: \"\"",
                        post_start.exec.as_ref().and_then(|e| e.command.clone()).unwrap_or_default(),
                        container.name,
                        format_pod(pod)
                    ),
                };
                self.ctx.events.warning(&regarding, reason::FAILED_POST_START_HOOK, message).await;
                let _ = runtime.stop_container(&id, grace_period(pod)).await;
            }
        }
        Some(Duration::from_millis(200))
    }

    /// Uses the newest ready sandbox, or (re)creates one (attempt + 1), killing what ran in a dead one.
    async fn ensure_sandbox(&mut self, pod: &Pod, current: &RuntimePod) -> Result<PodSandbox, RuntimeError> {
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
        let node_ip = self.ctx.config.node_ip.to_string();
        let ips = |status: &api::PodSandboxStatus| -> Vec<String> {
            if host_network {
                return vec![node_ip.clone()];
            }
            status
                .network
                .iter()
                .flat_map(|n| std::iter::once(n.ip.clone()).chain(n.additional_ips.iter().map(|i| i.ip.clone())))
                .filter(|ip| !ip.is_empty())
                .collect()
        };
        if let Some(ready) = current.ready_sandbox() {
            let attempt = ready.metadata.as_ref().map(|m| m.attempt).unwrap_or(0);
            let (config, _) = sandbox::sandbox_config(pod, attempt, &self.ctx.config, &self.ctx.host_resolv);
            return Ok(PodSandbox { id: ready.id.clone(), config, ips: ips(ready) });
        }
        let attempt = match current.sandbox() {
            Some(dead) => {
                let message = "Pod sandbox changed, it will be killed and re-created.";
                self.ctx.events.normal(&reference(pod, None), reason::SANDBOX_CHANGED, message).await;
                self.kill_containers(pod, current, None).await;
                let _ = self.ctx.runtime.stop_pod_sandbox(&dead.id).await;
                dead.metadata.as_ref().map(|m| m.attempt + 1).unwrap_or(1)
            }
            None => 0,
        };
        let (config, warnings) = sandbox::sandbox_config(pod, attempt, &self.ctx.config, &self.ctx.host_resolv);
        for warning in warnings {
            self.ctx.events.warning(&reference(pod, None), warning.reason, warning.message).await;
        }
        let _ = std::fs::create_dir_all(&config.log_directory);
        let id = self.ctx.runtime.run_pod_sandbox(config.clone()).await?;
        let status = self.ctx.runtime.pod_sandbox_status(&id).await?;
        Ok(PodSandbox { id, config, ips: status.as_ref().map(ips).unwrap_or_default() })
    }

    /// Stops every sandbox of a pod that is done (its containers exited; sidecars are killed).
    async fn stop_sandboxes(&mut self, pod: &Pod, current: &RuntimePod) {
        if current.running().next().is_some() {
            self.kill_containers(pod, current, None).await;
        }
        for sandbox in current.sandboxes.iter().filter(|s| s.state == api::PodSandboxState::SandboxReady as i32) {
            if let Err(error) = self.ctx.runtime.stop_pod_sandbox(&sandbox.id).await {
                tracing::warn!(%error, "stopping the sandbox of a finished pod failed");
            }
        }
    }

    /// Reads the termination messages of containers that exited since the last sync.
    fn read_termination_messages(&mut self, pod: &Pod, current: &RuntimePod) {
        let spec = pod.spec.clone().unwrap_or_default();
        for c in current.containers.iter().filter(|c| is_exited(c)) {
            if self.messages.contains_key(&c.id) {
                continue;
            }
            let name = super::runtime_pod::container_name(c);
            let fallback = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .find(|s| s.name == name)
                .and_then(|s| s.termination_message_policy.clone())
                .is_some_and(|p| p == "FallbackToLogsOnError");
            let file = super::container::termination_message_file(&self.ctx.config, &self.uid, name, attempt(c));
            let mut message = std::fs::read(&file)
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned())
                .unwrap_or_default();
            if message.is_empty() && fallback && c.exit_code != 0 {
                message = super::container::tail_of_log(&c.log_path, 80, 2048);
            }
            self.messages.insert(c.id.clone(), message);
        }
        self.messages.retain(|id, _| current.containers.iter().any(|c| c.id == *id));
    }
}

/// The sandbox, volumes and hosts file containers of one sync start in.
pub(super) struct StartContext<'a> {
    pub sandbox: &'a PodSandbox,
    pub volumes: &'a PodVolumes,
    pub hosts_file: Option<&'a std::path::PathBuf>,
}

/// The pod's grace period for stopping containers (terminationGracePeriodSeconds, default 30).
pub(super) fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}
