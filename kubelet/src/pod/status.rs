//! The pod's status as upstream's `generateAPIPodStatus` makes it: container
//! statuses from the runtime (with the waiting reasons the worker keeps),
//! the phase (`getPhase`), and the kubelet's conditions.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP,
    Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::runtime_pod::{RuntimePod, attempt, is_exited, is_running};
use crate::runtime::api;

/// Condition types the kubelet owns.
pub const KUBELET_CONDITIONS: [&str; 4] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"];

/// What the worker knows besides the runtime's view.
pub struct StatusInputs<'a> {
    pub pod: &'a Pod,
    pub runtime: &'a RuntimePod,
    /// Waiting reasons and messages by container name (back-off, image and config errors).
    pub waiting: &'a HashMap<String, (String, String)>,
    /// Termination messages by container ID.
    pub messages: &'a HashMap<String, String>,
    /// (started, ready) of a running container by ID, from the probes.
    pub probes: &'a dyn Fn(&str) -> (bool, bool),
    /// `containerd`, `simulated`: the scheme of container IDs.
    pub runtime_name: &'a str,
    pub node_ip: &'a str,
    /// The pod's containers are done for good (terminal phase; nothing restarts).
    pub terminal: bool,
    /// A phase the worker decided (Failed/DeadlineExceeded), with reason and message.
    pub forced: Option<(&'a str, &'a str, &'a str)>,
    pub now: Timestamp,
}

fn time(nanos: i64) -> Option<Time> {
    (nanos > 0).then(|| Time(Timestamp::from_second(nanos / 1_000_000_000).unwrap_or(Timestamp::UNIX_EPOCH)))
}

fn seconds(at: Timestamp) -> Time {
    Time(Timestamp::from_second(at.as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn terminated(c: &api::ContainerStatus, inputs: &StatusInputs<'_>) -> ContainerStateTerminated {
    let reason = match c.reason.as_str() {
        "" if c.exit_code == 0 => "Completed".to_owned(),
        "" => "Error".to_owned(),
        reason => reason.to_owned(),
    };
    let message = inputs.messages.get(&c.id).cloned().or_else(|| (!c.message.is_empty()).then(|| c.message.clone()));
    ContainerStateTerminated {
        exit_code: c.exit_code,
        reason: Some(reason),
        message: message.filter(|m| !m.is_empty()),
        started_at: time(c.started_at),
        finished_at: time(c.finished_at),
        container_id: Some(format!("{}://{}", inputs.runtime_name, c.id)),
        signal: None,
    }
}

fn state_of(c: &api::ContainerStatus, inputs: &StatusInputs<'_>) -> ContainerState {
    if is_running(c) {
        ContainerState { running: Some(ContainerStateRunning { started_at: time(c.started_at) }), ..Default::default() }
    } else if is_exited(c) {
        ContainerState { terminated: Some(terminated(c, inputs)), ..Default::default() }
    } else {
        waiting("ContainerCreating", "")
    }
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: (!message.is_empty()).then(|| message.to_owned()),
        }),
        ..Default::default()
    }
}

/// The status of one container of the spec.
fn container_status(
    container: &k8s_openapi::api::core::v1::Container,
    default_waiting: &str,
    inputs: &StatusInputs<'_>,
) -> ContainerStatus {
    let mut instances = inputs.runtime.instances(&container.name);
    let latest = instances.next();
    let previous = instances.next();
    let exited_state =
        |c: &api::ContainerStatus| ContainerState { terminated: Some(terminated(c, inputs)), ..Default::default() };
    let (state, last_state) = match (latest, inputs.waiting.get(&container.name)) {
        (Some(latest), Some((reason, message))) if !is_running(latest) => {
            (waiting(reason, message), is_exited(latest).then(|| exited_state(latest)))
        }
        (Some(latest), _) => (state_of(latest, inputs), previous.filter(|p| is_exited(p)).map(exited_state)),
        (None, Some((reason, message))) => (waiting(reason, message), None),
        (None, None) => (waiting(default_waiting, ""), None),
    };
    let (started, ready) = match latest.filter(|c| is_running(c)) {
        Some(running) => (inputs.probes)(&running.id),
        None => (false, false),
    };
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        image_id: latest.map(|c| c.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|c| format!("{}://{}", inputs.runtime_name, c.id)),
        restart_count: latest.map(|c| attempt(c) as i32).unwrap_or(0),
        started: Some(started),
        ready,
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ..Default::default()
    }
}

/// Whether an init container restarts forever alongside the pod (a sidecar).
pub fn is_sidecar(container: &k8s_openapi::api::core::v1::Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// The pod phase from its container statuses (upstream's `getPhase`).
pub fn phase(pod: &Pod, init: &[ContainerStatus], regular: &[ContainerStatus], terminal: bool) -> &'static str {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let find = |statuses: &[ContainerStatus], name: &str| statuses.iter().find(|s| s.name == name).cloned();
    let state = |s: &ContainerStatus| s.state.clone().unwrap_or_default();
    let last_terminated = |s: &ContainerStatus| s.last_state.as_ref().and_then(|l| l.terminated.clone());
    let (mut pending_init, mut pending_sidecars, mut failed_init) = (0, 0, 0);
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for container in spec.init_containers.iter().flatten() {
        let Some(status) = find(init, &container.name) else {
            if is_sidecar(container) {
                pending_sidecars += 1;
                unknown += 1;
            } else {
                pending_init += 1;
            }
            continue;
        };
        let st = state(&status);
        if is_sidecar(container) {
            if st.running.is_some() {
                if status.started != Some(true) {
                    pending_sidecars += 1;
                }
                running += 1;
            } else if st.waiting.is_some() && last_terminated(&status).is_none() {
                pending_sidecars += 1;
                waiting += 1;
            }
        } else if st.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = st.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if st.waiting.is_some() {
            match last_terminated(&status) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    for container in &spec.containers {
        let Some(status) = find(regular, &container.name) else {
            unknown += 1;
            continue;
        };
        let st = state(&status);
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if last_terminated(&status).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || (pending_sidecars > 0 && running == 0) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 && !terminal {
        return "Running";
    }
    if (running == 0 || terminal) && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded { "Succeeded" } else { "Failed" };
        }
        return match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.filter(|_| !ok).map(Into::into),
        message: message.filter(|_| !ok),
        ..Default::default()
    }
}

fn names(list: &[String]) -> String {
    format!("[{}]", list.join(" "))
}

/// The kubelet's conditions (without transition times).
fn conditions(
    pod: &Pod,
    phase: &str,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    sandbox_ready: bool,
) -> Vec<PodCondition> {
    let spec = pod.spec.clone().unwrap_or_default();
    let init_specs: Vec<_> = spec.init_containers.iter().flatten().collect();
    let find = |statuses: &[ContainerStatus], name: &str| statuses.iter().find(|s| s.name == name).cloned();
    let incomplete: Vec<String> = init_specs
        .iter()
        .filter(|c| {
            let status = find(init, &c.name);
            if is_sidecar(c) {
                return status.is_none_or(|s| s.started != Some(true));
            }
            status.and_then(|s| s.state.and_then(|st| st.terminated)).is_none_or(|t| t.exit_code != 0)
        })
        .map(|c| c.name.clone())
        .collect();
    let initialized = incomplete.is_empty() || phase == "Succeeded";
    let initialized = condition(
        "Initialized",
        initialized,
        Some("ContainersNotInitialized"),
        Some(format!("containers with incomplete status: {}", names(&incomplete))),
    );
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    for c in init_specs.iter().filter(|c| is_sidecar(c)).copied().chain(spec.containers.iter()) {
        let statuses = if spec.containers.iter().any(|r| r.name == c.name) { regular } else { init };
        match find(statuses, &c.name) {
            None => unknown.push(c.name.clone()),
            Some(s) if !s.ready => unready.push(c.name.clone()),
            Some(_) => {}
        }
    }
    let (ready, reason, message) = match phase {
        "Succeeded" => (false, "PodCompleted", None),
        "Failed" => (false, "PodFailed", None),
        _ if unknown.is_empty() && unready.is_empty() => (true, "", None),
        _ => {
            let mut parts = Vec::new();
            if !unknown.is_empty() {
                parts.push(format!("containers with unknown status: {}", names(&unknown)));
            }
            if !unready.is_empty() {
                parts.push(format!("containers with unready status: {}", names(&unready)));
            }
            (false, "ContainersNotReady", Some(parts.join(", ")))
        }
    };
    let containers_ready = condition("ContainersReady", ready, Some(reason), message.clone());
    let mut pod_ready = condition("Ready", ready, Some(reason), message);
    if ready {
        let unready_gates = readiness_gates_not_ready(pod);
        if !unready_gates.is_empty() {
            pod_ready = condition("Ready", false, Some("ReadinessGatesNotReady"), Some(unready_gates.join(", ")));
        }
    }
    vec![condition("PodReadyToStartContainers", sandbox_ready, None, None), initialized, pod_ready, containers_ready]
}

/// Upstream's messages for the pod's readiness gates whose conditions are not True.
fn readiness_gates_not_ready(pod: &Pod) -> Vec<String> {
    let gates = pod.spec.iter().flat_map(|s| s.readiness_gates.iter().flatten());
    let conditions = pod.status.iter().flat_map(|s| s.conditions.iter().flatten());
    let conditions: Vec<_> = conditions.collect();
    gates
        .filter_map(|gate| match conditions.iter().find(|c| c.type_ == gate.condition_type) {
            None => {
                Some(format!("corresponding condition of pod readiness gate {:?} does not exist.", gate.condition_type))
            }
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                gate.condition_type, c.status
            )),
            Some(_) => None,
        })
        .collect()
}

/// The pod's status as the kubelet reports it. Transition times are kept from `pod.status` where
/// a condition did not change.
pub fn generate(inputs: &StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let old = pod.status.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let init_done = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !is_sidecar(c))
        .all(|c| inputs.runtime.latest(&c.name).is_some_and(|s| is_exited(s) && s.exit_code == 0));
    let init: Vec<ContainerStatus> =
        spec.init_containers.iter().flatten().map(|c| container_status(c, "PodInitializing", inputs)).collect();
    let default_waiting = if init_done { "ContainerCreating" } else { "PodInitializing" };
    let regular: Vec<ContainerStatus> =
        spec.containers.iter().map(|c| container_status(c, default_waiting, inputs)).collect();
    let mut phase = phase(pod, &init, &regular, inputs.terminal).to_owned();
    let (mut reason, mut message) = (old.reason.clone(), old.message.clone());
    if let Some((forced, why, text)) = inputs.forced {
        phase = forced.to_owned();
        reason = Some(why.to_owned());
        message = Some(text.to_owned());
    }
    if matches!(old.phase.as_deref(), Some("Succeeded" | "Failed")) {
        phase = old.phase.clone().unwrap_or_default();
    }
    let host_network = spec.host_network.unwrap_or(false);
    let sandbox = inputs.runtime.ready_sandbox();
    let sandbox_ip = sandbox.and_then(|s| s.network.as_ref()).map(|n| {
        std::iter::once(n.ip.clone()).chain(n.additional_ips.iter().map(|i| i.ip.clone())).collect::<Vec<_>>()
    });
    let pod_ips = if host_network {
        Some(vec![inputs.node_ip.to_owned()])
    } else {
        sandbox_ip.or_else(|| old.pod_ips.as_ref().map(|ips| ips.iter().map(|i| i.ip.clone()).collect()))
    };
    let mut conditions_now = conditions(pod, &phase, &init, &regular, sandbox.is_some());
    for condition in &mut conditions_now {
        let previous = old.conditions.iter().flatten().find(|c| c.type_ == condition.type_);
        condition.last_transition_time = match previous {
            Some(p) if p.status == condition.status => p.last_transition_time.clone(),
            _ => Some(seconds(inputs.now)),
        };
    }
    let kept = old.conditions.iter().flatten().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())).cloned();
    conditions_now.extend(kept);
    PodStatus {
        phase: Some(phase),
        conditions: Some(conditions_now),
        host_ip: Some(inputs.node_ip.to_owned()),
        host_ips: Some(vec![HostIP { ip: inputs.node_ip.to_owned() }]),
        pod_ip: pod_ips.as_ref().and_then(|ips| ips.first().cloned()),
        pod_ips: pod_ips.map(|ips| ips.into_iter().map(|ip| PodIP { ip }).collect()),
        start_time: old.start_time.clone().or_else(|| Some(seconds(inputs.now))),
        qos_class: Some(super::resources::qos_class(pod).as_str().to_owned()),
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(regular),
        reason,
        message,
        nominated_node_name: old.nominated_node_name.clone(),
        ..Default::default()
    }
}

impl std::fmt::Debug for StatusInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusInputs").field("pod", &self.pod.metadata.name).finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
