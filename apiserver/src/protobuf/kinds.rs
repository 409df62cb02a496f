//! The kinds whose protobuf bodies can be decoded: apiVersion/kind → (k8s-pb message, k8s-openapi type).

use super::ProtobufError;
use super::debug_tree;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `raw` as the prost message `P` and re-reads it as the `k8s-openapi` type `O`, whose serde
/// implementation yields exactly the Kubernetes JSON.
fn convert<P, O>(kind: &str, raw: &[u8]) -> Result<Value, ProtobufError>
where
    P: prost::Message + Default + std::fmt::Debug,
    O: DeserializeOwned + Serialize,
{
    let message =
        P::decode(raw).map_err(|e| ProtobufError::Malformed { kind: kind.to_string(), message: e.to_string() })?;
    let tree = debug_tree::parse(&format!("{message:?}"))?;
    let object = match O::deserialize(tree.clone()) {
        Ok(object) => object,
        Err(first) => O::deserialize(debug_tree::without_empty_status(tree))
            .map_err(|_| ProtobufError::Convert { kind: kind.to_string(), message: first.0 })?,
    };
    serde_json::to_value(&object).map_err(|e| ProtobufError::Convert { kind: kind.to_string(), message: e.to_string() })
}

macro_rules! kinds {
    ($($api_version:literal $kind:ident => $group:ident::$version:ident;)*) => {
        /// The apiVersion/kind pairs [`super::decode`] understands (besides `DeleteOptions` in any version).
        pub const KINDS: &[(&str, &str)] = &[$(($api_version, stringify!($kind))),*];

        /// Converts the raw object of `api_version`/`kind`; `None` when the kind is not known.
        pub(super) fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, ProtobufError>> {
            if kind == "DeleteOptions" {
                return Some(convert::<k8s_pb::apimachinery::pkg::apis::meta::v1::DeleteOptions,
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>(kind, raw));
            }
            match (api_version, kind) {
                $(($api_version, stringify!($kind)) => Some(convert::<
                    k8s_pb::api::$group::$version::$kind,
                    k8s_openapi::api::$group::$version::$kind,
                >(kind, raw)),)*
                _ => None,
            }
        }
    };
}

kinds! {
    "v1" Binding => core::v1;
    "v1" ConfigMap => core::v1;
    "v1" Endpoints => core::v1;
    "v1" Event => core::v1;
    "v1" LimitRange => core::v1;
    "v1" Namespace => core::v1;
    "v1" Node => core::v1;
    "v1" PersistentVolume => core::v1;
    "v1" PersistentVolumeClaim => core::v1;
    "v1" Pod => core::v1;
    "v1" PodTemplate => core::v1;
    "v1" ReplicationController => core::v1;
    "v1" ResourceQuota => core::v1;
    "v1" Secret => core::v1;
    "v1" Service => core::v1;
    "v1" ServiceAccount => core::v1;
    "apps/v1" ControllerRevision => apps::v1;
    "apps/v1" DaemonSet => apps::v1;
    "apps/v1" Deployment => apps::v1;
    "apps/v1" ReplicaSet => apps::v1;
    "apps/v1" StatefulSet => apps::v1;
    "authentication.k8s.io/v1" SelfSubjectReview => authentication::v1;
    "authentication.k8s.io/v1" TokenRequest => authentication::v1;
    "authentication.k8s.io/v1" TokenReview => authentication::v1;
    "authorization.k8s.io/v1" LocalSubjectAccessReview => authorization::v1;
    "authorization.k8s.io/v1" SelfSubjectAccessReview => authorization::v1;
    "authorization.k8s.io/v1" SelfSubjectRulesReview => authorization::v1;
    "authorization.k8s.io/v1" SubjectAccessReview => authorization::v1;
    "autoscaling/v1" HorizontalPodAutoscaler => autoscaling::v1;
    "autoscaling/v1" Scale => autoscaling::v1;
    "autoscaling/v2" HorizontalPodAutoscaler => autoscaling::v2;
    "batch/v1" CronJob => batch::v1;
    "batch/v1" Job => batch::v1;
    "certificates.k8s.io/v1" CertificateSigningRequest => certificates::v1;
    "coordination.k8s.io/v1" Lease => coordination::v1;
    "discovery.k8s.io/v1" EndpointSlice => discovery::v1;
    "events.k8s.io/v1" Event => events::v1;
    "networking.k8s.io/v1" Ingress => networking::v1;
    "networking.k8s.io/v1" IngressClass => networking::v1;
    "networking.k8s.io/v1" NetworkPolicy => networking::v1;
    "policy/v1" Eviction => policy::v1;
    "policy/v1" PodDisruptionBudget => policy::v1;
    "rbac.authorization.k8s.io/v1" ClusterRole => rbac::v1;
    "rbac.authorization.k8s.io/v1" ClusterRoleBinding => rbac::v1;
    "rbac.authorization.k8s.io/v1" Role => rbac::v1;
    "rbac.authorization.k8s.io/v1" RoleBinding => rbac::v1;
    "scheduling.k8s.io/v1" PriorityClass => scheduling::v1;
    "storage.k8s.io/v1" CSIDriver => storage::v1;
    "storage.k8s.io/v1" CSINode => storage::v1;
    "storage.k8s.io/v1" StorageClass => storage::v1;
    "storage.k8s.io/v1" VolumeAttachment => storage::v1;
}
