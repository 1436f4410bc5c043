//! A strict JSON reader for untrusted input.
//!
//! `serde_json::Value` silently keeps the last of two equal keys and has no
//! depth limit of its own; the specs want duplicates rejected, and a public
//! endpoint wants deeply nested or huge documents refused with their own
//! error codes. This reader builds a borrowed tree (strings without escapes
//! point into the input, no copy), keeps object members in order, rejects
//! duplicate keys, and stops at a configurable depth.
//!
//! The tree lives in an [`Arena`] the caller owns for as long as it reads
//! the tree: its arrays and objects are slices allocated there in one or
//! two blocks, and dropping the arena frees them at once. With a `Vec` per
//! array and object, the ~15 allocations of a statement's tree, their
//! reallocations and the walk that freed them were a tenth of ingest's
//! instructions.

use std::collections::HashSet;
use std::fmt;
use std::io::Write as _;

use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;
use xxhash_rust::xxh3::xxh3_64;

/// A parsed JSON value: strings borrow from the input (or, when they had
/// escapes, from the arena), arrays and objects are slices in the arena.
/// `Copy`, so a value can be handed on without cloning anything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, with whether it was written as an integer.
    Num(f64, bool),
    /// A string.
    Str(&'a str),
    /// An array.
    Array(&'a [Json<'a>]),
    /// An object, members in input order, keys unique.
    Object(&'a [Member<'a>]),
}

/// One member of an object: its name and value.
pub type Member<'a> = (&'a str, Json<'a>);

/// Where a parsed tree is kept: one growing block of memory, freed as a
/// whole when the arena is dropped (nothing in a tree needs dropping).
pub struct Arena(Bump);

impl Arena {
    /// An arena with room for the tree of an input of `len` bytes and the
    /// parser's scratch stacks. A tree takes 40 bytes per object member and
    /// 24 per array element: the benchmark's 1,235-byte statement 1,992
    /// bytes. Starting at twice the text saves growing it step by step; an
    /// input that needs more (many short values) grows it.
    pub fn for_input(len: usize) -> Self {
        Arena(Bump::with_capacity(
            len.saturating_mul(2).saturating_add(256 + SCRATCH_BYTES),
        ))
    }
}

impl<'a> Json<'a> {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        match self {
            Json::Object(members) => members
                .iter()
                .find(|(k, _)| same_key(k, key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&'a str> {
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
    pub fn as_object(&self) -> Option<&'a [Member<'a>]> {
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
        let mut out = Vec::new();
        self.write(&mut out);
        text(out)
    }

    /// Writes the value's compact text to `out`. Strings and numbers are
    /// written in place (serde_json's escaping and float format, without
    /// the String each `to_string` allocated).
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Num(n, true) if n.abs() < 9.0e15 => {
                let _ = write!(out, "{}", *n as i64);
            }
            Json::Num(n, _) => match serde_json::Number::from_f64(*n) {
                Some(x) => {
                    let _ = write!(out, "{x}");
                }
                None => out.extend_from_slice(b"null"),
            },
            Json::Str(s) => write_string(out, s),
            Json::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            Json::Object(members) => write_object(out, members.iter().map(|(k, v)| (*k, v))),
        }
    }
}

/// Compact JSON text of an object with these members, written from the
/// borrowed values (an event's extensions are gathered from several places
/// of a statement without copying them first).
pub fn object_text<'v, 'a: 'v>(
    members: impl IntoIterator<Item = (&'v str, &'v Json<'a>)>,
) -> String {
    // Room for a typical event's extensions: growing from empty took five
    // reallocations.
    let mut out = Vec::with_capacity(256);
    write_object(&mut out, members);
    text(out)
}

fn write_object<'v, 'a: 'v>(
    out: &mut Vec<u8>,
    members: impl IntoIterator<Item = (&'v str, &'v Json<'a>)>,
) {
    out.push(b'{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        v.write(out);
    }
    out.push(b'}');
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if plain_run_end(bytes, 0) == bytes.len() {
        // Nothing to escape (nearly every key and value): copied as is,
        // eight bytes checked per step.
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        // Writing a str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The written bytes as a String: only whole strings and ASCII were
/// written, so they are UTF-8 (checked all the same, without a panic).
fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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

/// Parses `input` with at most `max_depth` levels of nesting (callers bound
/// it: `ingest.max_depth` is validated to 2..=128, so the recursion stays
/// shallow) into a tree kept in `arena`. The input is checked to be UTF-8
/// once, as a whole, so strings need no check of their own. Strings and
/// keys without escapes borrow from the input: a statement's ~40 keys and
/// ~30 strings cost no allocation.
pub fn parse<'a>(
    input: &'a [u8],
    max_depth: usize,
    arena: &'a Arena,
) -> Result<Json<'a>, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        JsonError::Syntax(format!(
            "not UTF-8: invalid byte at offset {}; JSON text must be UTF-8 (RFC 8259 §8.1)",
            e.valid_up_to()
        ))
    })?;
    let mut p = Parser {
        text,
        bytes: input,
        pos: 0,
        max_depth,
        arena: &arena.0,
        items: BumpVec::with_capacity_in(SCRATCH_ITEMS, &arena.0),
        members: BumpVec::with_capacity_in(SCRATCH_MEMBERS, &arena.0),
        unescaped: String::new(),
        error: None,
    };
    let value = p.value(max_depth);
    if value.is_some() {
        p.skip_ws();
        if p.pos < p.bytes.len() {
            p.fail::<()>("trailing characters after the JSON value");
        }
    }
    match (value, p.error) {
        (Some(v), None) => Ok(v),
        (_, Some(e)) => Err(e),
        // Every path that gives no value records why first.
        (None, None) => Err(JsonError::Syntax("unreadable JSON".into())),
    }
}

/// Room on the parser's scratch stacks for what a statement's tree holds
/// open at once: the top-level members and those of the object being read.
const SCRATCH_ITEMS: usize = 8;
const SCRATCH_MEMBERS: usize = 32;
const SCRATCH_BYTES: usize = SCRATCH_ITEMS * std::mem::size_of::<Json<'static>>()
    + SCRATCH_MEMBERS * std::mem::size_of::<Member<'static>>();

/// Repeated in every byte of a word.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The index of the first byte at or after `from` that ends a run of plain
/// string content: a quote, a backslash, a control character, or the end.
/// Looks at eight bytes per step: for each word, a byte's high bit is set
/// in `special` when the byte is one of those (the lowest such flag is
/// exact, so its position is the answer). This is the parser's hottest
/// loop: a statement is mostly string bytes.
fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    const LOW: u64 = splat(0x01);
    const HIGH: u64 = splat(0x80);
    let rest = &bytes[from..];
    let mut words = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in &mut words {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let zero_in = |v: u64| v.wrapping_sub(LOW) & !v;
        let special = (zero_in(w ^ splat(b'"'))
            | zero_in(w ^ splat(b'\\'))
            | (w.wrapping_sub(splat(0x20)) & !w))
            & HIGH;
        if special != 0 {
            return offset + (special.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = words.remainder();
    offset
        + tail
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(tail.len())
}

/// A recursive-descent reader of RFC 8259 JSON over validated UTF-8.
///
/// The elements of the arrays and the members of the objects being read
/// wait on two stacks; when one closes, its elements are copied into the
/// arena as one slice and taken off the stack. The first error is kept in
/// `error`; the functions give `None` once there is one.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
    arena: &'a Bump,
    /// Elements of the open arrays, innermost last. In the arena, like the
    /// members' stack: two allocations less per message than `Vec`s.
    items: BumpVec<'a, Json<'a>>,
    /// Members of the open objects, innermost last.
    members: BumpVec<'a, Member<'a>>,
    /// The decoded text of the current string when it has escapes.
    unescaped: String,
    error: Option<JsonError>,
}

impl<'a> Parser<'a> {
    /// Records a syntax error at the current position, with line and column
    /// (1-based, columns in bytes) so a client can find it in what it sent.
    /// Gives `None` for the caller to return.
    #[cold]
    fn fail<T>(&mut self, what: &str) -> Option<T> {
        let upto = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = upto.len() - upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        self.error = Some(JsonError::Syntax(format!(
            "{what} at line {line} column {column}"
        )));
        None
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after any whitespace. The byte at `pos` is looked at
    /// first: in the compact JSON most senders write it is the answer, and
    /// the parser peeks some four times per member.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        match self.bytes.get(self.pos) {
            Some(&b) if b > b' ' => Some(b),
            _ => {
                self.skip_ws();
                self.bytes.get(self.pos).copied()
            }
        }
    }

    /// One value; `depth` is how many more levels of arrays/objects may
    /// open.
    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => self.fail("expected a value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    fn literal(&mut self, word: &str, v: Json<'a>) -> Option<Json<'a>> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            return self.fail("expected a value");
        }
        self.pos += word.len();
        Some(v)
    }

    /// After an element: `,` (`Some(true)`, another follows) or the closing
    /// byte (`Some(false)`); `None` on an error. Inlined, as is
    /// [`Parser::string`]: as calls, their register saves and constants
    /// cost about 35 instructions each for some 120 of work (inlining
    /// them saved 4 % of a statement's instructions).
    #[inline(always)]
    fn separator(&mut self, close: u8, what: &str) -> Option<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Some(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Some(false)
            }
            Some(_) => self.fail(&format!("expected `,` or `{}` {what}", close as char)),
            None => self.fail(&format!("EOF while parsing {what}")),
        }
    }

    /// Enters an array or object: `Some(true)` when it is empty (and closed).
    fn open(&mut self, depth: usize, close: u8) -> Option<bool> {
        if depth == 0 {
            self.error = Some(JsonError::TooDeep(self.max_depth));
            return None;
        }
        self.pos += 1;
        let empty = self.peek() == Some(close);
        if empty {
            self.pos += 1;
        }
        Some(empty)
    }

    fn array(&mut self, depth: usize) -> Option<Json<'a>> {
        let mut more = !self.open(depth, b']')?;
        let base = self.items.len();
        while more {
            let v = self.value(depth - 1)?;
            self.items.push(v);
            more = self.separator(b']', "in an array")?;
        }
        let items = &*self.arena.alloc_slice_copy(&self.items[base..]);
        self.items.truncate(base);
        Some(Json::Array(items))
    }

    fn object(&mut self, depth: usize) -> Option<Json<'a>> {
        let mut more = !self.open(depth, b'}')?;
        let base = self.members.len();
        let mut index = KeyIndex::default();
        while more {
            if self.peek() != Some(b'"') {
                return self.fail("expected a string key in an object");
            }
            let key = self.string()?;
            if index.is_duplicate(&self.members[base..], key) {
                self.error = Some(JsonError::DuplicateKey(key.to_owned()));
                return None;
            }
            if self.peek() != Some(b':') {
                return self.fail("expected `:` after an object key");
            }
            self.pos += 1;
            // String values (most members') read here, without a call.
            let v = if self.peek() == Some(b'"') {
                Json::Str(self.string()?)
            } else {
                self.value(depth - 1)?
            };
            self.members.push((key, v));
            more = self.separator(b'}', "in an object")?;
        }
        let members = &*self.arena.alloc_slice_copy(&self.members[base..]);
        self.members.truncate(base);
        Some(Json::Object(members))
    }

    /// Reads a string starting at its opening quote: borrowed from the
    /// input, or, when it has escapes, decoded into the arena.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        self.pos = start;
        let mut run = start;
        let mut escaped = false;
        loop {
            self.pos = plain_run_end(self.bytes, self.pos);
            let Some(&b) = self.bytes.get(self.pos) else {
                return self.fail("EOF while parsing a string");
            };
            match b {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    if !escaped {
                        return Some(self.between_quotes(start, end));
                    }
                    self.unescaped.push_str(&self.text[run..end]);
                    let arena: &'a Bump = self.arena;
                    return Some(arena.alloc_str(&self.unescaped));
                }
                b'\\' => {
                    if !escaped {
                        self.unescaped.clear();
                        escaped = true;
                    }
                    self.unescaped.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    let c = self.escape()?;
                    self.unescaped.push(c);
                    run = self.pos;
                }
                // Only these end a plain run.
                _ => return self.fail("control character in a string"),
            }
        }
    }

    /// The text from `start` (just after an opening quote) to `end` (at the
    /// closing quote), without `str` slicing's checks that both ends are
    /// character boundaries: for a statement's ~130 strings and keys those
    /// checks took about 570 instructions (1.3 % of its total).
    #[inline(always)]
    fn between_quotes(&self, start: usize, end: usize) -> &'a str {
        let inner = &self.bytes[start..end];
        debug_assert!(self.bytes[start - 1] == b'"' && self.bytes[end] == b'"');
        // SAFETY: `bytes` is `text`, which `parse` checked to be UTF-8 as a
        // whole. Both ends sit next to a `"`, an ASCII byte, and a UTF-8
        // character never contains an ASCII byte, so neither end falls
        // inside a character: `inner` is whole characters.
        unsafe { std::str::from_utf8_unchecked(inner) }
    }

    /// The character of an escape; `pos` is just past the backslash.
    fn escape(&mut self) -> Option<char> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return self.fail("EOF while parsing a string");
        };
        self.pos += 1;
        Some(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return self.fail("lone leading surrogate in a \\u escape");
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return self.fail("invalid trailing surrogate in a \\u escape");
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return self.fail("lone trailing surrogate in a \\u escape");
                    }
                    _ => unit,
                };
                // Surrogates are handled above, so every code is a char.
                char::from_u32(code)?
            }
            _ => {
                self.pos -= 1;
                return self.fail("invalid escape");
            }
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        if digits.is_none() {
            self.fail::<()>("invalid \\u escape: four hex digits expected");
        }
        self.pos += 4;
        digits
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number per RFC 8259 §6. Integers that fit 64 bits are flagged as
    /// written as integers; anything else is read as the nearest f64.
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.pos;
        let negative = self.bytes[start] == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.bytes[int_start] == b'0') {
            return self.fail("invalid number");
        }
        let mut integral = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            integral = false;
            if self.digits() == 0 {
                return self.fail("invalid number: digits expected after `.`");
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            integral = false;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("invalid number: digits expected in the exponent");
            }
        }
        if integral && let Ok(u) = self.text[int_start..self.pos].parse::<u64>() {
            return Some(match (negative, u) {
                (false, _) => Json::Num(u as f64, true),
                (true, 0) => Json::Num(-0.0, false),
                (true, u) if u <= 1 << 63 => Json::Num(-(u as f64), true),
                (true, u) => Json::Num(-(u as f64), false),
            });
        }
        match self.text[start..self.pos].parse::<f64>() {
            Ok(n) if n.is_finite() => Some(Json::Num(n, false)),
            _ => self.fail("number out of range"),
        }
    }
}

/// Whether two property names are equal, compared inline: names are short,
/// and `==` on strings calls `memcmp`, whose call cost was 7% of an xAPI
/// statement's time (every member's name is compared with a list of
/// allowed names and looked up by the validators).
///
/// Names of 4 to 16 bytes (nearly all) are compared by their [`ends`]
/// instead of byte by byte: the checks compare some 200 names per
/// statement.
#[inline]
pub fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=16 => ends(a) == ends(b),
        _ => a[..8] == b[..8] && a == b,
    }
}

/// The first and the last 4 bytes (for 4 to 8 bytes) or 8 bytes (for 9 to
/// 16) of `s` as two overlapping words: together with the length they are
/// all of `s`. Property names are compared ([`same_key`]) and hashed (the
/// xAPI fingerprint) this way, in a few instructions without a loop.
#[inline(always)]
pub(crate) fn ends(s: &[u8]) -> Option<(u64, u64)> {
    let n = s.len();
    let half = |at: usize| {
        s.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(|w| u64::from(u32::from_le_bytes(w)))
    };
    let word = |at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_le_bytes)
    };
    match n {
        4..=8 => Some((half(0)?, half(n - 4)?)),
        9..=16 => Some((word(0)?, word(n - 8)?)),
        _ => None,
    }
}

/// Finds repeated keys in one object: a scan over the few members most
/// objects have, and beyond that a set of key hashes kept as members are
/// added, so the check stays linear in the object's size (a message of
/// `ingest.max_message_bytes` can hold an object of 100,000 keys; building
/// a set per key, as before, made such a message cost minutes of CPU).
#[derive(Default)]
struct KeyIndex {
    hashes: Option<HashSet<u64>>,
}

impl KeyIndex {
    /// Members up to which a scan is cheaper than hashing.
    const SCAN: usize = 24;

    /// Whether `members` already has `key`; records `key` as added.
    fn is_duplicate(&mut self, members: &[Member<'_>], key: &str) -> bool {
        if members.len() < Self::SCAN {
            return members.iter().any(|(k, _)| same_key(k, key));
        }
        let hashes = self
            .hashes
            .get_or_insert_with(|| members.iter().map(|(k, _)| xxh3_64(k.as_bytes())).collect());
        // A hash seen before is a duplicate only if the names are equal
        // (two names may share a hash).
        !hashes.insert(xxh3_64(key.as_bytes())) && members.iter().any(|(k, _)| same_key(k, key))
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

    /// Parses into an arena that lives as long as the test process (leaked:
    /// the trees are compared after the call).
    fn parse(input: &[u8], max_depth: usize) -> Result<Json<'_>, JsonError> {
        super::parse(
            input,
            max_depth,
            Box::leak(Box::new(Arena::for_input(input.len()))),
        )
    }

    #[test]
    fn borrows_strings_without_escapes() {
        let input = br#"{"a":"plain","b":"esc\"aped","n":1.5,"i":3}"#;
        let v = parse(input, 8).unwrap();
        let inside = |s: &str| input.as_ptr_range().contains(&s.as_ptr());
        let (a, b) = (
            v.get("a").and_then(Json::as_str),
            v.get("b").and_then(Json::as_str),
        );
        assert!(a.is_some_and(|a| a == "plain" && inside(a)), "{a:?}");
        assert!(b.is_some_and(|b| b == "esc\"aped" && !inside(b)), "{b:?}");
        assert_eq!(v.get("n"), Some(&Json::Num(1.5, false)));
        assert_eq!(v.get("i"), Some(&Json::Num(3.0, true)));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse(br#"{"id":"a","verb":{},"id":"b"}"#, 8).unwrap_err();
        assert_eq!(err, JsonError::DuplicateKey("id".into()));
    }

    #[test]
    fn duplicate_keys_are_found_in_large_objects() {
        // 100,000 distinct keys, then one of them again: before the scan
        // limit, just past it, and the last.
        let keys: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let object = |extra: &str| format!("{{{}{extra}}}", keys.join(","));
        let all = object("");
        let Ok(Json::Object(members)) = parse(all.as_bytes(), 8) else {
            panic!("distinct keys are fine")
        };
        assert_eq!(members.len(), 100_000);
        for again in ["k0", "k30", "k99999"] {
            let text = object(&format!(",\"{again}\":1"));
            assert_eq!(
                parse(text.as_bytes(), 8).unwrap_err(),
                JsonError::DuplicateKey(again.into())
            );
        }
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

    /// Whether our tree is what serde_json reads from the same text
    /// (floats within a few ulps: serde_json's default float reading is not
    /// always correctly rounded, ours is; subnormals showed it).
    fn same(ours: &Json<'_>, theirs: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (ours, theirs) {
            (Json::Null, V::Null) => true,
            (Json::Bool(a), V::Bool(b)) => a == b,
            (Json::Num(a, int), V::Number(b)) => {
                let b_int = b.is_i64() || b.is_u64();
                let b = b.as_f64().unwrap();
                let ulps = (a.to_bits() as i64).wrapping_sub(b.to_bits() as i64);
                *int == b_int && (*a == b || (a.signum() == b.signum() && ulps.abs() <= 16))
            }
            (Json::Str(a), V::String(b)) => a == b,
            (Json::Array(a), V::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Json::Object(a), V::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(*k).is_some_and(|w| same(v, w)))
            }
            _ => false,
        }
    }

    /// Reads `text` with both parsers: both accept with equal trees, or
    /// both refuse (ours may also refuse duplicate keys, which serde_json
    /// lets the last win).
    fn agrees_with_serde_json(text: &[u8]) {
        let ours = parse(text, 64);
        let theirs = serde_json::from_slice::<serde_json::Value>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(
                same(a, b),
                "{:?}: {a:?} vs {b:?}",
                String::from_utf8_lossy(text)
            ),
            (Err(JsonError::DuplicateKey(_)), _) | (Err(_), Err(_)) => {}
            _ => panic!(
                "{:?}: ours {ours:?}, serde_json {theirs:?}",
                String::from_utf8_lossy(text)
            ),
        }
        if let Err(JsonError::Syntax(m)) = &ours
            && std::str::from_utf8(text).is_ok()
        {
            assert!(m.contains(" at line "), "{m}");
        }
    }

    #[test]
    fn edge_cases_read_as_serde_json_reads_them() {
        let cases: &[&str] = &[
            "0",
            "-0",
            "-1",
            "1.5",
            "-1.5e3",
            "1E+2",
            "1e-7",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "2.5e",
            "true",
            "tru",
            "nul",
            "falsey",
            r#""a\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\""#,
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83dx""#,
            r#""\u12""#,
            r#""\x""#,
            "\"tab\there\"",
            "\"open",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":}",
            "[",
            "{",
            "",
            "   ",
            " [ 1 , { \"k\" : [ ] } ] ",
            "{} x",
            "[]]",
            "\u{feff}{}",
            "{\"é\":\"ü\"}",
            "[\"\u{1F600}\"]",
        ];
        for c in cases {
            agrees_with_serde_json(c.as_bytes());
        }
    }

    proptest::proptest! {
        // Cheap cases (0.2 s for 4,000): enough that rare characters such
        // as each escape are generated many times.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn any_json_reads_as_serde_json_reads_it(v in arbitrary_json(), cut in 0usize..4096, byte in proptest::prelude::any::<u8>()) {
            let text = serde_json::to_string_pretty(&v).unwrap();
            agrees_with_serde_json(text.as_bytes());
            // The same text with one byte replaced or cut short.
            let mut bytes = text.into_bytes();
            let at = cut % bytes.len();
            agrees_with_serde_json(&bytes[..at]);
            bytes[at] = byte;
            agrees_with_serde_json(&bytes);
        }
    }

    proptest::proptest! {
        /// The word-wise comparison agrees with `==` at every length,
        /// on names that differ anywhere (or nowhere).
        #[test]
        fn same_key_is_equality(a in "[a-cé]{0,24}", flip in 0usize..32, equal in proptest::prelude::any::<bool>()) {
            let b = if equal || a.is_empty() {
                a.clone()
            } else {
                let mut bytes = a.clone().into_bytes();
                let at = flip % bytes.len();
                bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
                String::from_utf8_lossy(&bytes).into_owned()
            };
            proptest::prop_assert_eq!(same_key(&a, &b), a == b, "{:?} {:?}", a, b);
        }
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            any::<i64>().prop_map(V::from),
            any::<u64>().prop_map(V::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(V::from),
            "(\\PC|[\"\\\\/\u{0}-\u{1f}]){0,12}".prop_map(V::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
                proptest::collection::btree_map("[a-zé\\\"]{0,4}", inner, 0..6)
                    .prop_map(|m| V::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn text_round_trips() {
        let src = br#"{"k":[1,2.5,"x\ny",null,true,{"z":{}}]}"#;
        let v = parse(src, 8).unwrap();
        assert_eq!(parse(v.to_text().as_bytes(), 8).unwrap(), v);
        assert_eq!(
            v.to_text(),
            r#"{"k":[1,2.5,"x\ny",null,true,{"z":{}}]}"#,
            "compact, escapes kept"
        );
    }

    #[test]
    fn object_text_writes_members_gathered_from_elsewhere() {
        let ctx = parse(
            r#"{ "https://x.example/due" : "2024-03-08T23:59:00Z\u0001" }"#.as_bytes(),
            8,
        )
        .unwrap();
        let res = parse(
            br#"{"n": 2, "f": -0.5e-3, "big": 12345678901234567890, "a": []}"#,
            8,
        )
        .unwrap();
        assert_eq!(
            object_text([("context", &ctx), ("result", &res)]),
            r#"{"context":{"https://x.example/due":"2024-03-08T23:59:00Z\u0001"},"result":{"n":2,"f":-0.0005,"big":1.2345678901234567e+19,"a":[]}}"#
        );
    }
}
