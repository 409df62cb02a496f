//! What a plugin says about a pod on a node: upstream's status codes and the
//! reasons users read in FailedScheduling events.

/// The outcome of a plugin call (kube-scheduler's framework.Code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Success,
    /// Something went wrong inside the plugin; the pod is retried.
    Error,
    /// Not on this node now; preemption may help.
    Unschedulable,
    /// Not on this node, and evicting pods would not help.
    UnschedulableAndUnresolvable,
    /// The plugin has nothing to say about this pod (its later calls are skipped).
    Skip,
}

/// A plugin's verdict, with the reasons for a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
    /// The plugin that refused, once the framework knows it.
    pub plugin: &'static str,
}

impl Status {
    pub fn success() -> Self {
        Self { code: Code::Success, reasons: Vec::new(), plugin: "" }
    }

    pub fn skip() -> Self {
        Self { code: Code::Skip, reasons: Vec::new(), plugin: "" }
    }

    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        Self { code, reasons: vec![reason.into()], plugin: "" }
    }

    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }

    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(Code::Error, reason)
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod cannot go on the node (either unschedulable code).
    pub fn is_rejected(&self) -> bool {
        matches!(self.code, Code::Unschedulable | Code::UnschedulableAndUnresolvable)
    }

    /// The same status, attributed to `plugin`.
    pub fn from_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }
}
