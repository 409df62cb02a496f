//! Authenticating service account tokens, as upstream's JWT token
//! authenticator with the service account validator: a valid RS256
//! signature by the key in use, our issuer, an API audience, not expired;
//! then the account must still exist with the uid the token names, and so
//! must a bound pod or secret.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::claims::{Claims, Ref};
use crate::authn::User;
use crate::server::ApiState;

/// Checks bearer tokens against the server's service accounts.
#[derive(Debug, Clone)]
pub struct TokenAuthenticator {
    state: Arc<ApiState>,
}

impl TokenAuthenticator {
    pub(crate) fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }

    /// The service account a token authenticates as; `None` when it does not (logged at debug).
    pub async fn authenticate(&self, token: &str) -> Option<User> {
        match self.check(token).await {
            Ok(user) => Some(user),
            Err(reason) => {
                tracing::debug!(reason, "a service account token was rejected");
                None
            }
        }
    }

    async fn check(&self, token: &str) -> Result<User, String> {
        let key = self.state.tokens.current().ok_or("no service account key is in use")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.state.tokens.issuer.as_str()]);
        validation.set_audience(&self.state.tokens.api_audiences());
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Claims>(token, key.decoding(), &validation)
            .map_err(|e| format!("invalid token: {e}"))?
            .claims;
        let private = &claims.kubernetes;
        let namespace = private.namespace.as_str();
        let account =
            self.current("serviceaccounts", namespace, &private.serviceaccount).await.map_err(|e| match e {
                Gone::Deleted => {
                    format!("service account {namespace}/{} has been deleted", private.serviceaccount.name)
                }
                Gone::OtherUid(uid) => {
                    format!("service account UID ({uid}) does not match claim ({})", private.serviceaccount.uid)
                }
            })?;
        if let Some(pod) = &private.pod {
            self.current("pods", namespace, pod).await.map_err(|e| match e {
                Gone::Deleted => format!("pod {namespace}/{} has been deleted", pod.name),
                Gone::OtherUid(uid) => format!("pod UID ({uid}) does not match claim ({})", pod.uid),
            })?;
        }
        if let Some(secret) = &private.secret {
            self.current("secrets", namespace, secret).await.map_err(|e| match e {
                Gone::Deleted => format!("secret {namespace}/{} has been deleted", secret.name),
                Gone::OtherUid(uid) => format!("secret UID ({uid}) does not match claim ({})", secret.uid),
            })?;
        }
        let uid = account.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_owned);
        Ok(User {
            name: claims.sub.clone(),
            uid,
            groups: vec!["system:serviceaccounts".to_owned(), format!("system:serviceaccounts:{namespace}")],
        })
    }

    /// The object a claim names, if it still exists with that uid.
    async fn current(&self, plural: &str, namespace: &str, reference: &Ref) -> Result<Value, Gone> {
        let resource = self.state.registry.get("", "v1", plural).ok_or(Gone::Deleted)?;
        let object =
            self.state.objects.get(resource, Some(namespace), &reference.name).await.map_err(|_| Gone::Deleted)?;
        // A deleted pod's tokens work through a minute of its graceful termination, as upstream's.
        let deleted = object.pointer("/metadata/deletionTimestamp").and_then(Value::as_str);
        let deleted = deleted.and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if plural == "pods" && deleted.is_some_and(|at| at.as_second() < jiff::Timestamp::now().as_second() - 60) {
            return Err(Gone::Deleted);
        }
        let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        if uid != reference.uid {
            return Err(Gone::OtherUid(uid.to_owned()));
        }
        Ok(object)
    }
}

enum Gone {
    Deleted,
    OtherUid(String),
}
