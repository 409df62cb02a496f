//! A minimal `/openapi/v2` document in the protobuf form client-go requests
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's `openapi.v2.Document`).
//!
//! kubectl 1.27/1.28 download `/openapi/v2` eagerly whenever they validate (`kubectl apply/create`), and
//! kubectl apply consults it for strategic-merge metadata. A document without definitions parses, makes
//! every lookup miss, and so sends kubectl to its compiled-in types: correct patches for built-in kinds.

/// Content-Type of the served protobuf document. Clients ask for `...spec.v2@v1.0+protobuf`, but upstream
/// answers with this spelling: Go's mime parser (kubectl) rejects the `@` in a response Content-Type.
pub const V2_PROTOBUF_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field (strings and embedded messages).
fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((number << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// `{swagger: "2.0", info: {title: "Kubernetes", version}, paths: {}, definitions: {}}` as protobuf.
pub fn document_protobuf(kubernetes_version: &str) -> Vec<u8> {
    let mut info = Vec::new();
    field(1, b"Kubernetes", &mut info);
    field(2, kubernetes_version.as_bytes(), &mut info);
    let mut doc = Vec::new();
    field(1, b"2.0", &mut doc);
    field(2, &info, &mut doc);
    field(8, &[], &mut doc);
    field(9, &[], &mut doc);
    doc
}
