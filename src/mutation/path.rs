//! Gatekeeper's mutation location grammar: `spec.containers[name: foo].image`.
//!
//! A location is a chain of object fields, each optionally followed by one list selector
//! `[key: value]` or `[key: *]`. Field names and key values are bare identifiers
//! (`[A-Za-z0-9_-]`), quoted strings (`"a.b"` / `'a b'`, with `\` escaping the next
//! character) or, for key values, unsigned integers. Whitespace between tokens is ignored.
//! The grammar mirrors Gatekeeper's parser so that every location it accepts means the
//! same thing here and every location it rejects is rejected here too.

use std::fmt;

/// The value a list element's key field must have to be selected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyValue {
    /// A string key (`[name: foo]`, `[name: "foo.bar"]`).
    Str(String),
    /// An integer key (`[containerPort: 80]`), compared with JSON integers only.
    Int(i64),
}

impl KeyValue {
    /// Does a JSON value equal this key? Strings match strings, integers integers, as in
    /// Gatekeeper where `"80"` never selects the element whose key is `80`.
    pub fn matches(&self, v: &serde_json::Value) -> bool {
        match self {
            KeyValue::Str(s) => v.as_str() == Some(s.as_str()),
            KeyValue::Int(i) => v.is_i64() && v.as_i64() == Some(*i),
        }
    }

    /// The JSON form, used when a missing element is created with its key set.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            KeyValue::Str(s) => serde_json::Value::String(s.clone()),
            KeyValue::Int(i) => serde_json::Value::from(*i),
        }
    }
}

/// One step of a location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// A field of an object.
    Object(String),
    /// Elements of a list of objects chosen by a key field: one value, or all (`*`).
    List {
        /// The key field of the elements.
        key: String,
        /// The key value; `None` is the glob `*`.
        value: Option<KeyValue>,
    },
}

impl Node {
    /// True for a list selector.
    pub fn is_list(&self) -> bool {
        matches!(self, Node::List { .. })
    }

    /// True for the glob selector `[key: *]`.
    pub fn is_glob(&self) -> bool {
        matches!(self, Node::List { value: None, .. })
    }
}

/// A parsed location, kept with its nodes so walks need no re-parsing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Path {
    /// The steps, root first.
    pub nodes: Vec<Node>,
}

impl Path {
    /// Parse a location; the error says where and what was expected.
    ///
    /// # Errors
    /// A message for any input Gatekeeper's parser also rejects.
    pub fn parse(input: &str) -> Result<Path, String> {
        Parser::new(input)?.parse()
    }

    /// Is `self` a node-for-node prefix of `other` (pathTests must be)?
    pub fn is_prefix_of(&self, other: &Path) -> bool {
        self.nodes.len() <= other.nodes.len() && other.nodes.starts_with(&self.nodes)
    }

    /// True when the location starts at `metadata`, which only AssignMetadata may touch.
    pub fn has_metadata_root(&self) -> bool {
        matches!(self.nodes.first(), Some(Node::Object(r)) if r == "metadata")
    }
}

/// A name as the parser reads it back: bare when it is one identifier token, quoted
/// otherwise (any character the tokenizer would not take into an identifier, such as the
/// `/` of `example.com/owner`, or a leading digit, which would read as an integer).
fn quote(s: &str) -> String {
    let needs = s.is_empty()
        || !s.chars().all(is_ident_char)
        || s.starts_with(|c: char| c.is_ascii_digit());
    if !needs {
        return s.to_string();
    }
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Object(r) => f.write_str(&quote(r)),
            Node::List { key, value: None } => write!(f, "[{}: *]", quote(key)),
            Node::List {
                key,
                value: Some(KeyValue::Str(v)),
            } => write!(f, "[{}: {}]", quote(key), quote(v)),
            Node::List {
                key,
                value: Some(KeyValue::Int(v)),
            } => write!(f, "[{}: {v}]", quote(key)),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nodes.iter().enumerate() {
            if i > 0 && !n.is_list() {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(String),
    Dot,
    LBracket,
    RBracket,
    Glob,
    Colon,
    Eof,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "identifier {s:?}"),
            Token::Int(s) => write!(f, "integer {s}"),
            Token::Dot => f.write_str("'.'"),
            Token::LBracket => f.write_str("'['"),
            Token::RBracket => f.write_str("']'"),
            Token::Glob => f.write_str("'*'"),
            Token::Colon => f.write_str("':'"),
            Token::Eof => f.write_str("end of input"),
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Split the whole input into tokens up front; errors carry the byte position.
fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].1.is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Int(chars[start..i].iter().map(|(_, c)| c).collect()));
            continue;
        }
        if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i].1) {
                i += 1;
            }
            out.push(Token::Ident(
                chars[start..i].iter().map(|(_, c)| c).collect(),
            ));
            continue;
        }
        let tok = match c {
            '.' => Token::Dot,
            '[' => Token::LBracket,
            ']' => Token::RBracket,
            '*' => Token::Glob,
            ':' => Token::Colon,
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string at position {pos}")),
                        Some((_, q)) if *q == c => break,
                        Some((_, '\\')) => {
                            i += 1;
                            if let Some((_, e)) = chars.get(i) {
                                s.push(*e);
                            }
                        }
                        Some((_, o)) => s.push(*o),
                    }
                    i += 1;
                }
                Token::Ident(s)
            }
            other => return Err(format!("invalid character {other:?} at position {pos}")),
        };
        out.push(tok);
        i += 1;
    }
    out.push(Token::Eof);
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, String> {
        Ok(Parser {
            tokens: tokenize(input)?,
            pos: 0,
        })
    }

    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::Eof)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn parse(mut self) -> Result<Path, String> {
        let mut nodes = Vec::new();
        loop {
            match self.bump() {
                Token::Ident(name) => nodes.push(Node::Object(name)),
                Token::Eof if nodes.is_empty() => break,
                other => return Err(format!("expected field name, got {other}")),
            }
            if *self.peek() == Token::LBracket {
                self.bump();
                nodes.push(self.parse_list()?);
            }
            match self.bump() {
                Token::Dot => {
                    if *self.peek() == Token::Eof {
                        return Err("trailing '.' at end of location".to_string());
                    }
                }
                Token::Eof => break,
                other => return Err(format!("expected '.' or end of input, got {other}")),
            }
        }
        Ok(Path { nodes })
    }

    fn parse_list(&mut self) -> Result<Node, String> {
        let key = match self.bump() {
            Token::Ident(k) => k,
            other => return Err(format!("expected key field in list selector, got {other}")),
        };
        match self.bump() {
            Token::Colon => {}
            other => return Err(format!("expected ':' after key field {key:?}, got {other}")),
        }
        let value = match self.bump() {
            Token::Glob => None,
            Token::Ident(v) => Some(KeyValue::Str(v)),
            Token::Int(v) => Some(KeyValue::Int(v.parse::<i64>().map_err(|_| {
                format!("key value {v} for key {key:?} overflows a 64-bit integer")
            })?)),
            other => {
                return Err(format!(
                    "expected key value or '*' in list selector, got {other}"
                ))
            }
        };
        match self.bump() {
            Token::RBracket => Ok(Node::List { key, value }),
            other => Err(format!("expected ']' to close list selector, got {other}")),
        }
    }
}
