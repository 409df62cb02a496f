//! DeleteOptions as a value: read from the body (a `DeleteOptions` object)
//! with the query's parameters as a fallback, and checked as upstream's
//! `ValidateDeleteOptions` and `rest.BeforeDelete` do.

use serde_json::Value;

use crate::registry::Resource;
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// How dependents of a deleted owner are treated (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// The `orphan` finalizer: dependents lose the owner reference and stay.
    Orphan,
    /// The owner goes at once; the garbage collector deletes dependents after.
    Background,
    /// The `foregroundDeletion` finalizer: the owner stays until its blocking dependents are gone.
    Foreground,
}

impl Propagation {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "Orphan" => Some(Self::Orphan),
            "Background" => Some(Self::Background),
            "Foreground" => Some(Self::Foreground),
            _ => None,
        }
    }
}

/// The parts of DeleteOptions the server honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// The requested grace period; a negative one means one second, as upstream.
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<Propagation>,
    /// The legacy `orphanDependents`: true is `Orphan`, false deletes dependents.
    pub orphan_dependents: Option<bool>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Reads the options from a request body (`{}` when it had none) and,
    /// for what the body does not say, from the query parameters; then
    /// validates them (422 `DeleteOptions.meta.k8s.io "" is invalid: ...`).
    pub fn parse<'a>(body: &Value, query: impl Fn(&str) -> Option<&'a str>) -> ApiResult<Self> {
        let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_owned);
        let grace = match (body.get("gracePeriodSeconds").and_then(Value::as_i64), query("gracePeriodSeconds")) {
            (Some(grace), _) => Some(grace),
            (None, Some(raw)) => Some(raw.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("strconv.ParseInt: parsing {}: invalid syntax", quote(raw)))
            })?),
            (None, None) => None,
        };
        let orphan = match (body.get("orphanDependents").and_then(Value::as_bool), query("orphanDependents")) {
            (Some(orphan), _) => Some(orphan),
            (None, Some(raw)) => Some(parse_bool(raw)?),
            (None, None) => None,
        };
        let policy = text("propagationPolicy").or_else(|| query("propagationPolicy").map(str::to_owned));
        let mut errors = Vec::new();
        if let (Some(_), Some(policy)) = (orphan, &policy) {
            errors.push(FieldError::invalid(
                "propagationPolicy",
                policy.as_str(),
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
        let propagation_policy = match policy.as_deref() {
            None => None,
            Some(raw) => Propagation::parse(raw).or_else(|| {
                errors.push(FieldError::not_supported(
                    "propagationPolicy",
                    raw,
                    &["Foreground", "Background", "Orphan", "nil"],
                ));
                None
            }),
        };
        if !errors.is_empty() {
            return Err(invalid(&errors));
        }
        let precondition = |field: &str| body.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
        Ok(Self {
            grace_period_seconds: grace.map(|g| if g < 0 { 1 } else { g }),
            propagation_policy,
            orphan_dependents: orphan,
            uid: precondition("uid").map(str::to_owned),
            resource_version: precondition("resourceVersion").map(str::to_owned),
        })
    }

    /// Whether the deletion is asked to orphan dependents: `orphanDependents`
    /// first, then the propagation policy; `None` when neither says.
    pub fn orphan(&self) -> Option<bool> {
        self.orphan_dependents.or(self.propagation_policy.map(|p| p == Propagation::Orphan))
    }

    /// Whether the deletion is asked to delete dependents in the foreground
    /// (`orphanDependents` set means no, whatever its value); `None` when
    /// neither says.
    pub fn foreground(&self) -> Option<bool> {
        match self.orphan_dependents {
            Some(_) => Some(false),
            None => self.propagation_policy.map(|p| p == Propagation::Foreground),
        }
    }

    /// The UID and resourceVersion preconditions against the current object:
    /// 409 Conflict with upstream's message when one fails.
    pub fn check_preconditions(&self, resource: &Resource, name: &str, current: &Value) -> ApiResult<()> {
        let checks = [
            ("UID", &self.uid, crate::object::uid(current)),
            ("ResourceVersion", &self.resource_version, crate::object::resource_version(current)),
        ];
        for (what, want, have) in checks {
            if let Some(want) = want
                && have != Some(want.as_str())
            {
                let why = format!(
                    "Precondition failed: {what} in precondition: {want}, {what} in object meta: {}",
                    have.unwrap_or_default()
                );
                return Err(ApiError::conflict_because(resource, name, &why));
            }
        }
        Ok(())
    }
}

/// The 422 for invalid options: `errors.NewInvalid` of kind `DeleteOptions` in `meta.k8s.io`.
fn invalid(errors: &[FieldError]) -> ApiError {
    let options = Resource {
        group: "meta.k8s.io",
        version: "v1",
        kind: "DeleteOptions",
        plural: "deleteoptions",
        namespaced: false,
        short_names: &[],
        categories: &[],
        verbs: &[],
        subresources: &[],
        storage_prefix: "",
    };
    ApiError::invalid_fields(&options, "", errors)
}

/// A boolean query parameter as Go's strconv.ParseBool reads it.
fn parse_bool(raw: &str) -> ApiResult<bool> {
    match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(ApiError::bad_request(format!("strconv.ParseBool: parsing {}: invalid syntax", quote(other)))),
    }
}

fn quote(raw: &str) -> String {
    crate::validation::gofmt::quote(raw)
}
