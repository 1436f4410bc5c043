//! Small checks shared by the xAPI and Caliper validators. Each records a
//! problem at the value's path and returns what it could read, so one pass
//! both validates and extracts, and every problem in a record is reported.

use crate::json::{Json, Member, same_key};
use crate::problem::{Path, Problems};

/// Object members.
pub type Members<'j, 'a> = &'j [Member<'a>];

/// Error-code prefix of the standard being checked (`xapi` or `caliper`).
#[derive(Clone, Copy, Debug)]
pub struct Codes {
    /// `xapi.property.type` or `caliper.property.type`, ...
    pub type_: &'static str,
    /// Unknown property.
    pub unknown: &'static str,
    /// Known property in the wrong case.
    pub case: &'static str,
    /// `null` where a value is required.
    pub null: &'static str,
    /// Required property missing.
    pub missing: &'static str,
    /// Not an IRI.
    pub iri: &'static str,
}

/// Error codes for xAPI.
pub const XAPI: Codes = Codes {
    type_: "xapi.property.type",
    unknown: "xapi.property.unknown",
    case: "xapi.property.case",
    null: "xapi.property.null",
    missing: "xapi.property.missing",
    iri: "xapi.iri",
};

/// Error codes for Caliper.
pub const CALIPER: Codes = Codes {
    type_: "caliper.property.type",
    unknown: "caliper.property.unknown",
    case: "caliper.property.case",
    null: "caliper.property.null",
    missing: "caliper.property.missing",
    iri: "caliper.iri",
};

/// The property names an object may have, with a lookup table built at
/// compile time: every member of every object read is checked against its
/// list, and scanning the list cost some 70 instructions per member (7 % of
/// an xAPI statement's). A name's slot comes from its length and first and
/// last bytes; a slot two names share falls back to scanning the list.
#[derive(Debug)]
pub struct Keys {
    names: &'static [&'static str],
    /// Per slot: 0 for no name, `i + 1` for `names[i]`, [`Keys::SHARED`].
    slots: [u8; 64],
}

impl Keys {
    /// A slot two or more names hash to.
    const SHARED: u8 = u8::MAX;

    /// The table for `names` (at most 254; panics at compile time beyond).
    pub const fn new(names: &'static [&'static str]) -> Keys {
        assert!(names.len() < Self::SHARED as usize);
        let mut slots = [0u8; 64];
        let mut i = 0;
        while i < names.len() {
            let s = slot(names[i].as_bytes());
            slots[s] = if slots[s] == 0 {
                i as u8 + 1
            } else {
                Self::SHARED
            };
            i += 1;
        }
        Keys { names, slots }
    }

    /// The names, in the order given.
    pub fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// Whether `name` is one of the names (exactly, case included).
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        match self.slots[slot(name.as_bytes())] {
            0 => false,
            Self::SHARED => self.names.iter().any(|n| same_key(n, name)),
            i => same_key(self.names[usize::from(i - 1)], name),
        }
    }
}

/// A name's slot in a [`Keys`] table. Within each of ingest's lists only
/// a few names share a slot.
const fn slot(name: &[u8]) -> usize {
    let n = name.len();
    if n == 0 {
        return 0;
    }
    ((name[0] as usize * 7) ^ (name[n - 1] as usize * 3) ^ (n * 11)) & 63
}

/// Checks that `v` is an object whose keys are all in `allowed` and whose
/// values are not null; returns the members.
pub fn object<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    what: &str,
    allowed: &Keys,
    codes: Codes,
    probs: &mut Problems,
) -> Option<Members<'j, 'a>> {
    let Json::Object(members) = *v else {
        probs.add(
            codes.type_,
            path,
            format!("{what} must be an object, not {}", v.kind()),
        );
        return None;
    };
    for (k, val) in members {
        if !allowed.contains(k) {
            unknown_property(k, &path.key(k), what, allowed.names, codes, probs);
        } else if matches!(val, Json::Null) {
            probs.add(
                codes.null,
                &path.key(k),
                format!("`{k}` must not be null; leave it out instead"),
            );
        }
    }
    Some(members)
}

/// Reports property `k`, which is not in `allowed`: as a case mistake when
/// it matches an allowed name but for case, else as unknown.
#[cold]
fn unknown_property(
    k: &str,
    p: &Path<'_>,
    what: &str,
    allowed: &[&str],
    codes: Codes,
    probs: &mut Problems,
) {
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(k)) {
        Some(right) => probs.add(
            codes.case,
            p,
            format!("property names are case-sensitive: write `{right}`, not `{k}`"),
        ),
        None => probs.add(
            codes.unknown,
            p,
            format!(
                "`{k}` is not a property of {what} (allowed: {})",
                allowed.join(", ")
            ),
        ),
    }
}

/// The value of member `key`, if present and not null. Inlined: the
/// callers look up constant names, whose length comparisons then fold
/// away (4 % of an xAPI statement's instructions).
#[inline]
pub fn get<'j, 'a>(members: Members<'j, 'a>, key: &str) -> Option<&'j Json<'a>> {
    members
        .iter()
        .find(|(k, _)| same_key(k, key))
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Json::Null))
}

/// Like [`get`], recording a problem when the member is missing.
pub fn required<'j, 'a>(
    members: Members<'j, 'a>,
    key: &str,
    path: &Path<'_>,
    what: &str,
    codes: Codes,
    probs: &mut Problems,
) -> Option<&'j Json<'a>> {
    let v = get(members, key);
    if v.is_none() {
        let p = path.key(key);
        if !members.iter().any(|(k, _)| same_key(k, key)) {
            probs.add(codes.missing, &p, format!("{what} requires `{key}`"));
        } else {
            // A null the caller's object check has not reported already
            // (entities allow any property, so nothing vetted them).
            let at = p.to_string();
            if !probs.0.iter().any(|q| q.path == at) {
                probs.add(
                    codes.null,
                    &p,
                    format!("{what} requires `{key}`, and it is null"),
                );
            }
        }
    }
    v
}

/// A string value.
pub fn string<'j>(
    v: &'j Json<'_>,
    path: &Path<'_>,
    codes: Codes,
    probs: &mut Problems,
) -> Option<&'j str> {
    match v {
        Json::Str(s) => Some(s),
        other => {
            probs.add(
                codes.type_,
                path,
                format!("must be a string, not {}", other.kind()),
            );
            None
        }
    }
}

/// A number value.
pub fn number(v: &Json<'_>, path: &Path<'_>, codes: Codes, probs: &mut Problems) -> Option<f64> {
    match v {
        Json::Num(n, _) => Some(*n),
        other => {
            probs.add(
                codes.type_,
                path,
                format!("must be a number, not {}", other.kind()),
            );
            None
        }
    }
}

/// A boolean value.
pub fn boolean(v: &Json<'_>, path: &Path<'_>, codes: Codes, probs: &mut Problems) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        other => {
            probs.add(
                codes.type_,
                path,
                format!("must be true or false, not {}", other.kind()),
            );
            None
        }
    }
}

/// An array value.
pub fn array<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    codes: Codes,
    probs: &mut Problems,
) -> Option<&'j [Json<'a>]> {
    match v {
        Json::Array(items) => Some(items),
        other => {
            probs.add(
                codes.type_,
                path,
                format!("must be an array, not {}", other.kind()),
            );
            None
        }
    }
}

/// Whether `s` is an absolute IRI: a scheme (RFC 3987 `ALPHA *( ALPHA /
/// DIGIT / "+" / "-" / "." ) ":"`) and no whitespace or control characters.
pub fn is_iri(s: &str) -> bool {
    // The scheme is read byte by byte up to its colon: schemes are a few
    // letters, where a general search for the colon cost more than the
    // rest of the check.
    let bytes = s.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut i = 1;
    while let Some(&c) = bytes.get(i) {
        if c == b':' {
            return i + 1 < bytes.len() && iri_chars_allowed(s);
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) {
            return false;
        }
        i += 1;
    }
    false
}

/// ASCII bytes an IRI may hold: printable, not a space, not one of RFC
/// 3987's excluded `<>"{}|\^` and backtick. Bytes from 0x80 are not in the
/// table: they start a non-ASCII character, checked as characters.
const IRI_ASCII: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        table[b] = !matches!(
            b as u8,
            b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`'
        );
        b += 1;
    }
    table
};

/// No whitespace, control or excluded character (RFC 3987 `<>"{}|\^` and
/// backtick). A table lookup per byte while the text is ASCII, as nearly
/// every IRI is (per-byte comparisons made IRI checks cost twice the
/// instructions, 9% of an xAPI statement's).
fn iri_chars_allowed(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Whole words of eight bytes first, their lookups combined without a
    // branch per byte; the first word with a byte outside the table, and
    // the tail, are then searched byte by byte.
    let clean = bytes
        .chunks_exact(8)
        .take_while(|word| {
            word.iter()
                .fold(true, |ok, &b| ok & IRI_ASCII[usize::from(b)])
        })
        .count()
        * 8;
    let first_other = bytes[clean..]
        .iter()
        .position(|&b| !IRI_ASCII[usize::from(b)])
        .map(|i| clean + i);
    match first_other {
        None => true,
        Some(i) if bytes[i] >= 0x80 => !s[i..].chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        }),
        Some(_) => false,
    }
}

/// A string that must be an absolute IRI.
pub fn iri<'j>(
    v: &'j Json<'_>,
    path: &Path<'_>,
    codes: Codes,
    probs: &mut Problems,
) -> Option<&'j str> {
    let s = string(v, path, codes, probs)?;
    if is_iri(s) {
        Some(s)
    } else {
        probs.add(
            codes.iri,
            path,
            format!("`{s}` is not an absolute IRI (it needs a scheme such as https:)"),
        );
        None
    }
}

/// Hex digits, either case.
const HEX: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_hexdigit();
        b += 1;
    }
    table
};

/// Whether `s` is a UUID in its canonical 8-4-4-4-12 hex form. The digits'
/// lookups are combined without a branch per byte (a branch and a position
/// test per byte cost about 300 instructions a UUID, the table about 100; a
/// statement has two or more).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |digits: &[u8]| digits.iter().fold(true, |ok, &c| ok & HEX[usize::from(c)]);
    b.len() == 36
        && b[8] == b'-'
        && b[13] == b'-'
        && b[18] == b'-'
        && b[23] == b'-'
        && hex(&b[..8]) & hex(&b[9..13]) & hex(&b[14..18]) & hex(&b[19..23]) & hex(&b[24..])
}

/// Whether `tag` is a well-formed RFC 5646 language tag (the BCP 47 grammar:
/// language, extlang, script, region, variants, extensions, private use;
/// and the private-use and legacy `i-` forms).
pub fn is_language_tag(tag: &str) -> bool {
    // The two forms nearly every tag takes, `en` and `en-US`, answered
    // without splitting (the grammar took ~260 instructions per tag, and a
    // statement's language maps hold several).
    let b = tag.as_bytes();
    let letters = |at: usize| b[at].is_ascii_alphabetic() && b[at + 1].is_ascii_alphabetic();
    match b.len() {
        2 if letters(0) => true,
        5 if letters(0) && b[2] == b'-' && letters(3) => true,
        _ => follows_grammar(tag),
    }
}

/// [`is_language_tag`] by the full grammar.
fn follows_grammar(tag: &str) -> bool {
    // Subtags on the stack: a statement has several tags, and collecting
    // each into a Vec was an allocation apiece. Longer tags (rare: many
    // extensions) take a Vec.
    let mut short = [""; 16];
    let mut count = 0;
    for part in tag.split('-') {
        if count == short.len() {
            return subtags_well_formed(&tag.split('-').collect::<Vec<_>>());
        }
        short[count] = part;
        count += 1;
    }
    subtags_well_formed(&short[..count])
}

/// [`is_language_tag`] over the tag's `-`-separated subtags.
fn subtags_well_formed(parts: &[&str]) -> bool {
    let alpha = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic())
    };
    let alnum = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    if parts.iter().any(|p| p.is_empty()) {
        return false;
    }
    let first = parts[0];
    if first.eq_ignore_ascii_case("x") || first.eq_ignore_ascii_case("i") {
        return parts.len() > 1 && parts[1..].iter().all(|p| alnum(p, 1, 8));
    }
    if !alpha(first, 2, 8) {
        return false;
    }
    let mut i = 1;
    if first.len() <= 3 {
        let mut ext = 0;
        while i < parts.len() && ext < 3 && alpha(parts[i], 3, 3) {
            i += 1;
            ext += 1;
        }
    }
    if i < parts.len() && alpha(parts[i], 4, 4) {
        i += 1;
    }
    if i < parts.len()
        && (alpha(parts[i], 2, 2)
            || (parts[i].len() == 3 && parts[i].chars().all(|c| c.is_ascii_digit())))
    {
        i += 1;
    }
    while i < parts.len()
        && (alnum(parts[i], 5, 8)
            || (parts[i].len() == 4
                && parts[i].starts_with(|c: char| c.is_ascii_digit())
                && alnum(parts[i], 4, 4)))
    {
        i += 1;
    }
    while i < parts.len()
        && parts[i].len() == 1
        && !parts[i].eq_ignore_ascii_case("x")
        && alnum(parts[i], 1, 1)
    {
        i += 1;
        let start = i;
        while i < parts.len() && alnum(parts[i], 2, 8) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < parts.len() && parts[i].eq_ignore_ascii_case("x") {
        i += 1;
        let start = i;
        while i < parts.len() && alnum(parts[i], 1, 8) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == parts.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris() {
        assert!(is_iri("http://adlnet.gov/expapi/verbs/completed"));
        assert!(is_iri("urn:uuid:27734504-068d-4596-861c-2315be33a2a2"));
        assert!(is_iri("mailto:a@b.example"));
        assert!(is_iri("https://例え.jp/活動"));
        assert!(!is_iri("completed"));
        assert!(!is_iri("http://x y"));
        assert!(!is_iri("1http://x"));
        assert!(!is_iri("http:"));
        assert!(
            !is_iri("https://例え.jp/活 動"),
            "whitespace after non-ASCII"
        );
        assert!(!is_iri("https://x.example/\u{7f}"));
        assert!(!is_iri("https://x.example/a|b"));
        assert!(is_iri("a+b.c-9:x"));
        assert!(!is_iri(":x"), "no scheme");
        assert!(!is_iri("ht tp:x"), "space in the scheme");
        assert!(!is_iri("é:x"), "non-ASCII scheme");
    }

    proptest::proptest! {
        /// The scheme scan decides as the definition reads: the text
        /// before the first colon is a scheme, and something follows it.
        #[test]
        fn schemes_match_the_definition(s in "[a-zA-Z0-9+.é :-]{0,8}(:[a-z/:]{0,4})?") {
            let by_definition = s.split_once(':').is_some_and(|(scheme, rest)| {
                let mut b = scheme.bytes();
                b.next().is_some_and(|c| c.is_ascii_alphabetic())
                    && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                    && !rest.is_empty()
                    && iri_chars_allowed(&s)
            });
            proptest::prop_assert_eq!(is_iri(&s), by_definition, "{:?}", s);
        }
    }

    proptest::proptest! {
        /// The byte-wise fast path decides exactly as a char-wise check.
        #[test]
        fn iri_characters_match_the_char_rules(s in "[a-z]{1,3}:[ -~\\t\\u{80}-\\u{3000}]{0,12}") {
            let by_chars = !s.chars().any(|c| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
            });
            proptest::prop_assert_eq!(iri_chars_allowed(&s), by_chars, "{:?}", s);
        }
    }

    /// Every position of a UUID, set to every byte, against the rule read
    /// position by position.
    #[test]
    fn uuids_follow_the_rule_at_every_position() {
        let by_rule = |b: &[u8]| {
            b.len() == 36
                && b.iter().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => *c == b'-',
                    _ => c.is_ascii_hexdigit(),
                })
        };
        let good = *b"fd41c918-b88b-4b20-a0a5-a4c32391aaa0";
        for at in 0..good.len() {
            for byte in 0..=127u8 {
                let mut b = good;
                b[at] = byte;
                let s = std::str::from_utf8(&b).unwrap();
                assert_eq!(is_uuid(s), by_rule(&b), "{s:?}");
            }
        }
        assert!(!is_uuid("fd41c918-b88b-4b20-a0a5-a4c32391aaa"));
        assert!(!is_uuid("fd41c918-b88b-4b20-a0a5-a4c32391aaa00"));
    }

    /// Whether `keys` holds exactly `list`: every name of it, and none of
    /// `probes` nor of the names with their case or last byte changed.
    fn holds_exactly(keys: &Keys, list: &[&str], probes: &[&str]) {
        for name in list.iter().chain(probes) {
            assert_eq!(keys.contains(name), list.contains(name), "{name:?}");
            let upper = name.to_ascii_uppercase();
            let mut near = name.to_string();
            if let Some(last) = near.pop() {
                near.push(if last == 'q' { 'r' } else { 'q' });
            }
            for other in [upper, near] {
                let expected = list.contains(&other.as_str());
                assert_eq!(keys.contains(&other), expected, "{other:?} (from {name:?})");
            }
        }
    }

    /// Names that share a slot (`type` and `action`, `target` and
    /// `profile`) are told apart, as are the empty and one-byte names.
    #[test]
    fn keys_with_shared_slots_hold_exactly_their_names() {
        let list = ["type", "action", "target", "profile", "id", "", "a", "ab"];
        let keys = Keys::new(&["type", "action", "target", "profile", "id", "", "a", "ab"]);
        assert!(keys.slots.contains(&Keys::SHARED));
        assert_eq!(keys.names(), list);
        holds_exactly(&keys, &list, &["ba", "b", "actor", "typo", "profil"]);
    }

    proptest::proptest! {
        /// Lists of up to 60 names in 64 slots: many share one.
        #[test]
        fn keys_hold_exactly_their_names(
            names in proptest::collection::hash_set("[a-zA-Z_@]{0,18}", 1..60),
            probes in proptest::collection::vec("[a-zA-Z_@]{0,18}", 0..30),
        ) {
            let list: Vec<&'static str> = names
                .into_iter()
                .map(|n| &*Box::leak(n.into_boxed_str()))
                .collect();
            let keys = Keys::new(Box::leak(list.clone().into_boxed_slice()));
            let probes: Vec<&str> = probes.iter().map(String::as_str).collect();
            holds_exactly(&keys, &list, &probes);
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("fd41c918-b88b-4b20-a0a5-a4c32391aaa0"));
        assert!(is_uuid("FD41C918-B88B-4B20-A0A5-A4C32391AAA0"));
        assert!(!is_uuid("fd41c918b88b4b20a0a5a4c32391aaa0"));
        assert!(!is_uuid("{fd41c918-b88b-4b20-a0a5-a4c32391aaa0}"));
        assert!(!is_uuid("fd41c918-b88b-4b20-a0a5-a4c32391aaaz"));
    }

    #[test]
    fn language_tags() {
        for ok in [
            "en",
            "en-US",
            "zh-Hant-TW",
            "sr-Latn-RS",
            "de-CH-1901",
            "es-419",
            "ja-JP-u-ca-japanese",
            "x-private",
            "en-GB-x-lap",
            "i-klingon",
            "sgn-ase",
        ] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "en_US", "e", "en--US", "en-a", "123", "en-US-x"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
        // More subtags than the stack holds: the same grammar.
        let many = format!("en{}", "-a-bb".repeat(9));
        assert!(is_language_tag(&many), "{many}");
        assert!(
            !is_language_tag(&format!("{many}-a")),
            "an extension without subtags"
        );
    }

    proptest::proptest! {
        /// The short forms' answer is the grammar's, on tags near them
        /// (letters of both cases, digits, hyphens, a non-ASCII letter).
        #[test]
        fn short_tags_follow_the_grammar(tag in "[a-zA-Z0-9é-]{0,6}|[a-zA-Z]{2}-[a-zA-Z0-9]{2,3}") {
            proptest::prop_assert_eq!(is_language_tag(&tag), follows_grammar(&tag), "{:?}", tag);
        }
    }
}
