//! `POST serviceaccounts/{name}/token`: an authentication.k8s.io/v1
//! TokenRequest in, the same with `status.token` and
//! `status.expirationTimestamp` out (201), as upstream's TokenREST: the
//! account must exist (404), expirationSeconds defaults to 3600 and must be
//! 10 minutes to 2^32 s (422), a bound Pod (or Secret) must exist with the
//! given uid (409 otherwise) and a pod must run as this account (400); a pod
//! on a node adds the node's name and uid.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::claims::{Claims, Kubernetes, Ref, username};
use crate::handlers::{Request, json as respond};
use crate::server::ApiState;
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// The lifetime of a token whose request names none (the API's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// Handles the TokenRequest of a service account.
pub(crate) async fn create(state: &ApiState, request: &Request) -> ApiResult<Response> {
    let accounts = &request.target.resource;
    let name = request.target.name()?;
    let namespace = request.target.ns().unwrap_or("default");
    let mut body = request.json_body()?;
    let account = state.objects.get(accounts, Some(namespace), name).await?;

    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(value) => value.as_i64().ok_or_else(|| {
            ApiError::bad_request("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec.expirationSeconds must be an integer")
        })?,
    };
    validate_expiration(name, expiration)?;
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = state.tokens.api_audiences();
    }

    let account_ref = Ref { name: name.to_owned(), uid: uid_of(&account) };
    let mut kubernetes = Kubernetes {
        namespace: namespace.to_owned(),
        serviceaccount: account_ref,
        pod: None,
        secret: None,
        node: None,
        warnafter: None,
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| b.is_object()) {
        bind(state, namespace, name, bound, &mut kubernetes).await?;
    }

    let now = jiff::Timestamp::now();
    let issued = now.as_second();
    let claims = Claims {
        aud: audiences.clone(),
        exp: issued + expiration,
        iat: issued,
        iss: state.tokens.issuer.clone(),
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes,
        nbf: issued,
        sub: username(namespace, name),
    };
    let key = state.tokens.key().map_err(|e| ApiError::internal("making the service account key", &e))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.key_id.clone());
    let token = jsonwebtoken::encode(&header, &claims, key.encoding())
        .map_err(|e| ApiError::internal("signing a service account token", &e))?;
    let expires = jiff::Timestamp::from_second(issued + expiration)
        .map_err(|e| ApiError::internal("computing the expiration", &e))?;

    if let Some(map) = body.as_object_mut() {
        map.insert("kind".into(), json!("TokenRequest"));
        map.insert("apiVersion".into(), json!("authentication.k8s.io/v1"));
        let metadata = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.entry("creationTimestamp").or_insert(Value::Null);
        }
        let mut spec = spec;
        spec["audiences"] = json!(audiences);
        spec["expirationSeconds"] = json!(expiration);
        if spec.get("boundObjectRef").is_none() {
            spec["boundObjectRef"] = Value::Null;
        }
        map.insert("spec".into(), spec);
        map.insert(
            "status".into(),
            json!({ "token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() }),
        );
    }
    tracing::debug!(account = name, namespace, "issued a service account token");
    Ok(respond(StatusCode::CREATED, &body))
}

fn uid_of(object: &Value) -> String {
    object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// upstream's ValidateTokenRequest.
fn validate_expiration(name: &str, seconds: i64) -> ApiResult<()> {
    let mut errors = Vec::new();
    if seconds < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > MAX_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let message = crate::validation::invalid_message("authentication.k8s.io", "TokenRequest", name, &errors);
    let causes: Vec<Value> =
        errors.iter().map(|e| json!({ "reason": e.kind.reason(), "message": e.body(), "field": e.field })).collect();
    let mut error = ApiError::new(422, "Invalid", message);
    error.details =
        Some(json!({ "name": name, "group": "authentication.k8s.io", "kind": "TokenRequest", "causes": causes }));
    Err(error)
}

/// Checks the bound object and records it (and a pod's node) in the claims.
async fn bind(
    state: &ApiState,
    namespace: &str,
    account: &str,
    bound: &Value,
    claims: &mut Kubernetes,
) -> ApiResult<()> {
    let field = |key: &str| bound.get(key).and_then(Value::as_str).unwrap_or_default();
    let (kind, name, wanted_uid) = (field("kind"), field("name"), field("uid"));
    let plural = match (field("apiVersion"), kind) {
        ("v1", "Pod") => "pods",
        ("v1", "Secret") => "secrets",
        _ => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount {account:?} to object of kind {kind}"
            )));
        }
    };
    let resource = state.registry.get("", "v1", plural).ok_or_else(ApiError::no_such_path)?;
    let object = state.objects.get(resource, Some(namespace), name).await?;
    let uid = uid_of(&object);
    if !wanted_uid.is_empty() && wanted_uid != uid {
        let why = format!(
            "the UID in the bound object reference ({wanted_uid}) does not match the UID in record. The object might have been deleted and then recreated"
        );
        return Err(ApiError::conflict_because(resource, name, &why));
    }
    let reference = Ref { name: name.to_owned(), uid };
    if plural == "secrets" {
        claims.secret = Some(reference);
        return Ok(());
    }
    let pod_account = object.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("default");
    if pod_account != account {
        return Err(ApiError::bad_request(format!(
            "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
        )));
    }
    claims.pod = Some(reference);
    if let Some(node) = object.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
        && let Some(nodes) = state.registry.get("", "v1", "nodes")
        && let Ok(node_object) = state.objects.get(nodes, None, node).await
    {
        claims.node = Some(Ref { name: node.to_owned(), uid: uid_of(&node_object) });
    }
    Ok(())
}
