//! Agents joining the cluster, as k3s agents do: the server keeps a join
//! token `K10<sha256 of the CA PEM>::server:<secret>` in its data dir; an
//! agent fetches the CA from `/cacerts` (no credentials), checks its hash
//! against the token (so it pins the CA), then asks
//! `/v1-skiff/client-kubelet` with the token for its credentials: a client
//! certificate for `system:node:<name>` in `system:nodes` and a serving
//! certificate for its kubelet server, both signed by the cluster CA.
//!
//! These routes authenticate with the token themselves; the API's
//! certificate/token authenticator lets them through (see `authn`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pki::Pki;
use crate::status::ApiError;
use crate::validation::dns1123_subdomain;

/// The path of the CA certificate (k3s's).
pub const CACERTS_PATH: &str = "/cacerts";
/// The path agents get their credentials from.
pub const CLIENT_KUBELET_PATH: &str = "/v1-skiff/client-kubelet";
/// The prefix of k3s-style tokens (format version 10).
const TOKEN_PREFIX: &str = "K10";
/// The user name in tokens the server writes.
const TOKEN_USER: &str = "server";

/// Why the token could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot read or write the join token {path}")]
    Token {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The hex SHA-256 of the CA certificate's PEM text, as a token carries it.
pub fn ca_hash(ca_pem: &str) -> String {
    Sha256::digest(ca_pem.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of a token: `K10<hash>::<user>:<secret>`, or a bare secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParts {
    /// The CA hash (`None` for a bare secret).
    pub ca_hash: Option<String>,
    pub user: Option<String>,
    pub secret: String,
}

/// Splits a token into its parts.
pub fn parse_token(token: &str) -> TokenParts {
    let token = token.trim();
    if let Some((hash, credentials)) = token.strip_prefix(TOKEN_PREFIX).and_then(|rest| rest.split_once("::")) {
        let (user, secret) = match credentials.split_once(':') {
            Some((user, secret)) => (Some(user.to_owned()), secret.to_owned()),
            None => (None, credentials.to_owned()),
        };
        return TokenParts { ca_hash: Some(hash.to_owned()), user, secret };
    }
    TokenParts { ca_hash: None, user: None, secret: token.to_owned() }
}

/// The server's join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The full token agents are given (`K10…::server:…`).
    pub token: String,
    secret: String,
}

impl JoinToken {
    /// The token for `ca_pem` with `secret`.
    pub fn new(ca_pem: &str, secret: &str) -> Self {
        Self { token: format!("{TOKEN_PREFIX}{}::{TOKEN_USER}:{secret}", ca_hash(ca_pem)), secret: secret.to_owned() }
    }

    /// Where the token lives: `<data>/server/token`.
    pub fn path(server_dir: &Path) -> PathBuf {
        server_dir.join("token")
    }

    /// Reads `<server_dir>/token`, or makes one with a fresh random secret;
    /// a token naming another CA (the CA was made again) keeps its secret
    /// and gets the current CA's hash.
    pub fn load_or_create(server_dir: &Path, ca_pem: &str) -> Result<Self, JoinError> {
        let path = Self::path(server_dir);
        let io = |source| JoinError::Token { path: path.display().to_string(), source };
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_token(&text)).filter(|parts| !parts.secret.is_empty()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(io(error)),
        };
        let current = ca_hash(ca_pem);
        let secret = match existing {
            Some(parts) if parts.ca_hash.as_deref() == Some(current.as_str()) => {
                return Ok(Self::new(ca_pem, &parts.secret));
            }
            Some(parts) => parts.secret,
            None => format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        };
        let token = Self::new(ca_pem, &secret);
        std::fs::create_dir_all(server_dir).map_err(io)?;
        std::fs::write(&path, format!("{}\n", token.token)).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(token)
    }

    /// Whether a request's `Authorization` (Bearer with the token or its
    /// secret, or Basic `user:secret` as k3s agents send it) carries the token.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let presented = if let Some(bearer) = value.strip_prefix("Bearer ") {
            parse_token(bearer).secret
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            let decoded = BASE64.decode(basic.trim()).ok().and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((_, secret)) => secret.to_owned(),
                None => return false,
            }
        } else {
            return false;
        };
        // Compare digests, so the time taken says nothing about the secret.
        Sha256::digest(presented.as_bytes()) == Sha256::digest(self.secret.as_bytes())
    }
}

/// What an agent asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletCredentialsRequest {
    pub node_name: String,
    /// The node's addresses (IPs or names), for the serving certificate.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// What an agent gets (PEM).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletCredentials {
    pub certificate_authority: String,
    pub client_certificate: String,
    pub client_key: String,
    pub serving_certificate: String,
    pub serving_key: String,
}

#[derive(Debug)]
struct JoinState {
    pki: Pki,
    token: JoinToken,
}

/// The join routes, to merge into the server's HTTPS router.
pub fn routes(pki: Pki, token: JoinToken) -> Router {
    Router::new()
        .route(CACERTS_PATH, get(cacerts))
        .route(CLIENT_KUBELET_PATH, post(client_kubelet))
        .with_state(Arc::new(JoinState { pki, token }))
}

async fn cacerts(State(state): State<Arc<JoinState>>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/x-pem-file")], state.pki.ca_cert.clone()).into_response()
}

fn unauthorized() -> Response {
    let mut error = ApiError::new(401, "Unauthorized", "Unauthorized");
    error.details = None;
    error.into_response()
}

async fn client_kubelet(State(state): State<Arc<JoinState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !state.token.authorizes(&headers) {
        tracing::info!("a join request with a wrong token was refused");
        return unauthorized();
    }
    let request: KubeletCredentialsRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return ApiError::new(400, "BadRequest", format!("the request is not valid: {error}")).into_response();
        }
    };
    let errs = dns1123_subdomain(&request.node_name);
    if !errs.is_empty() {
        let message = format!("invalid node name {:?}: {}", request.node_name, errs.join("; "));
        return ApiError::new(400, "BadRequest", message).into_response();
    }
    let user = format!("system:node:{}", request.node_name);
    let mut hosts = vec![request.node_name.clone()];
    hosts.extend(request.addresses.iter().filter(|a| !a.is_empty() && **a != request.node_name).cloned());
    let issued = state.pki.issue_client(&user, Some("system:nodes")).and_then(|client| {
        let serving = state.pki.issue_serving(&user, Some("system:nodes"), &hosts)?;
        Ok((client, serving))
    });
    match issued {
        Ok(((client_certificate, client_key), (serving_certificate, serving_key))) => {
            tracing::info!(node = %request.node_name, "issued kubelet credentials to a joining agent");
            let credentials = KubeletCredentials {
                certificate_authority: state.pki.ca_cert.clone(),
                client_certificate,
                client_key,
                serving_certificate,
                serving_key,
            };
            match serde_json::to_vec(&credentials) {
                Ok(body) => (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
                Err(error) => {
                    tracing::error!(%error, "encoding kubelet credentials failed");
                    ApiError::new(500, "InternalError", "encoding the certificates failed").into_response()
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "issuing kubelet credentials failed");
            ApiError::new(500, "InternalError", "issuing the certificates failed").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_ca_hash_and_a_secret() {
        let token = JoinToken::new("PEM", "s3cret");
        assert_eq!(token.token, format!("K10{}::server:s3cret", ca_hash("PEM")));
        assert_eq!(ca_hash("PEM").len(), 64);
        let parts = parse_token(&token.token);
        assert_eq!(parts.ca_hash.as_deref(), Some(ca_hash("PEM").as_str()));
        assert_eq!((parts.user.as_deref(), parts.secret.as_str()), (Some("server"), "s3cret"));
        assert_eq!(parse_token("bare").secret, "bare");
        assert_eq!(parse_token("bare").ca_hash, None);
    }

    #[test]
    fn the_token_or_its_secret_authorizes_and_anything_else_does_not() {
        let token = JoinToken::new("PEM", "s3cret");
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value.parse().expect("header"));
            token.authorizes(&headers)
        };
        assert!(with(&format!("Bearer {}", token.token)));
        assert!(with("Bearer s3cret"));
        assert!(with(&format!("Basic {}", BASE64.encode("node:s3cret"))));
        assert!(!with("Bearer wrong"));
        assert!(!with(&format!("Basic {}", BASE64.encode("node:wrong"))));
        assert!(!token.authorizes(&HeaderMap::new()));
    }

    #[test]
    fn the_token_file_is_kept_and_follows_a_new_ca() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = JoinToken::load_or_create(dir.path(), "CA1").expect("create");
        assert_eq!(JoinToken::load_or_create(dir.path(), "CA1").expect("reload"), first);
        let moved = JoinToken::load_or_create(dir.path(), "CA2").expect("new CA");
        assert_eq!(moved.secret, first.secret);
        assert!(moved.token.starts_with(&format!("K10{}::", ca_hash("CA2"))));
        let text = std::fs::read_to_string(JoinToken::path(dir.path())).expect("token file");
        assert_eq!(text.trim(), moved.token);
    }
}
