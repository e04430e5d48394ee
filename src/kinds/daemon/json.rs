//! # daemon.json: a strict reader and a byte-keeping editor
//!
//! dockerd reads `/etc/docker/daemon.json` with Go's `encoding/json`, which
//! is strict RFC 8259: no comments, no trailing commas. This parser is just
//! as strict and reports the first error with line, column and dockerd's
//! wording. For the top-level object it records where each member's key and
//! value are, so that edits are text edits: a value replaced, a member
//! removed with its comma and line, a member appended in the file's own
//! indentation and newline style. The file is never re-serialised.
//!
//! A UTF-8 byte-order mark is accepted and kept (dockerd ≥ 23 skips it).
//! UTF-16 with a BOM is decoded for reading only.

use std::fmt;
use std::ops::Range;

/// A JSON value (numbers keep their source text).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in file order (duplicates of nested objects kept as written).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The JSON type name, as in dockerd's unmarshal errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array's strings; `None` if it is not an array of strings.
    pub fn as_strings(&self) -> Option<Vec<&str>> {
        match self {
            Value::Array(items) => items.iter().map(Value::as_str).collect(),
            _ => None,
        }
    }

    /// Compact JSON text of the value (for messages and new members).
    pub fn to_json(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.clone(),
            Value::String(s) => quote(s),
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(Value::to_json).collect();
                format!("[{}]", inner.join(", "))
            }
            Value::Object(members) => {
                let inner: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), v.to_json()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }
}

/// A JSON string literal for `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How the file's bytes encode its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// UTF-8 starting with `EF BB BF`.
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    pub fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }

    fn prefix(self) -> &'static [u8] {
        match self {
            Encoding::Utf8 => b"",
            Encoding::Utf8Bom => b"\xef\xbb\xbf",
            Encoding::Utf16Le => b"\xff\xfe",
            Encoding::Utf16Be => b"\xfe\xff",
        }
    }
}

/// The first error in a file, 1-based line and column (in characters,
/// counted after a byte-order mark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// Whether dockerd itself reads the file despite this error: Go's
    /// encoding/json takes the last of duplicate keys and replaces invalid
    /// UTF-8 in strings. dockhard still does not edit such a file.
    pub fn dockerd_reads(&self) -> bool {
        self.message.starts_with("duplicate key") || self.message == "invalid UTF-8"
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// One member of the top-level object. Spans are byte offsets into
/// [`Document::text`].
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    /// The key's string literal, quotes included.
    pub key_span: Range<usize>,
    pub value_span: Range<usize>,
    pub value: Value,
    /// Line of the key (1-based).
    pub line: usize,
}

/// A parsed daemon.json whose top level is an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub encoding: Encoding,
    /// The text after the byte-order mark.
    pub text: String,
    /// Offset of the top-level `{` and `}`.
    pub open: usize,
    pub close: usize,
    pub members: Vec<Member>,
}

/// Text of a fresh daemon.json holding one member.
pub fn new_file(key: &str, value_json: &str) -> String {
    format!("{{\n  {}: {value_json}\n}}\n", quote(key))
}

impl Document {
    /// Parses the bytes of a daemon.json. Whitespace-only input is an
    /// error here; callers that want to tell it apart check first.
    pub fn parse(bytes: &[u8]) -> Result<Document, ParseError> {
        let (encoding, text) = decode(bytes)?;
        let mut parser = Parser {
            text: &text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        parser.skip_ws();
        let start = parser.pos;
        if parser.peek() != Some(b'{') {
            // Let the value parser produce the exact error first.
            parser.value()?;
            parser.skip_ws();
            if let Some(c) = parser.peek_char() {
                return Err(parser.error_here(format!(
                    "invalid character {} after top-level value",
                    quote_char(c)
                )));
            }
            let (line, column) = line_col(&text, start);
            return Err(ParseError {
                line,
                column,
                message: "the top-level value must be an object ({ … }); dockerd cannot read anything else"
                    .to_string(),
            });
        }
        let (members, close) = parser.top_object()?;
        parser.skip_ws();
        if let Some(c) = parser.peek_char() {
            return Err(parser.error_here(format!(
                "invalid character {} after top-level value",
                quote_char(c)
            )));
        }
        for (i, m) in members.iter().enumerate() {
            if let Some(first) = members[..i].iter().find(|o| o.key == m.key) {
                let (line, column) = line_col(&text, m.key_span.start);
                return Err(ParseError {
                    line,
                    column,
                    message: format!(
                        "duplicate key {} (first on line {}); which one counts is ambiguous, so dockhard does not edit this file",
                        quote(&m.key),
                        first.line
                    ),
                });
            }
        }
        Ok(Document {
            encoding,
            open: start,
            close,
            members,
            text,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    /// The file's bytes for `text` in this document's encoding. UTF-16 is
    /// never written: `None`.
    fn encode(&self, text: &str) -> Option<Vec<u8>> {
        if self.encoding.is_utf16() {
            return None;
        }
        let mut out = self.encoding.prefix().to_vec();
        out.extend_from_slice(text.as_bytes());
        Some(out)
    }

    /// The newline the file uses (`\r\n` if its first line break is one).
    pub fn newline(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if i > 0 && self.text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }

    /// Start of the line holding `offset`, if only spaces and tabs come
    /// before `offset` on that line.
    fn line_start_if_blank_before(&self, offset: usize) -> Option<usize> {
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        self.text[start..offset]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
            .then_some(start)
    }

    /// Sets `key` to the JSON text `value_json`: replaces the value if the
    /// key exists, otherwise appends a member. `None` for UTF-16 files.
    pub fn set(&self, key: &str, value_json: &str) -> Option<Vec<u8>> {
        if let Some(m) = self.get(key) {
            let mut text = String::with_capacity(self.text.len() + value_json.len());
            text.push_str(&self.text[..m.value_span.start]);
            text.push_str(value_json);
            text.push_str(&self.text[m.value_span.end..]);
            return self.encode(&text);
        }
        self.encode(&self.insert_text(key, value_json))
    }

    fn insert_text(&self, key: &str, value_json: &str) -> String {
        let nl = self.newline();
        let Some(last) = self.members.last() else {
            // Empty object: `{}` or `{ \n }` → one member on its own line.
            let mut text = String::new();
            text.push_str(&self.text[..=self.open]);
            text.push_str(nl);
            text.push_str("  ");
            text.push_str(&quote(key));
            text.push_str(": ");
            text.push_str(value_json);
            text.push_str(nl);
            text.push_str(&self.text[self.close..]);
            return text;
        };
        let separator = &self.text[last.key_span.end..last.value_span.start];
        let separator = if separator.contains('\n') { ": " } else { separator };
        let member = format!("{}{separator}{value_json}", quote(key));
        let mut text = String::new();
        text.push_str(&self.text[..last.value_span.end]);
        match self.line_start_if_blank_before(last.key_span.start) {
            Some(line_start) => {
                let indent = &self.text[line_start..last.key_span.start];
                text.push(',');
                text.push_str(nl);
                text.push_str(indent);
            }
            None => text.push_str(", "),
        }
        text.push_str(&member);
        text.push_str(&self.text[last.value_span.end..]);
        text
    }

    /// Removes the member `key` with its comma (and its line, when it has
    /// one to itself). `None` if absent or the file is UTF-16.
    pub fn remove(&self, key: &str) -> Option<Vec<u8>> {
        let index = self.members.iter().position(|m| m.key == key)?;
        let m = &self.members[index];
        let range = if let Some(next) = self.members.get(index + 1) {
            // Up to the next member's key (or its line).
            match (
                self.line_start_if_blank_before(m.key_span.start),
                self.line_start_if_blank_before(next.key_span.start),
            ) {
                (Some(a), Some(b)) => a..b,
                _ => m.key_span.start..next.key_span.start,
            }
        } else if index > 0 {
            // The last member: from the end of the previous value (where its
            // comma starts) to the end of this value.
            self.members[index - 1].value_span.end..m.value_span.end
        } else {
            // The only member: the object becomes `{}`.
            self.open + 1..self.close
        };
        let mut text = String::with_capacity(self.text.len());
        text.push_str(&self.text[..range.start]);
        text.push_str(&self.text[range.end..]);
        self.encode(&text)
    }
}

/// Splits off a byte-order mark and decodes to text.
fn decode(bytes: &[u8]) -> Result<(Encoding, String), ParseError> {
    let utf16 = |le: bool| -> Result<String, ParseError> {
        let body = &bytes[2..];
        if !body.len().is_multiple_of(2) {
            return Err(ParseError {
                line: 1,
                column: 1,
                message: "UTF-16 file with an odd number of bytes".to_string(),
            });
        }
        let units = body.chunks(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| ParseError {
                line: 1,
                column: 1,
                message: "invalid UTF-16 (unpaired surrogate)".to_string(),
            })
    };
    let (encoding, text) = if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        (Encoding::Utf8Bom, utf8(rest)?)
    } else if bytes.starts_with(b"\xff\xfe") {
        (Encoding::Utf16Le, utf16(true)?)
    } else if bytes.starts_with(b"\xfe\xff") {
        (Encoding::Utf16Be, utf16(false)?)
    } else {
        (Encoding::Utf8, utf8(bytes)?)
    };
    Ok((encoding, text))
}

fn utf8(bytes: &[u8]) -> Result<String, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let (line, column) = line_col(valid, valid.len());
            Err(ParseError {
                line,
                column,
                message: "invalid UTF-8".to_string(),
            })
        }
    }
}

/// Decodes a daemon.json's bytes to text (BOM skipped, UTF-16 decoded).
pub fn decode_text(bytes: &[u8]) -> Result<(Encoding, String), ParseError> {
    decode(bytes)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A character as Go's encoding/json quotes it in error messages.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        '\n' => "'\\n'".to_string(),
        '\r' => "'\\r'".to_string(),
        '\t' => "'\\t'".to_string(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

/// Go's encoding/json nests at most this deep.
const MAX_DEPTH: usize = 10000;

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error_here(&self, message: String) -> ParseError {
        let (line, column) = line_col(self.text, self.pos);
        ParseError {
            line,
            column,
            message,
        }
    }

    /// An error for the character at the cursor (or the end of input).
    fn unexpected(&self, context: &str) -> ParseError {
        match self.peek_char() {
            Some(c) => self.error_here(format!("invalid character {} {context}", quote_char(c))),
            None => self.error_here("unexpected end of JSON input".to_string()),
        }
    }

    fn top_object(&mut self) -> Result<(Vec<Member>, usize), ParseError> {
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            let close = self.pos;
            self.pos += 1;
            return Ok((members, close));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let value_start = self.pos;
            let value = self.value()?;
            let value_span = value_start..self.pos;
            members.push(Member {
                line: line_col(self.text, key_start).0,
                key,
                key_span,
                value_span,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    let close = self.pos;
                    self.pos += 1;
                    return Ok((members, close));
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            _ => Err(self.unexpected("looking for beginning of value")),
        }
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Value, ParseError>,
    ) -> Result<Value, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("exceeded max depth".to_string()));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            members.push((key, self.value()?));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("after array element")),
            }
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), ParseError> {
        for expected in word.bytes() {
            if self.peek() != Some(expected) {
                return Err(self.unexpected(&format!(
                    "in literal {word} (expecting {})",
                    quote_char(expected as char)
                )));
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("after decimal point in numeric literal"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("in exponent of numeric literal"));
            }
        }
        let text = &self.text[start..self.pos];
        // dockerd reads numbers into 64-bit floats: one too large for
        // them makes it refuse the file.
        if !text.parse::<f64>().is_ok_and(f64::is_finite) {
            let end = self.pos;
            self.pos = start;
            let err = self.error_here(format!(
                "number {text} is out of range (dockerd reads numbers as 64-bit floats)"
            ));
            self.pos = end;
            return Err(err);
        }
        Ok(text.to_string())
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.unexpected("in \\u hexadecimal character escape")),
            };
            n = n * 16 + u16::from(d);
            self.pos += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(self.unexpected(""));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.unexpected(""));
                    };
                    let simple = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return Err(self.unexpected("in string escape code")),
                    };
                    self.pos += 1;
                    if let Some(s) = simple {
                        out.push(s);
                        continue;
                    }
                    let first = self.hex4()?;
                    // Like Go: a lone or broken surrogate becomes U+FFFD.
                    if (0xd800..0xdc00).contains(&first) && self.bytes[self.pos..].starts_with(b"\\u") {
                        let save = self.pos;
                        self.pos += 2;
                        let second = self.hex4()?;
                        if (0xdc00..0xe000).contains(&second) {
                            let c =
                                0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(second) - 0xdc00);
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                        } else {
                            out.push('\u{fffd}');
                            self.pos = save;
                        }
                    } else {
                        out.push(char::from_u32(u32::from(first)).unwrap_or('\u{fffd}'));
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.unexpected("in string literal")),
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ParseError {
        Document::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn trailing_comma_in_array_is_3_38() {
        let text = "{\n  \"log-level\": \"warn\",\n  \"dns\": [\"192.0.2.53\", \"192.0.2.54\",],\n  \"no-new-privileges\": true,\n}\n";
        let e = err(text);
        assert_eq!((e.line, e.column), (3, 38));
        assert_eq!(e.message, "invalid character ']' looking for beginning of value");
    }

    #[test]
    fn trailing_comma_in_object_and_comments() {
        let e = err("{\n  \"a\": true,\n}\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(
            e.message,
            "invalid character '}' looking for beginning of object key string"
        );
        let e = err("{\n  // note\n  \"a\": 1\n}");
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(
            e.message,
            "invalid character '/' looking for beginning of object key string"
        );
        let e = err("{\"a\": 1 /* x */}");
        assert_eq!(e.message, "invalid character '/' after object key:value pair");
    }

    #[test]
    fn go_style_messages() {
        assert_eq!(err("{\"a\" 1}").message, "invalid character '1' after object key");
        assert_eq!(
            err("{\"a\": [1 2]}").message,
            "invalid character '2' after array element"
        );
        assert_eq!(
            err("{\"a\": tru}").message,
            "invalid character '}' in literal true (expecting 'e')"
        );
        assert_eq!(
            err("{\"a\": -}").message,
            "invalid character '}' in numeric literal"
        );
        assert_eq!(
            err("{\"a\": 1.}").message,
            "invalid character '}' after decimal point in numeric literal"
        );
        assert_eq!(
            err("{\"a\": 1e+}").message,
            "invalid character '}' in exponent of numeric literal"
        );
        assert_eq!(
            err("{\"a\": 01}").message,
            "invalid character '1' after object key:value pair"
        );
        assert_eq!(
            err("{\"a\": \"x\ny\"}").message,
            "invalid character '\\n' in string literal"
        );
        assert_eq!(
            err("{\"a\": \"\\x\"}").message,
            "invalid character 'x' in string escape code"
        );
        assert_eq!(
            err("{\"a\": \"\\u12g4\"}").message,
            "invalid character 'g' in \\u hexadecimal character escape"
        );
        assert_eq!(
            err("{\"a\": 'x'}").message,
            "invalid character '\\'' looking for beginning of value"
        );
        assert_eq!(
            err("{\"a\": 1} x").message,
            "invalid character 'x' after top-level value"
        );
        let e = err("{\"a\": [1,");
        assert_eq!(e.message, "unexpected end of JSON input");
        assert_eq!((e.line, e.column), (1, 10));
        assert!(err("[1]").message.contains("must be an object"));
        assert!(err("\"x\"").message.contains("must be an object"));
        assert_eq!(err("").message, "unexpected end of JSON input");
        // Column counts characters, not bytes.
        let e = err("{\"é\": x}");
        assert_eq!((e.line, e.column), (1, 7));
    }

    #[test]
    fn duplicate_top_level_keys_are_refused() {
        let e = err("{\n  \"icc\": true,\n  \"icc\": false\n}\n");
        assert_eq!((e.line, e.column), (3, 3));
        assert!(
            e.message.contains("duplicate key \"icc\" (first on line 2)"),
            "{e}"
        );
        // Nested duplicates are dockerd's business (last wins), not refused.
        Document::parse(b"{\"log-opts\": {\"a\": \"1\", \"a\": \"2\"}}").unwrap();
    }

    #[test]
    fn nested_values_escapes_unicode_numbers() {
        let text = r#"{"a": {"b": [1, -2.5e+3, 0, 1E9, null, true, false, {}, []]}, "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x", "ü": "ü"}"#;
        let doc = Document::parse(text.as_bytes()).unwrap();
        assert_eq!(doc.members.len(), 3);
        assert_eq!(
            doc.members[0].value,
            Value::Object(vec![(
                "b".to_string(),
                Value::Array(vec![
                    Value::Number("1".into()),
                    Value::Number("-2.5e+3".into()),
                    Value::Number("0".into()),
                    Value::Number("1E9".into()),
                    Value::Null,
                    Value::Bool(true),
                    Value::Bool(false),
                    Value::Object(vec![]),
                    Value::Array(vec![]),
                ])
            )])
        );
        assert_eq!(
            doc.members[1].value,
            Value::String("q\"\\/\u{8}\u{c}\n\r\té😀\u{fffd}x".to_string())
        );
        assert_eq!(doc.members[2].key, "ü");
        assert_eq!(&doc.text[doc.members[2].value_span.clone()], "\"ü\"");
        // Semantics agree with serde_json.
        // (serde_json refuses the lone surrogate that Go, and this parser, accept.)
        let theirs: serde_json::Value = serde_json::from_str(&text.replace("\\ud800x", "x")).unwrap();
        assert_eq!(theirs["a"]["b"][1], serde_json::json!(-2500.0));
        assert_eq!(theirs["s"].as_str().unwrap(), "q\"\\/\u{8}\u{c}\n\r\té😀x");
    }

    #[test]
    fn spans_and_lines() {
        let text = "{\n  \"a\": [1, 2],\n  \"b\" :  \"x\"\n}\n";
        let doc = Document::parse(text.as_bytes()).unwrap();
        let b = doc.get("b").unwrap();
        assert_eq!(&text[b.key_span.clone()], "\"b\"");
        assert_eq!(&text[b.value_span.clone()], "\"x\"");
        assert_eq!(b.line, 3);
        assert_eq!(&text[doc.open..=doc.open], "{");
        assert_eq!(&text[doc.close..=doc.close], "}");
    }

    #[test]
    fn bom_and_crlf_kept_on_replace() {
        let input = b"\xef\xbb\xbf{\r\n  \"icc\": true,\r\n  \"live-restore\": true\r\n}\r\n";
        let doc = Document::parse(input).unwrap();
        assert_eq!(doc.encoding, Encoding::Utf8Bom);
        assert_eq!(doc.newline(), "\r\n");
        let out = doc.set("icc", "false").unwrap();
        assert_eq!(
            out,
            b"\xef\xbb\xbf{\r\n  \"icc\": false,\r\n  \"live-restore\": true\r\n}\r\n"
        );
        let out = Document::parse(&out).unwrap().set("x", "1").unwrap();
        assert_eq!(
            out,
            b"\xef\xbb\xbf{\r\n  \"icc\": false,\r\n  \"live-restore\": true,\r\n  \"x\": 1\r\n}\r\n"
        );
    }

    #[test]
    fn utf16_is_decoded_and_never_written() {
        let text = "{\r\n  \"icc\": true\r\n}\r\n";
        let mut le = vec![0xff, 0xfe];
        let mut be = vec![0xfe, 0xff];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
        }
        for (bytes, enc) in [(le, Encoding::Utf16Le), (be, Encoding::Utf16Be)] {
            let doc = Document::parse(&bytes).unwrap();
            assert_eq!(doc.encoding, enc);
            assert_eq!(doc.get("icc").unwrap().value, Value::Bool(true));
            assert_eq!(doc.set("icc", "false"), None);
            assert_eq!(doc.remove("icc"), None);
        }
        assert!(Document::parse(&[0xff, 0xfe, 0x7b]).is_err());
    }

    #[test]
    fn insert_follows_indentation() {
        let tabs = "{\n\t\"a\": {\n\t\t\"x\": false\n\t},\n\t\"b\": true\n}\n";
        let out = Document::parse(tabs.as_bytes()).unwrap().set("c", "1").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"a\": {\n\t\t\"x\": false\n\t},\n\t\"b\": true,\n\t\"c\": 1\n}\n"
        );
        let inline = "{\"a\":1}";
        let out = Document::parse(inline.as_bytes()).unwrap().set("b", "2").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"a\":1, \"b\":2}");
        for empty in ["{}", "{}\n", "{ \n }\n"] {
            let out = Document::parse(empty.as_bytes())
                .unwrap()
                .set("icc", "false")
                .unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.starts_with("{\n  \"icc\": false\n"), "{out:?}");
            Document::parse(out.as_bytes()).unwrap();
        }
        assert_eq!(new_file("icc", "false"), "{\n  \"icc\": false\n}\n");
    }

    #[test]
    fn remove_keeps_the_rest() {
        let text = "{\n  \"a\": 1,\n  \"b\": [\"x\"],\n  \"c\": 3\n}\n";
        let doc = Document::parse(text.as_bytes()).unwrap();
        let s = |v: Option<Vec<u8>>| String::from_utf8(v.unwrap()).unwrap();
        assert_eq!(s(doc.remove("a")), "{\n  \"b\": [\"x\"],\n  \"c\": 3\n}\n");
        assert_eq!(s(doc.remove("b")), "{\n  \"a\": 1,\n  \"c\": 3\n}\n");
        assert_eq!(s(doc.remove("c")), "{\n  \"a\": 1,\n  \"b\": [\"x\"]\n}\n");
        assert_eq!(doc.remove("z"), None);
        let one = Document::parse(b"{\n  \"a\": 1\n}\n").unwrap();
        assert_eq!(s(one.remove("a")), "{}\n");
        let inline = Document::parse(b"{\"a\": 1, \"b\": 2}").unwrap();
        assert_eq!(s(inline.remove("a")), "{\"b\": 2}");
        assert_eq!(s(inline.remove("b")), "{\"a\": 1}");
        let crlf = Document::parse(b"{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}\r\n").unwrap();
        assert_eq!(s(crlf.remove("a")), "{\r\n  \"b\": 2\r\n}\r\n");
        assert_eq!(s(crlf.remove("b")), "{\r\n  \"a\": 1\r\n}\r\n");
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(Value::Array(vec![Value::String("x".into())]).to_json(), "[\"x\"]");
    }
}
