//! The node's Lease `kube-node-lease/<node>` (upstream's nodelease
//! controller): held by the node, 40 s long, renewed every 10 s, owned by
//! the Node so that it goes when the Node goes.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::api::{Api, ObjectMeta, PostParams};

/// The namespace of node leases.
pub const NAMESPACE: &str = "kube-node-lease";
/// How long the lease lasts without renewal (upstream's default).
pub const DURATION_SECONDS: i32 = 40;
/// How often a conflicting renewal is retried at once (upstream's maxUpdateRetries).
const MAX_UPDATE_RETRIES: usize = 5;

/// The owner reference pointing at the Node.
pub fn owner_reference(node_name: &str, node_uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node_name.into(),
        uid: node_uid.into(),
        ..Default::default()
    }
}

/// `lease` renewed at `now`: holder and duration set, the owner reference added when the Node's UID is known.
pub fn renewed(mut lease: Lease, node_name: &str, node_uid: Option<&str>, now: jiff::Timestamp) -> Lease {
    lease.metadata.name = Some(node_name.into());
    lease.metadata.namespace = Some(NAMESPACE.into());
    if let Some(uid) = node_uid {
        let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
        owners.retain(|o| !(o.kind == "Node" && o.api_version == "v1" && o.name == node_name && o.uid != uid));
        if !owners.iter().any(|o| o.kind == "Node" && o.uid == uid) {
            owners.push(owner_reference(node_name, uid));
        }
    }
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(node_name.into());
    spec.lease_duration_seconds = Some(DURATION_SECONDS);
    spec.renew_time = Some(MicroTime(now));
    lease
}

/// Creates or renews the node's Lease.
pub async fn renew(client: &kube::Client, node_name: &str, node_uid: Option<&str>) -> Result<Lease, kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let now = jiff::Timestamp::now();
        let result = match leases.get_opt(node_name).await? {
            None => {
                let lease = renewed(Lease { metadata: ObjectMeta::default(), spec: None }, node_name, node_uid, now);
                leases.create(&PostParams::default(), &lease).await
            }
            Some(current) => {
                let lease = renewed(current, node_name, node_uid, now);
                leases.replace(node_name, &PostParams::default(), &lease).await
            }
        };
        match result {
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < MAX_UPDATE_RETRIES => continue,
            other => return other,
        }
    }
}
