//! Service account tokens, as kube-apiserver issues and checks them: the
//! `serviceaccounts/{name}/token` subresource (TokenRequest) signs JWTs
//! (RS256) with the service account key, and [`TokenAuthenticator`] turns
//! such bearer tokens back into the service account's user while the
//! account (and the pod the token is bound to) still exists.

mod claims;
mod key;
mod token_request;
mod validate;

pub use claims::{Claims, DEFAULT_ISSUER};
pub use key::{KeyError, SigningKey};
pub(crate) use token_request::create as create_token;
pub use validate::TokenAuthenticator;

use std::sync::{Arc, PoisonError, RwLock};

/// The key and issuer the server signs service account tokens with. Without a key
/// configured, one is made in memory when the first token is requested.
#[derive(Debug)]
pub struct TokenIssuer {
    key: RwLock<Option<Arc<SigningKey>>>,
    /// `--service-account-issuer` (also the default audience, as `--api-audiences` defaults to it).
    pub issuer: String,
}

impl Default for TokenIssuer {
    fn default() -> Self {
        Self { key: RwLock::new(None), issuer: DEFAULT_ISSUER.to_owned() }
    }
}

impl TokenIssuer {
    /// Signs with `key` from now on.
    pub fn set_key(&self, key: SigningKey) {
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(key));
    }

    /// The key in use, if one was set or made.
    pub fn current(&self) -> Option<Arc<SigningKey>> {
        self.key.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The key in use, made in memory if there is none yet.
    pub fn key(&self) -> Result<Arc<SigningKey>, KeyError> {
        if let Some(key) = self.current() {
            return Ok(key);
        }
        let made = Arc::new(SigningKey::generate()?);
        let mut slot = self.key.write().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(slot.get_or_insert(made)))
    }

    /// The audiences tokens are for when a request names none (upstream's `--api-audiences`).
    pub fn api_audiences(&self) -> Vec<String> {
        vec![self.issuer.clone()]
    }
}
