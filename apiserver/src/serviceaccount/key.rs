//! The service account signing key: an RSA key pair kept in the PKI dir next
//! to the CA (`service-account.key`, `service-account.pub`), made on first start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::Generate;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

const PRIVATE_FILE: &str = "service-account.key";
const PUBLIC_FILE: &str = "service-account.pub";

/// Why the key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("generating the service account key: {0}")]
    Generate(String),
    #[error("the service account key in {path} is not a PKCS#8 RSA key: {reason}")]
    Parse { path: String, reason: String },
}

/// The key pair, ready to sign and verify.
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The `kid` header: base64url of the SHA-256 of the public key's DER (as upstream's keyIDFromPublicKey).
    pub key_id: String,
    /// The public key, PEM.
    pub public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key pair in memory.
    pub fn generate() -> Result<Self, KeyError> {
        let private = rsa::PrivateKey::try_generate().map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_private(&private, "memory")
    }

    /// The key pair in `dir`, made and written there if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(PRIVATE_FILE);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| KeyError::Io { path, source }
        };
        match std::fs::read_to_string(&path) {
            Ok(pem) => {
                let private = rsa::PrivateKey::from_pkcs8_pem(&pem)
                    .map_err(|e| KeyError::Parse { path: path.display().to_string(), reason: e.to_string() })?;
                Self::from_private(&private, &path.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                let private = rsa::PrivateKey::try_generate().map_err(|e| KeyError::Generate(e.to_string()))?;
                let pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?;
                std::fs::write(&path, pem.as_bytes()).map_err(io(&path))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
                let key = Self::from_private(&private, &path.display().to_string())?;
                let public = dir.join(PUBLIC_FILE);
                std::fs::write(&public, &key.public_pem).map_err(io(&public))?;
                Ok(key)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn from_private(private: &rsa::PrivateKey, path: &str) -> Result<Self, KeyError> {
        let parse = |reason: String| KeyError::Parse { path: path.to_owned(), reason };
        let der = private.to_pkcs8_der().map_err(|e| parse(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_pem(
            der.to_pem("PRIVATE KEY", LineEnding::LF).map_err(|e| parse(e.to_string()))?.as_bytes(),
        )
        .map_err(|e| parse(e.to_string()))?;
        let public = private.to_public_key();
        let public_pem = public.to_public_key_pem(LineEnding::LF).map_err(|e| parse(e.to_string()))?;
        let public_der = public.to_public_key_der().map_err(|e| parse(e.to_string()))?;
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| parse(e.to_string()))?;
        let key_id = URL_SAFE_NO_PAD.encode(Sha256::digest(public_der.as_bytes()));
        Ok(Self { encoding, decoding, key_id, public_pem })
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}
