//! Service account tokens for projected volumes, as upstream's kubelet token
//! manager (pkg/kubelet/token): requested through the TokenRequest API bound
//! to the pod, cached, and requested again once 80% of their lifetime has
//! passed or they are older than 24 hours.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;

/// Tokens older than this are refreshed whatever their lifetime (upstream's maxTTL).
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// The default lifetime of a projected token (the API's default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// What identifies one token: the account, the audiences, the lifetime and the pod it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    account: String,
    audiences: Vec<String>,
    expiration_seconds: i64,
    pod_uid: String,
}

/// A token and when it was issued and expires (Unix seconds).
#[derive(Debug, Clone)]
struct Cached {
    token: String,
    issued: i64,
    expires: i64,
}

impl Cached {
    /// Upstream's requiresRefresh: past 24 h since issue, or within the last 20% of its lifetime.
    fn needs_refresh(&self, now: i64) -> bool {
        let lifetime = self.expires - self.issued;
        now >= self.issued + MAX_TTL.as_secs() as i64 || now >= self.expires - lifetime / 5
    }
}

/// The pod a token is bound to.
#[derive(Debug, Clone)]
pub struct BoundPod<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Caches tokens per pod.
#[derive(Debug, Default)]
pub struct TokenManager {
    cache: Mutex<HashMap<Key, Cached>>,
}

impl TokenManager {
    /// A token of `account` for `pod`: the cached one unless it needs refreshing.
    pub async fn token(
        &self,
        client: &kube::Client,
        account: &str,
        pod: &BoundPod<'_>,
        audiences: Vec<String>,
        expiration_seconds: i64,
    ) -> Result<String, String> {
        let key = Key {
            namespace: pod.namespace.to_owned(),
            account: account.to_owned(),
            audiences,
            expiration_seconds,
            pod_uid: pod.uid.to_owned(),
        };
        let now = jiff::Timestamp::now().as_second();
        if let Some(cached) = self.lock().get(&key).filter(|c| !c.needs_refresh(now)) {
            return Ok(cached.token.clone());
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: key.audiences.clone(),
                expiration_seconds: Some(expiration_seconds),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(pod.name.to_owned()),
                    uid: Some(pod.uid.to_owned()),
                }),
            },
            ..TokenRequest::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), pod.namespace);
        let response = api
            .create_token_request(account, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("failed to fetch token: {}", api_message(e)))?;
        let status = response.status.ok_or("failed to fetch token: the TokenRequest has no status")?;
        let expires = status.expiration_timestamp.0.as_second();
        let cached = Cached { token: status.token, issued: now, expires };
        self.lock().insert(key, cached.clone());
        Ok(cached.token)
    }

    /// Drops the tokens of the pod with `uid` (on teardown).
    pub fn forget(&self, uid: &str) {
        self.lock().retain(|key, _| key.pod_uid != uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The API's message for an API error, the error's text otherwise.
pub fn api_message(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_after_eighty_percent_of_their_lifetime_or_a_day() {
        let token = Cached { token: String::new(), issued: 0, expires: 3600 };
        assert!(!token.needs_refresh(2879));
        assert!(token.needs_refresh(2880));
        let long = Cached { token: String::new(), issued: 0, expires: 365 * 86_400 };
        assert!(!long.needs_refresh(86_399));
        assert!(long.needs_refresh(86_400));
    }
}
