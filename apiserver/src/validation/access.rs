//! Reading typed fields out of JSON without panicking: a value of the wrong
//! JSON type is recorded as a decode error and read as absent.

use serde_json::{Map, Value};

use super::field::{FieldError, Path};

/// The errors collected while validating one object.
#[derive(Debug, Default)]
pub struct Errs {
    /// The errors so far, in upstream's order.
    pub list: Vec<FieldError>,
}

impl Errs {
    /// Records one error.
    pub fn push(&mut self, error: FieldError) {
        self.list.push(error);
    }

    /// Records an Invalid error for each message of a syntax check.
    pub fn invalid_each(&mut self, path: &Path, value: &str, messages: Vec<String>) {
        for message in messages {
            self.push(FieldError::invalid(path.as_str(), value, message));
        }
    }

    fn present<'a>(&mut self, parent: &'a Value, key: &str) -> Option<&'a Value> {
        parent.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&mut self, path: &Path, key: &str, value: &Value, go_type: &str) {
        self.push(FieldError::wrong_type(path.child(key).as_str(), value, go_type));
    }

    /// A string field; absent, null or mistyped reads as `None`.
    pub fn str<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Option<&'a str> {
        let value = self.present(parent, key)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.wrong(path, key, value, "string");
                None
            }
        }
    }

    /// A string field, `""` when absent.
    pub fn string<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> &'a str {
        self.str(parent, key, path).unwrap_or("")
    }

    /// An integer field of Go type `go_type` ("int32" or "int64").
    pub fn int(&mut self, parent: &Value, key: &str, path: &Path, go_type: &str) -> Option<i64> {
        let value = self.present(parent, key)?;
        let fits = |n: i64| go_type != "int32" || i32::try_from(n).is_ok();
        match value.as_i64() {
            Some(n) if fits(n) => Some(n),
            _ => {
                self.wrong(path, key, value, go_type);
                None
            }
        }
    }

    /// A boolean field.
    pub fn bool(&mut self, parent: &Value, key: &str, path: &Path) -> Option<bool> {
        let value = self.present(parent, key)?;
        match value.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong(path, key, value, "bool");
                None
            }
        }
    }

    /// An object field.
    pub fn obj<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Option<&'a Value> {
        let value = self.present(parent, key)?;
        if value.is_object() {
            Some(value)
        } else {
            self.wrong(path, key, value, "struct");
            None
        }
    }

    /// A list field; `None` when absent (Go's nil slice).
    pub fn arr_opt<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Option<&'a [Value]> {
        let value = self.present(parent, key)?;
        match value.as_array() {
            Some(items) => Some(items.as_slice()),
            None => {
                self.wrong(path, key, value, "slice");
                None
            }
        }
    }

    /// A list field, empty when absent.
    pub fn arr<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> &'a [Value] {
        self.arr_opt(parent, key, path).unwrap_or(&[])
    }

    /// The object items of a list field with their paths; non-objects are
    /// recorded as decode errors and skipped.
    pub fn items<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Vec<(Path, &'a Value)> {
        let list_path = path.child(key);
        let mut out = Vec::new();
        for (i, item) in self.arr(parent, key, path).iter().enumerate() {
            if item.is_object() {
                out.push((list_path.index(i), item));
            } else {
                self.push(FieldError::wrong_type(list_path.index(i).as_str(), item, "struct"));
            }
        }
        out
    }

    /// The strings of a list field; non-strings are recorded and skipped.
    pub fn strings<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Vec<&'a str> {
        let list_path = path.child(key);
        let mut out = Vec::new();
        for (i, item) in self.arr(parent, key, path).iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s),
                None => self.push(FieldError::wrong_type(list_path.index(i).as_str(), item, "string")),
            }
        }
        out
    }

    /// A map[string]string field, sorted by key; `None` when absent.
    pub fn str_map<'a>(&mut self, parent: &'a Value, key: &str, path: &Path) -> Option<Vec<(&'a str, &'a str)>> {
        let value = self.present(parent, key)?;
        let Some(map) = value.as_object() else {
            self.wrong(path, key, value, "map[string]string");
            return None;
        };
        Some(self.string_entries(map, &path.child(key)))
    }

    /// The entries of a JSON object read as map[string]string.
    pub fn string_entries<'a>(&mut self, map: &'a Map<String, Value>, path: &Path) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        for (k, v) in map {
            match v.as_str() {
                Some(s) => out.push((k.as_str(), s)),
                None => self.push(FieldError::wrong_type(path.key(k).as_str(), v, "string")),
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}
