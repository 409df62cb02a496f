//! Field errors as k8s.io/apimachinery/pkg/util/validation/field renders
//! them (v1.33: complex bad values are printed in Go `%#v` syntax).

use std::fmt;

use serde_json::Value;

use super::gofmt;

/// The kind of one field error (field.ErrorType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A required value is missing ("Required value").
    Required,
    /// A malformed value ("Invalid value").
    Invalid,
    /// A value outside an enumeration ("Unsupported value").
    NotSupported,
    /// A value not allowed in this context ("Forbidden").
    Forbidden,
    /// A value that must be unique but is not ("Duplicate value").
    Duplicate,
    /// A value that is too long ("Too long").
    TooLong,
    /// A list with too many items ("Too many").
    TooMany,
    /// A reference to something that does not exist ("Not found").
    NotFound,
    /// Something went wrong on the server side ("Internal error").
    Internal,
}

impl FieldErrorKind {
    /// Upstream's reason string in a Status cause ("FieldValueRequired", ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
            Self::Internal => "InternalError",
        }
    }

    /// The canonical text of the kind ("Required value", ...).
    pub fn text(&self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::Duplicate => "Duplicate value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::NotFound => "Not found",
            Self::Internal => "Internal error",
        }
    }
}

/// Prefix of the detail of errors that stand for a JSON type mismatch, which
/// kube-apiserver reports as a 400 decode error rather than a 422.
pub(crate) const DECODE_PREFIX: &str = "json: cannot unmarshal ";

/// One field error, as k8s.io/apimachinery/pkg/util/validation/field.Error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The JSON path of the field, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The bad value; `None` when upstream omits it.
    pub value: Option<Value>,
    /// The detail after the value, possibly empty.
    pub detail: String,
    /// The bad value exactly as upstream prints it (Go `%#v` of a typed
    /// struct), when `value` alone cannot say it.
    pub rendered_value: Option<String>,
}

impl FieldError {
    fn new(kind: FieldErrorKind, field: &str, value: Option<Value>, detail: impl Into<String>) -> Self {
        Self { kind, field: field.to_string(), value, detail: detail.into(), rendered_value: None }
    }

    /// field.Required.
    pub fn required(field: &str, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    /// field.Invalid.
    pub fn invalid(field: &str, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value.into()), detail)
    }

    /// field.Invalid with a value printed in Go syntax (e.g. a typed struct).
    pub fn invalid_rendered(field: &str, rendered: String, detail: impl Into<String>) -> Self {
        let mut error = Self::new(FieldErrorKind::Invalid, field, Some(Value::Null), detail);
        error.rendered_value = Some(rendered);
        error
    }

    /// field.NotSupported; `supported` are quoted as upstream does.
    pub fn not_supported(field: &str, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| gofmt::quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorKind::NotSupported, field, Some(value.into()), detail)
    }

    /// The same error with its value printed as `rendered` (Go syntax).
    pub fn with_rendered(mut self, rendered: String) -> Self {
        self.rendered_value = Some(rendered);
        self
    }

    /// field.Forbidden.
    pub fn forbidden(field: &str, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// field.Duplicate.
    pub fn duplicate(field: &str, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorKind::Duplicate, field, Some(value.into()), "")
    }

    /// field.Duplicate with a value printed in Go syntax.
    pub fn duplicate_rendered(field: &str, rendered: String) -> Self {
        let mut error = Self::new(FieldErrorKind::Duplicate, field, Some(Value::Null), "");
        error.rendered_value = Some(rendered);
        error
    }

    /// field.TooLong (the value is never shown).
    pub fn too_long(field: &str, max_bytes: usize) -> Self {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        Self::new(FieldErrorKind::TooLong, field, None, format!("may not be more than {max_bytes} {unit}"))
    }

    /// field.TooMany.
    pub fn too_many(field: &str, actual: usize, max: usize) -> Self {
        Self::new(FieldErrorKind::TooMany, field, Some(Value::from(actual)), format!("must have at most {max} items"))
    }

    /// field.NotFound.
    pub fn not_found(field: &str, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorKind::NotFound, field, Some(value.into()), "")
    }

    /// field.InternalError.
    pub fn internal(field: &str, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Internal, field, None, detail)
    }

    /// A JSON value of the wrong type where upstream's typed decoding would
    /// have refused the whole body (see [`FieldError::is_decode_error`]).
    pub fn wrong_type(field: &str, value: &Value, go_type: &str) -> Self {
        let json_type = match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let detail = format!("{DECODE_PREFIX}{json_type} into Go value of type {go_type}");
        Self::new(FieldErrorKind::Invalid, field, Some(value.clone()), detail)
    }

    /// Whether this error stands for a JSON type mismatch: kube-apiserver
    /// answers those with 400 BadRequest (`<Kind> in version "v1" cannot be
    /// handled as a <Kind>: json: cannot unmarshal ...`), not with 422.
    pub fn is_decode_error(&self) -> bool {
        self.kind == FieldErrorKind::Invalid && self.detail.starts_with(DECODE_PREFIX)
    }

    /// Upstream's ErrorBody(): the message without the field (a Status
    /// cause's `message`).
    pub fn body(&self) -> String {
        let mut body = self.kind.text().to_string();
        let shows_value = !matches!(
            self.kind,
            FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong | FieldErrorKind::Internal
        );
        if shows_value {
            if let Some(rendered) = &self.rendered_value {
                body.push_str(": ");
                body.push_str(rendered);
            } else if let Some(value) = &self.value {
                body.push_str(": ");
                body.push_str(&gofmt::render(value));
            }
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A field path being built, as field.Path (`a.b[0][key]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A path starting at `name`.
    pub fn new(name: &str) -> Self {
        Self(name.to_string())
    }

    /// The path of a child field.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_string()) } else { Self(format!("{}.{}", self.0, name)) }
    }

    /// The path of a list item.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{}]", self.0, i))
    }

    /// The path of a map entry.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{}]", self.0, key))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
