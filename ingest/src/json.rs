//! A strict JSON reader for untrusted input.
//!
//! `serde_json::Value` silently keeps the last of two equal keys and has no
//! depth limit of its own; the specs want duplicates rejected, and a public
//! endpoint wants deeply nested or huge documents refused with their own
//! error codes. This reader builds a borrowed tree (strings without escapes
//! point into the input, no copy), keeps object members in order, rejects
//! duplicate keys, and stops at a configurable depth.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value borrowing from the input where it can.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, with whether it was written as an integer.
    Num(f64, bool),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, members in input order, keys unique.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n, _) => Some(*n),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    /// JSON type name for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(..) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Compact JSON text of this value (used to keep extensions verbatim).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n, true) if n.abs() < 9.0e15 => out.push_str(&(*n as i64).to_string()),
            Json::Num(n, _) => out.push_str(
                &serde_json::Number::from_f64(*n).map_or("null".into(), |x| x.to_string()),
            ),
            Json::Str(s) => out.push_str(&serde_json::to_string(s.as_ref()).unwrap_or_default()),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k.as_ref()).unwrap_or_default());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Why input is not acceptable JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON, or not UTF-8; the message has line and column.
    Syntax(String),
    /// Nesting deeper than the limit.
    TooDeep(usize),
    /// An object with the same key twice.
    DuplicateKey(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(m) => write!(f, "not valid JSON: {m}"),
            JsonError::TooDeep(d) => write!(f, "nested deeper than {d} levels"),
            JsonError::DuplicateKey(k) => write!(f, "property `{k}` appears twice in one object"),
        }
    }
}

const DEPTH_MARK: &str = "\u{0}depth";
const DUP_MARK: &str = "\u{0}dup:";

/// Parses `input` with at most `max_depth` levels of nesting. The input is
/// checked to be UTF-8 once, as a whole, so the parser need not check each
/// string again (per-string checks were 8% of an xAPI statement's
/// instructions).
pub fn parse(input: &[u8], max_depth: usize) -> Result<Json<'_>, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        JsonError::Syntax(format!(
            "not UTF-8: invalid byte at offset {}; JSON text must be UTF-8 (RFC 8259 §8.1)",
            e.valid_up_to()
        ))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: max_depth }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| classify(e, max_depth))?;
    Ok(value)
}

fn classify(e: serde_json::Error, max_depth: usize) -> JsonError {
    let msg = e.to_string();
    if msg.starts_with(DEPTH_MARK) || msg.starts_with("recursion limit exceeded") {
        JsonError::TooDeep(max_depth)
    } else if let Some(rest) = msg.strip_prefix(DUP_MARK) {
        let key = rest.split(DEPTH_MARK).next().unwrap_or(rest);
        JsonError::DuplicateKey(key.split(" at line").next().unwrap_or(key).to_string())
    } else {
        JsonError::Syntax(msg)
    }
}

struct Seed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Json<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(JsonVisitor { depth: self.depth })
    }
}

struct JsonVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Num(v as f64, true))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Num(v as f64, true))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Num(v, false))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom(DEPTH_MARK));
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(Seed {
            depth: self.depth - 1,
        })? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom(DEPTH_MARK));
        }
        // Most objects in a statement have a handful of members: room for
        // eight at once saves the reallocations of growing from empty.
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::with_capacity(8);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value_seed(Seed {
                depth: self.depth - 1,
            })?;
            let duplicate = if members.len() < 24 {
                members.iter().any(|(k, _)| *k == key)
            } else {
                members
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<std::collections::HashSet<_>>()
                    .contains(&key)
            };
            if duplicate {
                return Err(de::Error::custom(format!("{DUP_MARK}{key}")));
            }
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// Splits a message holding one JSON value or an array of them into the
/// original bytes of each element, without building trees. Lets one bad
/// element of a batch be dead-lettered with exactly its own bytes.
pub fn split_top_level(input: &[u8]) -> Result<Vec<&[u8]>, JsonError> {
    let first = input.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Ok(vec![input]);
    }
    let raw: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(input).map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(raw.into_iter().map(|r| r.get().as_bytes()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_strings_without_escapes() {
        let v = parse(br#"{"a":"plain","b":"esc\"aped","n":1.5,"i":3}"#, 8).unwrap();
        assert!(matches!(
            v.get("a"),
            Some(Json::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(v.get("b"), Some(Json::Str(Cow::Owned(_)))));
        assert_eq!(v.get("n"), Some(&Json::Num(1.5, false)));
        assert_eq!(v.get("i"), Some(&Json::Num(3.0, true)));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse(br#"{"id":"a","verb":{},"id":"b"}"#, 8).unwrap_err();
        assert_eq!(err, JsonError::DuplicateKey("id".into()));
    }

    #[test]
    fn depth_is_limited() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            parse(deep.as_bytes(), 32).unwrap_err(),
            JsonError::TooDeep(32)
        );
        assert!(parse(deep.as_bytes(), 64).is_ok());
        let very = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse(very.as_bytes(), 64).unwrap_err(),
            JsonError::TooDeep(64)
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse(b"{\"a\": }", 8).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(matches!(parse(b"{} x", 8), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn input_that_is_not_utf8_is_refused_with_its_offset() {
        let err = parse(b"{\"a\":\"\xff\"}", 8).unwrap_err();
        assert!(
            err.to_string()
                .contains("not UTF-8: invalid byte at offset 6"),
            "{err}"
        );
    }

    #[test]
    fn arrays_split_into_original_bytes() {
        let parts = split_top_level(b" [ {\"a\": 1} , {\"b\" :[2]} ]").unwrap();
        assert_eq!(parts, vec![&b"{\"a\": 1}"[..], &b"{\"b\" :[2]}"[..]]);
        assert_eq!(split_top_level(b"{\"a\":1}").unwrap().len(), 1);
    }

    #[test]
    fn text_round_trips() {
        let src = br#"{"k":[1,2.5,"x\ny",null,true,{"z":{}}]}"#;
        let v = parse(src, 8).unwrap();
        assert_eq!(parse(v.to_text().as_bytes(), 8).unwrap(), v);
    }
}
