//! ControllerRevisions (upstream's pkg/controller/history): the snapshots of
//! a StatefulSet's or DaemonSet's pod template that rollouts, `kubectl
//! rollout history` and `kubectl rollout undo` work from. A revision's data
//! is a strategic merge patch that puts the template back
//! (`{"spec":{"template":{..., "$patch":"replace"}}}`), its name is
//! `<owner>-<hash>` and its number orders the history.

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The label carrying the hash of a revision's data (StatefulSet revisions).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// The label that ties a pod (and a DaemonSet's revision) to its revision.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// 32-bit FNV-1 (Go's `fnv.New32`).
pub fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| hash.wrapping_mul(0x0100_0193) ^ u32::from(*byte))
}

/// 32-bit FNV-1a (Go's `fnv.New32a`).
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

/// Upstream's `rand.SafeEncodeString`: every character mapped onto consonants and
/// digits that spell no words.
pub fn safe_encode(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes().map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()])).collect()
}

/// `<prefix>-<hash>`, the prefix cut to 223 bytes so the name stays within 253.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(223);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

/// Upstream's HashControllerRevision: FNV-1 over the data, then the collision count in decimal.
pub fn hash_data(data: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = data.to_string().into_bytes();
    if let Some(count) = collision_count {
        bytes.extend(count.to_string().bytes());
    }
    safe_encode(&fnv1_32(&bytes).to_string())
}

/// A pod template's hash (upstream's controller.ComputeHash: FNV-1a over the
/// template, then the collision count as 4 little-endian bytes).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(count) = collision_count {
        bytes.extend(count.to_le_bytes());
    }
    safe_encode(&fnv1a_32(&bytes).to_string())
}

/// The patch that restores `template`: what a revision stores.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut template {
        map.insert("$patch".into(), Value::from("replace"));
    }
    json!({ "spec": { "template": template } })
}

/// The template a revision restores (upstream's ApplyRevision, for the template it replaces).
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Value::Object(map) = &mut template {
        map.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

/// The revision's data (null when it has none).
pub fn data_of(revision: &ControllerRevision) -> &Value {
    revision.data.as_ref().map_or(&Value::Null, |d| &d.0)
}

/// Orders by revision number, then creation time, then name (upstream's byRevision).
pub fn compare(a: &ControllerRevision, b: &ControllerRevision) -> Ordering {
    a.revision
        .cmp(&b.revision)
        .then_with(|| {
            let at = |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            at(a).cmp(&at(b))
        })
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// Sorts revisions oldest first.
pub fn sort(revisions: &mut [Arc<ControllerRevision>]) {
    revisions.sort_by(|a, b| compare(a, b));
}

/// The number after the highest one of (sorted) `revisions`; 1 for none.
pub fn next_revision(sorted: &[Arc<ControllerRevision>]) -> i64 {
    sorted.last().map_or(1, |r| r.revision + 1)
}

/// Both hold the same data (upstream's EqualRevision: differing numeric hash labels
/// decide at once, otherwise the data is compared).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    let hash = |r: &ControllerRevision| r.labels().get(HASH_LABEL).and_then(|h| h.parse::<u32>().ok());
    if let (Some(x), Some(y)) = (hash(a), hash(b))
        && x != y
    {
        return false;
    }
    data_of(a) == data_of(b)
}

/// Creates `revision`, renaming it on a name collision with different data and
/// counting the collision in `collision_count` (upstream's CreateControllerRevision).
/// `parent` is the owner's name.
pub async fn create(
    api: &Api<ControllerRevision>,
    parent: &str,
    revision: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, kube::Error> {
    let mut candidate = revision.clone();
    loop {
        let hash = hash_data(data_of(revision), Some(*collision_count));
        candidate.metadata.name = Some(revision_name(parent, &hash));
        candidate.metadata.labels.get_or_insert_with(Default::default).insert(HASH_LABEL.into(), hash);
        match api.create(&PostParams::default(), &candidate).await {
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = api.get(&candidate.name_any()).await?;
                if data_of(&existing) == data_of(revision) {
                    return Ok(existing);
                }
                *collision_count = collision_count.saturating_add(1);
            }
            other => return other,
        }
    }
}

/// Gives `revision` the number `number` (upstream's UpdateControllerRevision).
pub async fn renumber(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    number: i64,
) -> Result<ControllerRevision, kube::Error> {
    if revision.revision == number {
        return Ok(revision.clone());
    }
    let patch = json!({ "revision": number });
    api.patch(&revision.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await
}

/// Deletes a revision (one already gone counts as deleted).
pub async fn delete(api: &Api<ControllerRevision>, revision: &ControllerRevision) -> Result<(), kube::Error> {
    match api.delete(&revision.name_any(), &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// A revision's data as the API type.
pub fn raw(data: Value) -> RawExtension {
    RawExtension(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(number: i64, name: &str, data: Value) -> ControllerRevision {
        ControllerRevision {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: Some(raw(data)),
            revision: number,
        }
    }

    #[test]
    fn fnv_variants_match_the_reference_vectors() {
        // Reference values of the FNV test suite.
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn names_are_safe_encoded_and_truncated() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "abc").len(), 223 + 4);
        assert_eq!(revision_name("web", "abc"), "web-abc");
        let data = json!({ "spec": {} });
        assert_ne!(hash_data(&data, Some(0)), hash_data(&data, Some(1)), "a collision changes the hash");
        assert_eq!(hash_data(&data, Some(0)), hash_data(&data, Some(0)));
    }

    #[test]
    fn a_template_round_trips_through_its_patch() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": { "labels": { "app": "web" } },
            "spec": { "containers": [{ "name": "c", "image": "nginx:1" }] } }))
        .expect("a template");
        let patch = template_patch(&template);
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        let stored = revision(1, "web-1", patch);
        assert_eq!(template_of(&stored), Some(template));
    }

    #[test]
    fn revisions_sort_by_number_then_name_and_compare_by_data() {
        let mut all = vec![
            Arc::new(revision(3, "c", json!(3))),
            Arc::new(revision(1, "b", json!(1))),
            Arc::new(revision(1, "a", json!(1))),
        ];
        sort(&mut all);
        let names: Vec<String> = all.iter().map(|r| r.name_any()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(next_revision(&all), 4);
        assert_eq!(next_revision(&[]), 1);
        assert!(equal(&all[0], &all[1]));
        assert!(!equal(&all[0], &all[2]));
    }
}
