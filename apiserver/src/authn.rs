//! Authentication: x509 client certificates signed by the cluster CA
//! (CN = user, O = groups), kube-apiserver's static token file and
//! service account tokens (JWTs, see [`crate::serviceaccount`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::status::ApiError;

/// Paths anyone may read without credentials.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", crate::join::CACERTS_PATH];
/// Paths that check their own credentials (the agents' join token, see `join`).
const SELF_AUTHENTICATED: &[&str] = &[crate::join::CLIENT_KUBELET_PATH];

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
}

/// The DER client certificate a TLS connection presented (verified by the TLS layer).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error("cannot read token file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {path}, line {line}: {reason}")]
    Malformed { path: String, line: usize, reason: String },
}

/// `--token-file`: CSV lines `token,user,uid[,"group1,group2"]`.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    users: HashMap<String, User>,
}

impl TokenFile {
    pub fn load(path: &Path) -> Result<Self, AuthnError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| AuthnError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, AuthnError> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |reason: &str| AuthnError::Malformed {
                path: path.to_owned(),
                line: index + 1,
                reason: reason.to_owned(),
            };
            let fields = csv_fields(line).ok_or_else(|| malformed("unbalanced quotes"))?;
            let [token, name, uid, rest @ ..] = fields.as_slice() else {
                return Err(malformed("expected at least 3 columns: token,user,uid"));
            };
            if token.is_empty() || name.is_empty() {
                return Err(malformed("the token and the user name must not be empty"));
            }
            let groups = rest
                .first()
                .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            let uid = Some(uid.clone()).filter(|u| !u.is_empty());
            users.insert(token.clone(), User { name: name.clone(), uid, groups });
        }
        Ok(Self { users })
    }

    pub fn user(&self, token: &str) -> Option<&User> {
        self.users.get(token)
    }
}

/// Splits one CSV line; quoted fields may contain commas and `""`.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields.into_iter().map(|f| f.trim().to_owned()).collect())
}

/// The user a verified client certificate names.
pub fn certificate_user(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok()).map(str::to_owned).collect();
    Some(User { name, uid: None, groups })
}

/// Who may call the API.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    pub tokens: TokenFile,
    /// Service account tokens (from [`ApiServer::service_account_authenticator`](crate::ApiServer::service_account_authenticator)).
    pub service_accounts: Option<crate::serviceaccount::TokenAuthenticator>,
}

impl Authenticator {
    /// The user of a request's bearer token, else of its client certificate.
    async fn user(&self, bearer: Option<String>, certificate: Option<PeerCertificate>) -> Option<User> {
        if let Some(bearer) = bearer {
            let bearer = bearer.trim();
            if let Some(user) = self.tokens.user(bearer) {
                return Some(user.clone());
            }
            // A JWT (header.payload.signature) may be a service account's.
            return match &self.service_accounts {
                Some(accounts) if bearer.split('.').count() == 3 => accounts.authenticate(bearer).await,
                _ => None,
            };
        }
        certificate_user(&certificate?.0)
    }
}

fn unauthorized() -> Response {
    let mut error = ApiError::new(401, "Unauthorized", "Unauthorized");
    error.details = None;
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Basic realm=\"kubernetes-master\""));
    response
}

/// Middleware: authenticates every request but the public paths; the
/// user (with `system:authenticated`) goes into the request's extensions.
pub async fn authenticate(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if PUBLIC_PATHS.contains(&path) || SELF_AUTHENTICATED.contains(&path) {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let certificate = request.extensions().get::<PeerCertificate>().cloned();
    match authenticator.user(bearer, certificate).await {
        Some(mut user) => {
            user.groups.push("system:authenticated".to_owned());
            tracing::trace!(user = %user.name, "authenticated");
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        None => unauthorized(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_parse_as_kube_apiserver_reads_them() {
        let file = TokenFile::parse("abc,alice,1001,\"dev,ops\"\n\nxyz,bob,\n", "tokens.csv").expect("parse");
        let alice = file.user("abc").expect("alice");
        assert_eq!(
            (alice.name.as_str(), alice.uid.as_deref(), alice.groups.clone()),
            ("alice", Some("1001"), vec!["dev".to_owned(), "ops".to_owned()])
        );
        assert_eq!(file.user("xyz").map(|u| u.groups.len()), Some(0));
        assert!(file.user("nope").is_none());
    }

    #[test]
    fn malformed_token_files_name_the_line() {
        let err = TokenFile::parse("ok,user,1\nonly-two,cols\n", "t.csv").expect_err("malformed");
        assert_eq!(err.to_string(), "token file t.csv, line 2: expected at least 3 columns: token,user,uid");
    }
}
