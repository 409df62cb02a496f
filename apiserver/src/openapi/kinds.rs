//! The kinds skiff serves, mapped to the k8s-openapi types whose schemas describe them.

use k8s_openapi::api::{
    apps, authentication, authorization, autoscaling, batch, coordination, core, discovery, events, networking, policy,
    rbac, scheduling, storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{JsonSchema, SchemaGenerator};

/// Registers a type's schema (and everything it refers to) with the generator; returns its component name.
pub type Register = fn(&mut SchemaGenerator) -> String;

/// One served kind and the schema that describes it.
#[derive(Debug)]
pub struct KindSchema {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub register: Register,
}

fn reg<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    let _ = generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

const fn kind(group: &'static str, version: &'static str, kind: &'static str, register: Register) -> KindSchema {
    KindSchema { group, version, kind, register }
}

/// Every top-level kind skiff serves.
pub const KINDS: &[KindSchema] = &[
    kind("", "v1", "ConfigMap", reg::<core::v1::ConfigMap>),
    kind("", "v1", "Endpoints", reg::<core::v1::Endpoints>),
    kind("", "v1", "Event", reg::<core::v1::Event>),
    kind("", "v1", "LimitRange", reg::<core::v1::LimitRange>),
    kind("", "v1", "Namespace", reg::<core::v1::Namespace>),
    kind("", "v1", "Node", reg::<core::v1::Node>),
    kind("", "v1", "PersistentVolumeClaim", reg::<core::v1::PersistentVolumeClaim>),
    kind("", "v1", "PersistentVolume", reg::<core::v1::PersistentVolume>),
    kind("", "v1", "Pod", reg::<core::v1::Pod>),
    kind("", "v1", "PodTemplate", reg::<core::v1::PodTemplate>),
    kind("", "v1", "ReplicationController", reg::<core::v1::ReplicationController>),
    kind("", "v1", "ResourceQuota", reg::<core::v1::ResourceQuota>),
    kind("", "v1", "Secret", reg::<core::v1::Secret>),
    kind("", "v1", "ServiceAccount", reg::<core::v1::ServiceAccount>),
    kind("", "v1", "Service", reg::<core::v1::Service>),
    kind("apps", "v1", "ControllerRevision", reg::<apps::v1::ControllerRevision>),
    kind("apps", "v1", "DaemonSet", reg::<apps::v1::DaemonSet>),
    kind("apps", "v1", "Deployment", reg::<apps::v1::Deployment>),
    kind("apps", "v1", "ReplicaSet", reg::<apps::v1::ReplicaSet>),
    kind("apps", "v1", "StatefulSet", reg::<apps::v1::StatefulSet>),
    kind("authentication.k8s.io", "v1", "SelfSubjectReview", reg::<authentication::v1::SelfSubjectReview>),
    kind("authorization.k8s.io", "v1", "LocalSubjectAccessReview", reg::<authorization::v1::LocalSubjectAccessReview>),
    kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview", reg::<authorization::v1::SelfSubjectAccessReview>),
    kind("authorization.k8s.io", "v1", "SelfSubjectRulesReview", reg::<authorization::v1::SelfSubjectRulesReview>),
    kind("authorization.k8s.io", "v1", "SubjectAccessReview", reg::<authorization::v1::SubjectAccessReview>),
    kind("autoscaling", "v2", "HorizontalPodAutoscaler", reg::<autoscaling::v2::HorizontalPodAutoscaler>),
    kind("batch", "v1", "CronJob", reg::<batch::v1::CronJob>),
    kind("batch", "v1", "Job", reg::<batch::v1::Job>),
    kind("coordination.k8s.io", "v1", "Lease", reg::<coordination::v1::Lease>),
    kind("discovery.k8s.io", "v1", "EndpointSlice", reg::<discovery::v1::EndpointSlice>),
    kind("events.k8s.io", "v1", "Event", reg::<events::v1::Event>),
    kind("networking.k8s.io", "v1", "IngressClass", reg::<networking::v1::IngressClass>),
    kind("networking.k8s.io", "v1", "Ingress", reg::<networking::v1::Ingress>),
    kind("networking.k8s.io", "v1", "NetworkPolicy", reg::<networking::v1::NetworkPolicy>),
    kind("policy", "v1", "PodDisruptionBudget", reg::<policy::v1::PodDisruptionBudget>),
    kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", reg::<rbac::v1::ClusterRoleBinding>),
    kind("rbac.authorization.k8s.io", "v1", "ClusterRole", reg::<rbac::v1::ClusterRole>),
    kind("rbac.authorization.k8s.io", "v1", "RoleBinding", reg::<rbac::v1::RoleBinding>),
    kind("rbac.authorization.k8s.io", "v1", "Role", reg::<rbac::v1::Role>),
    kind("scheduling.k8s.io", "v1", "PriorityClass", reg::<scheduling::v1::PriorityClass>),
    kind("storage.k8s.io", "v1", "StorageClass", reg::<storage::v1::StorageClass>),
];

/// Kinds that only appear as request or response bodies of operations (subresources, deletes, watches).
pub const AUXILIARY: &[KindSchema] = &[
    kind("autoscaling", "v1", "Scale", reg::<autoscaling::v1::Scale>),
    kind("", "v1", "Binding", reg::<core::v1::Binding>),
    kind("policy", "v1", "Eviction", reg::<policy::v1::Eviction>),
    kind("authentication.k8s.io", "v1", "TokenRequest", reg::<authentication::v1::TokenRequest>),
    kind("", "v1", "Status", reg::<meta::Status>),
];

/// Component names of the meta types every document's operations refer to.
pub fn register_meta(generator: &mut SchemaGenerator) -> Vec<String> {
    vec![
        reg::<meta::APIResourceList>(generator),
        reg::<meta::DeleteOptions>(generator),
        reg::<meta::Patch>(generator),
        reg::<meta::WatchEvent<()>>(generator),
        reg::<meta::ListMeta>(generator),
    ]
}

/// The served kind for a group/version/kind, if any.
pub fn find(group: &str, version: &str, kind: &str) -> Option<&'static KindSchema> {
    KINDS.iter().chain(AUXILIARY).find(|k| k.group == group && k.version == version && k.kind == kind)
}
