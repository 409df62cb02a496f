//! The content hash kube-apiserver advertises for OpenAPI documents: upper-case hex SHA-512.

use sha2::{Digest, Sha512};

/// Upper-case hex SHA-512 of `data`.
pub fn sha512_hex_upper(data: &[u8]) -> String {
    Sha512::digest(data).iter().map(|b| format!("{b:02X}")).collect()
}
