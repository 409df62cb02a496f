//! A serde `Deserializer` over a [`Node`] tree, so the `k8s-openapi` type of the kind can read it.
//!
//! The target type's `deserialize_struct` hands over its JSON field names; message fields (Rust snake
//! case, e.g. `host_ipc`, `pod_i_ps`) are joined to them by comparing names lowercased without `_`.

use super::debug_tree::Node;
use super::fields;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A conversion failure reported by the target type.
#[derive(Debug)]
pub(super) struct DeError(pub(super) String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

fn normalize(name: &str) -> String {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Pairs message fields with the target's JSON field names, leaving out unset fields and the zero values
/// Go's JSON encoding omits. A message field the target does not know, holding a message, is a Go struct
/// embedded with `json:",inline"` (IngressRule.ingressRuleValue, Volume.volumeSource, Probe.handler): its
/// fields join the parent's. Other unknown fields are ignored.
fn struct_entries(
    parent: &str,
    entries: Vec<(String, Node)>,
    names: &'static [&'static str],
    out: &mut Vec<(Node, Node)>,
) {
    for (rust_name, node) in entries {
        let key = normalize(&rust_name);
        match (names.iter().find(|n| normalize(n) == key), node) {
            (Some(json), node) => {
                if !fields::omitted(parent, json, &node) {
                    out.push((Node::Str((*json).to_string()), node));
                }
            }
            (None, Node::Struct(inline, inner)) => struct_entries(&inline, inner, names, out),
            (None, _) => {}
        }
    }
}

struct Entries {
    iter: std::vec::IntoIter<(Node, Node)>,
    value: Option<Node>,
}

impl Entries {
    fn new(entries: Vec<(Node, Node)>) -> Self {
        Entries { iter: entries.into_iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        seed.deserialize(self.value.take().unwrap_or(Node::Null))
    }
}

struct Items(std::vec::IntoIter<Node>);

impl<'de> SeqAccess<'de> for Items {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }
}

fn json_err(e: serde_json::Error) -> DeError {
    DeError(e.to_string())
}

impl<'de> de::Deserializer<'de> for Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Int(i) => visitor.visit_i64(i),
            Node::UInt(u) => visitor.visit_u64(u),
            Node::Float(f) => visitor.visit_f64(f),
            Node::Str(s) => visitor.visit_string(s),
            Node::List(items) => visitor.visit_seq(Items(items.into_iter())),
            Node::Map(entries) => visitor.visit_map(Entries::new(entries)),
            Node::Struct(_, fields) => {
                visitor.visit_map(Entries::new(fields.into_iter().map(|(k, v)| (Node::Str(k), v)).collect()))
            }
            Node::Json(value) => value.deserialize_any(visitor).map_err(json_err),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self {
            Node::Null | Node::Json(serde_json::Value::Null) => visitor.visit_none(),
            Node::List(items) if items.is_empty() => visitor.visit_none(),
            Node::Map(entries) if entries.is_empty() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    /// A `bytes` field asked for as a string is base64, as in Kubernetes JSON.
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::List(items) => match super::special::bytes(&items) {
                Some(data) => {
                    visitor.visit_string(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data))
                }
                None => Err(DeError("expected bytes".into())),
            },
            Node::Null => visitor.visit_string(String::new()),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::List(items) => match super::special::bytes(&items) {
                Some(data) => visitor.visit_byte_buf(data),
                None => Err(DeError("expected bytes".into())),
            },
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::Json(value) => value.deserialize_newtype_struct(name, visitor).map_err(json_err),
            other => visitor.visit_newtype_struct(other),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self {
            Node::Struct(parent, entries) => {
                let mut out = Vec::with_capacity(entries.len());
                struct_entries(&parent, entries, names, &mut out);
                visitor.visit_map(Entries::new(out))
            }
            Node::Null => visitor.visit_map(Entries::new(Vec::new())),
            Node::Json(value) => value.deserialize_struct(name, names, visitor).map_err(json_err),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::Null => visitor.visit_map(Entries::new(Vec::new())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Node::Null => visitor.visit_seq(Items(Vec::new().into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self {
            Node::Str(s) => visitor.visit_enum(s.into_deserializer()),
            Node::Json(value) => value.deserialize_enum(name, variants, visitor).map_err(json_err),
            _ => Err(DeError(format!("expected a string for {name}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char unit unit_struct tuple tuple_struct
        identifier ignored_any
    }
}
