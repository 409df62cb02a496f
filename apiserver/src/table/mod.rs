//! Server-side printing for `kubectl get`: the `meta.k8s.io/v1 Table` columns and row cells that
//! kube-apiserver's printers (pkg/printers/internalversion, as of v1.33) produce, computed on stored JSON.
//!
//! The server always prints the wide variant (`GenerateOptions{Wide: true}`); kubectl hides the
//! priority-1 columns unless asked for `-o wide`. Cells therefore always cover every column.

mod access;
mod columns;
mod core;
mod duration;
mod labels;
mod other;
mod pods;
mod quantity;
mod workloads;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_core;
#[cfg(test)]
mod tests_more;

use jiff::Timestamp;
use serde_json::Value;

pub use duration::{human_duration, short_human_duration};

/// Why a value in an object could not be interpreted (used internally; printing itself never fails).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A quantity such as "1.5Gi" that does not parse.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
    InvalidQuantity(String),
    /// A label selector that cannot be turned into a selector.
    #[error("invalid label selector: {0}")]
    InvalidSelector(String),
}

/// One column of a Table (meta.k8s.io/v1 TableColumnDefinition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header as the server sends it ("Name", "Port(s)"); kubectl upper-cases it.
    pub name: &'static str,
    /// "string" | "integer" | "date" | "number" | "boolean".
    pub kind: &'static str,
    /// "name" for the NAME column, else "".
    pub format: &'static str,
    /// A human readable description of the column.
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

type RowFn = fn(&Value, Timestamp) -> Vec<Value>;

/// The printer of a resource: its columns and its row function.
fn printer(group: &str, resource: &str) -> (&'static [Column], RowFn) {
    use columns as c;
    match (group, resource) {
        ("", "pods") => (c::PODS, pods::pod_cells),
        ("", "podtemplates") => (c::POD_TEMPLATES, workloads::pod_template),
        ("", "replicationcontrollers") => (c::REPLICATION_CONTROLLERS, workloads::replication_controller),
        ("", "services") => (c::SERVICES, core::service),
        ("", "endpoints") => (c::ENDPOINTS, core::endpoints),
        ("", "nodes") => (c::NODES, core::node),
        ("", "events") | ("events.k8s.io", "events") => (c::EVENTS, core::event),
        ("", "namespaces") => (c::NAMESPACES, core::namespace),
        ("", "configmaps") => (c::CONFIG_MAPS, core::config_map),
        ("", "secrets") => (c::SECRETS, core::secret),
        ("", "serviceaccounts") => (c::SERVICE_ACCOUNTS, core::service_account),
        ("", "persistentvolumes") => (c::PERSISTENT_VOLUMES, core::persistent_volume),
        ("", "persistentvolumeclaims") => (c::PERSISTENT_VOLUME_CLAIMS, core::persistent_volume_claim),
        ("", "resourcequotas") => (c::RESOURCE_QUOTAS, core::resource_quota),
        ("", "limitranges") => (c::DEFAULT, other::default_row),
        ("apps", "deployments") => (c::DEPLOYMENTS, workloads::deployment),
        ("apps", "replicasets") => (c::REPLICA_SETS, workloads::replica_set),
        ("apps", "statefulsets") => (c::STATEFUL_SETS, workloads::stateful_set),
        ("apps", "daemonsets") => (c::DAEMON_SETS, workloads::daemon_set),
        ("apps", "controllerrevisions") => (c::CONTROLLER_REVISIONS, workloads::controller_revision),
        ("batch", "jobs") => (c::JOBS, workloads::job),
        ("batch", "cronjobs") => (c::CRON_JOBS, workloads::cron_job),
        ("coordination.k8s.io", "leases") => (c::LEASES, other::lease),
        ("rbac.authorization.k8s.io", "roles" | "clusterroles") => (c::DEFAULT, other::default_row),
        ("rbac.authorization.k8s.io", "rolebindings") => (c::ROLE_BINDINGS, other::role_binding),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => (c::CLUSTER_ROLE_BINDINGS, other::role_binding),
        ("networking.k8s.io", "networkpolicies") => (c::NETWORK_POLICIES, other::network_policy),
        ("networking.k8s.io", "ingresses") => (c::INGRESSES, other::ingress),
        ("networking.k8s.io", "ingressclasses") => (c::INGRESS_CLASSES, other::ingress_class),
        ("storage.k8s.io", "storageclasses") => (c::STORAGE_CLASSES, other::storage_class),
        ("scheduling.k8s.io", "priorityclasses") => (c::PRIORITY_CLASSES, other::priority_class),
        ("policy", "poddisruptionbudgets") => (c::POD_DISRUPTION_BUDGETS, other::pod_disruption_budget),
        ("discovery.k8s.io", "endpointslices") => (c::ENDPOINT_SLICES, other::endpoint_slice),
        ("autoscaling", "horizontalpodautoscalers") => {
            (c::HORIZONTAL_POD_AUTOSCALERS, other::horizontal_pod_autoscaler)
        }
        _ => (c::CUSTOM_RESOURCE, other::custom_resource_row),
    }
}

/// The columns upstream prints for a resource (group "" = core, resource = plural, e.g. ("apps","deployments")).
///
/// Resources this module does not know get the columns of a custom resource without
/// additionalPrinterColumns (Name, Age); roles, clusterroles and limitranges get kube-apiserver's default
/// convertor (Name, Created At).
pub fn columns(group: &str, resource: &str) -> &'static [Column] {
    printer(group, resource).0
}

/// The cells of one object's row, one per column of `columns(group, resource)`, as JSON values.
/// `now` is injected (no clock reads inside) so ages are testable. Never panics on odd input.
pub fn row_cells(group: &str, resource: &str, object: &Value, now: Timestamp) -> Vec<Value> {
    (printer(group, resource).1)(object, now)
}

/// The `conditions` of an object's TableRow: upstream marks succeeded and failed pods `Completed`.
pub fn row_conditions(group: &str, resource: &str, object: &Value) -> Vec<Value> {
    match (group, resource) {
        ("", "pods") => pods::pod_conditions(object),
        _ => Vec::new(),
    }
}

/// Whether `columns` falls back to the custom-resource default (Name, Age) for this resource, having no dedicated
/// printer. The API server uses a CRD's additionalPrinterColumns instead when it declares some.
pub fn uses_custom_resource_default(group: &str, resource: &str) -> bool {
    std::ptr::eq(columns(group, resource), columns::CUSTOM_RESOURCE)
}
