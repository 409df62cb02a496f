//! Reads the `Debug` rendering of a decoded prost message back into a value tree.
//!
//! prost messages carry no runtime reflection, but their derived `Debug` prints every field by name in a
//! regular shape (`Name { field: Some(..), list: [..], map: {..} }`). Parsing that text gives a generic
//! tree that `super::de` then deserializes into the matching `k8s-openapi` type. Kubernetes' special
//! wire types (Time, IntOrString, Quantity, RawExtension, ...) are turned into their JSON forms here.

use super::ProtobufError;
use serde_json::Value;

/// Deepest nesting accepted; prost itself stops decoding at 100 nested messages.
const MAX_DEPTH: usize = 512;

/// One value of a decoded message.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// An absent optional field (`None`).
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// A repeated field or a `bytes` field (a list of small integers).
    List(Vec<Node>),
    /// A map field.
    Map(Vec<(Node, Node)>),
    /// A message: its Rust type name and its fields by Rust field name.
    Struct(String, Vec<(String, Node)>),
    /// An already-converted JSON value (RawExtension, FieldsV1).
    Json(Value),
}

/// Parses `format!("{:?}", message)` of a prost message into a [`Node`] tree.
pub(super) fn parse(text: &str) -> Result<Node, ProtobufError> {
    let mut parser = Parser { text, pos: 0 };
    let node = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("trailing text"));
    }
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ProtobufError {
        ProtobufError::Internal(format!("unreadable message rendering at offset {}: {what}", self.pos))
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn expect(&mut self, want: char) -> Result<(), ProtobufError> {
        self.skip_ws();
        if self.bump() == Some(want) { Ok(()) } else { Err(self.error(&format!("expected '{want}'"))) }
    }

    /// Consumes `c` if it is the next non-space character.
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some('"') => self.string().map(Node::Str),
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value(depth + 1)?);
                    if !self.eat(',') {
                        self.expect(']')?;
                        break;
                    }
                }
                Ok(Node::List(items))
            }
            Some('{') => {
                self.bump();
                let mut entries = Vec::new();
                while !self.eat('}') {
                    let key = self.value(depth + 1)?;
                    self.expect(':')?;
                    entries.push((key, self.value(depth + 1)?));
                    if !self.eat(',') {
                        self.expect('}')?;
                        break;
                    }
                }
                Ok(Node::Map(entries))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => self.word(depth),
            _ => Err(self.error("expected a value")),
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '#') {
            self.bump();
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn word(&mut self, depth: usize) -> Result<Node, ProtobufError> {
        let word = self.ident().to_string();
        match word.as_str() {
            "None" => return Ok(Node::Null),
            "true" => return Ok(Node::Bool(true)),
            "false" => return Ok(Node::Bool(false)),
            "NaN" => return Ok(Node::Float(f64::NAN)),
            "inf" => return Ok(Node::Float(f64::INFINITY)),
            _ => {}
        }
        if self.eat('(') {
            let inner = self.value(depth + 1)?;
            self.expect(')')?;
            return Ok(inner); // `Some(x)` and single-field tuple structs
        }
        let mut fields = Vec::new();
        if self.eat('{') {
            while !self.eat('}') {
                self.skip_ws();
                let name = self.ident().trim_start_matches("r#").to_string();
                if name.is_empty() {
                    return Err(self.error("expected a field name"));
                }
                self.expect(':')?;
                fields.push((name, self.value(depth + 1)?));
                if !self.eat(',') {
                    self.expect('}')?;
                    break;
                }
            }
        }
        super::special::convert(&word, fields)
    }

    fn number(&mut self) -> Result<Node, ProtobufError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
            if self.rest().starts_with("inf") {
                self.pos += 3;
                return Ok(Node::Float(f64::NEG_INFINITY));
            }
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')) {
            self.bump();
        }
        let text = self.text.get(start..self.pos).unwrap_or("");
        if text.contains(['.', 'e', 'E']) {
            return text.parse().map(Node::Float).map_err(|_| self.error("bad float"));
        }
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        text.parse().map(Node::UInt).map_err(|_| self.error("bad integer"))
    }

    fn string(&mut self) -> Result<String, ProtobufError> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let c = match self.bump() {
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('0') => '\0',
                        Some('u') => self.unicode_escape()?,
                        Some(c @ ('\\' | '"' | '\'')) => c,
                        _ => return Err(self.error("bad escape")),
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, ProtobufError> {
        self.expect('{')?;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.bump();
        }
        let hex = self.text.get(start..self.pos).unwrap_or("");
        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or_else(|| self.error("bad \\u"))?;
        self.expect('}')?;
        Ok(c)
    }
}

/// Removes `status` fields whose message holds nothing but unset or empty values. Used for a second try
/// when the target type cannot hold such a status (TokenRequestStatus needs an expirationTimestamp, which
/// a client's request leaves as Go's zero time).
pub(super) fn without_empty_status(node: Node) -> Node {
    match node {
        Node::Struct(name, fields) => Node::Struct(
            name,
            fields
                .into_iter()
                .map(|(field, value)| match value {
                    Node::Struct(_, ref inner) if field == "status" && inner.iter().all(|(_, v)| is_empty(v)) => {
                        (field, Node::Null)
                    }
                    other => (field, without_empty_status(other)),
                })
                .collect(),
        ),
        other => other,
    }
}

fn is_empty(node: &Node) -> bool {
    match node {
        Node::Null | Node::Bool(false) | Node::Int(0) | Node::UInt(0) | Node::Json(Value::Null) => true,
        Node::Str(s) => s.is_empty(),
        Node::List(items) => items.is_empty(),
        Node::Map(entries) => entries.is_empty(),
        _ => false,
    }
}
