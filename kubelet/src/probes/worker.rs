//! The loop of one probe of one container instance, as upstream's probe
//! worker: the first run at once, then every periodSeconds; nothing before
//! initialDelaySeconds; liveness and readiness only once the startup probe
//! passed (and startup no more after); a result changes only after
//! successThreshold / failureThreshold equal runs in a row; a failed liveness
//! or startup probe holds the worker until the container is replaced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

use super::manager::ProbeUpdate;
use super::{Outcome, ProbeKind, ProbeResult, ProbeTarget, Prober};

/// The probe results of one container instance, shared by its workers and the manager.
#[derive(Debug, Clone)]
pub(super) struct ContainerState {
    pub liveness: Option<ProbeResult>,
    pub readiness: Option<ProbeResult>,
    pub startup: Option<ProbeResult>,
    /// The output of each probe's last failed run.
    pub last_failure: [Option<String>; 3],
}

impl ContainerState {
    /// The initial results for a container with these probes (upstream's initial values:
    /// liveness Success, readiness Failure, startup Unknown); `None` where it has no probe.
    pub fn new(liveness: bool, readiness: bool, startup: bool) -> Self {
        Self {
            liveness: liveness.then_some(ProbeResult::Success),
            readiness: readiness.then_some(ProbeResult::Failure),
            startup: startup.then_some(ProbeResult::Unknown),
            last_failure: [None, None, None],
        }
    }

    /// Whether the container counts as started: no startup probe, or it succeeded.
    pub fn started(&self) -> bool {
        self.startup.is_none_or(|result| result == ProbeResult::Success)
    }

    pub fn result(&self, kind: ProbeKind) -> Option<ProbeResult> {
        match kind {
            ProbeKind::Liveness => self.liveness,
            ProbeKind::Readiness => self.readiness,
            ProbeKind::Startup => self.startup,
        }
    }

    fn slot(&mut self, kind: ProbeKind) -> &mut Option<ProbeResult> {
        match kind {
            ProbeKind::Liveness => &mut self.liveness,
            ProbeKind::Readiness => &mut self.readiness,
            ProbeKind::Startup => &mut self.startup,
        }
    }

    pub fn failure_index(kind: ProbeKind) -> usize {
        match kind {
            ProbeKind::Liveness => 0,
            ProbeKind::Readiness => 1,
            ProbeKind::Startup => 2,
        }
    }
}

/// Where a worker reports to, and who it is.
#[derive(Debug, Clone)]
pub(super) struct Reporter {
    pub pod_uid: String,
    pub container_name: String,
    pub container_id: String,
    pub updates: mpsc::UnboundedSender<ProbeUpdate>,
    pub state: Arc<Mutex<ContainerState>>,
    /// Wakes the readiness worker when the startup probe passes.
    pub started: Arc<Notify>,
}

/// One probe of one container instance.
#[derive(Debug)]
pub(super) struct Worker {
    pub kind: ProbeKind,
    pub probe: Probe,
    pub target: ProbeTarget,
    pub prober: Prober,
    /// When the container started (initialDelaySeconds counts from here).
    pub started_at: Instant,
    pub reporter: Reporter,
}

impl Worker {
    /// Runs until the container's failure is final (liveness/startup) or the task is aborted.
    pub async fn run(self) {
        let period = Duration::from_secs(self.probe.period_seconds.unwrap_or(10).max(1) as u64);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut run = Run { last: None, count: 0 };
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.reporter.started.notified(), if self.kind == ProbeKind::Readiness => {}
            }
            if !self.step(&mut run).await {
                return;
            }
        }
    }

    /// One tick; false when the worker should stop (on hold until a new container).
    async fn step(&self, run: &mut Run) -> bool {
        let initial_delay = Duration::from_secs(self.probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        if self.started_at.elapsed() < initial_delay {
            return true;
        }
        let started = self.lock_state().is_some_and(|state| state.started());
        if (self.kind == ProbeKind::Startup) == started {
            // Startup probes stop once started; the others wait for it.
            return true;
        }
        let outcome = self.prober.run(&self.probe, &self.target).await;
        let event = outcome.event(self.kind);
        let result = match &outcome {
            Outcome::Success(_) | Outcome::Warning(_) => ProbeResult::Success,
            Outcome::Failure(_) => ProbeResult::Failure,
            // Upstream throws errored runs away (after their event).
            Outcome::Error(_) => {
                self.report(None, event);
                return true;
            }
        };
        if run.last == Some(result) {
            run.count += 1;
        } else {
            run.last = Some(result);
            run.count = 1;
        }
        let threshold = match result {
            ProbeResult::Failure => self.probe.failure_threshold.unwrap_or(3),
            _ => self.probe.success_threshold.unwrap_or(1),
        };
        if run.count < threshold.max(1) {
            self.report(None, event);
            return true;
        }
        let changed = self.set(result, &outcome);
        self.report(changed.then_some(result), event);
        if changed && self.kind == ProbeKind::Startup && result == ProbeResult::Success {
            self.reporter.started.notify_waiters();
        }
        let hold = result == ProbeResult::Failure && self.kind != ProbeKind::Readiness;
        !hold
    }

    fn lock_state(&self) -> Option<std::sync::MutexGuard<'_, ContainerState>> {
        self.reporter.state.lock().ok()
    }

    /// Records the result; whether it changed.
    fn set(&self, result: ProbeResult, outcome: &Outcome) -> bool {
        let Some(mut state) = self.lock_state() else { return false };
        if let Outcome::Failure(output) = outcome {
            state.last_failure[ContainerState::failure_index(self.kind)] = Some(output.clone());
        }
        let slot = state.slot(self.kind);
        let changed = *slot != Some(result);
        *slot = Some(result);
        changed
    }

    fn report(&self, changed: Option<ProbeResult>, event: Option<(&'static str, String)>) {
        if changed.is_none() && event.is_none() {
            return;
        }
        let reporter = &self.reporter;
        let _ = reporter.updates.send(ProbeUpdate {
            pod_uid: reporter.pod_uid.clone(),
            container_name: reporter.container_name.clone(),
            container_id: reporter.container_id.clone(),
            kind: self.kind,
            changed,
            event,
        });
    }
}

/// The run of equal results so far.
#[derive(Debug)]
struct Run {
    last: Option<ProbeResult>,
    count: i32,
}
