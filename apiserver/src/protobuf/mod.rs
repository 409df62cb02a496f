//! Decoding of Kubernetes protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`)
//! into the JSON the API server stores.
//!
//! kubectl 1.32/1.33 sends built-in kinds in this encoding for typed-client calls (`kubectl create
//! configmap|secret|deployment|...`, `auth can-i`, `create token`, the DeleteOptions of `drain`) and never
//! falls back to JSON. A body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message
//! (`typeMeta{apiVersion=1, kind=2}=1`, `raw=2`, `contentEncoding=3`, `contentType=4`) whose `raw` is the
//! object's own message from k8s.io/api's generated.proto.
//!
//! How: `raw` is decoded with the prost types of the `k8s-pb` crate (tags and wire types), the decoded
//! message's derived `Debug` rendering is read back as a generic tree (prost has no reflection), and that
//! tree is deserialized into the `k8s-openapi` type of the same kind, whose serde field lists give the
//! JSON names and whose `Serialize` gives Kubernetes' JSON forms (RFC 3339 times, base64 bytes,
//! int-or-string, quantities). Nothing per type is hand-written; see [`KINDS`] for what is covered.
//!
//! Every error here is what kube-apiserver answers with 400 BadRequest: an undecodable body ("the object
//! provided is unrecognized") as well as an unregistered kind ("... cannot be handled as a ...: no kind
//! ... is registered for version ...").

mod de;
mod debug_tree;
mod fields;
mod kinds;
mod special;
#[cfg(test)]
mod tests;

pub use kinds::KINDS;

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::Value;

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be decoded. kube-apiserver answers all of these with 400 BadRequest.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    MissingPrefix,
    /// Nothing follows the prefix.
    #[error("empty body")]
    EmptyBody,
    /// The `runtime.Unknown` envelope is not valid protobuf.
    #[error("malformed protobuf envelope: {0}")]
    MalformedEnvelope(String),
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in protobuf envelope")]
    MissingKind,
    /// The envelope names no apiVersion.
    #[error("Object 'apiVersion' is missing in protobuf envelope")]
    MissingVersion,
    /// The apiVersion/kind is not one this server can decode.
    #[error("no kind {kind:?} is registered for version {api_version:?}")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The object's bytes are not a valid message of its kind.
    #[error("malformed protobuf for {kind}: {message}")]
    Malformed {
        /// The envelope's kind.
        kind: String,
        /// The decoder's complaint.
        message: String,
    },
    /// The message decoded but a value has no JSON form (bad RawExtension JSON, time out of range, ...).
    #[error("{kind} cannot be converted to JSON: {message}")]
    Convert {
        /// The kind or special type that failed.
        kind: String,
        /// What was wrong.
        message: String,
    },
    /// A bug in this module's reading of a decoded message.
    #[error("internal protobuf conversion error: {0}")]
    Internal(String),
}

impl ProtobufError {
    /// The HTTP status kube-apiserver gives for this error: always 400 BadRequest.
    pub fn status_code(&self) -> u16 {
        400
    }
}

/// Decodes a Kubernetes protobuf body (with the `k8s\0` prefix) into the JSON of the object, with
/// `apiVersion` and `kind` set from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let data = body.strip_prefix(MAGIC).ok_or(ProtobufError::MissingPrefix)?;
    if data.is_empty() {
        return Err(ProtobufError::EmptyBody);
    }
    let envelope = Unknown::decode(data).map_err(|e| ProtobufError::MalformedEnvelope(e.to_string()))?;
    let type_meta = envelope.type_meta.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    if kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    if api_version.is_empty() {
        return Err(ProtobufError::MissingVersion);
    }
    let raw = envelope.raw.unwrap_or_default();
    let mut object = kinds::decode_object(&api_version, &kind, &raw)
        .ok_or_else(|| ProtobufError::UnknownKind { api_version: api_version.clone(), kind: kind.clone() })??;
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(object)
}
