//! Statement comparison for idempotent re-posting (xAPI Communication
//! 2.1.3/2.1.2 "Statement Comparison Requirements"): two statements with the
//! same id are the same when they differ only in properties the LRS sets or
//! may change (id, authority, stored, timestamp, version, attachments) and in
//! representation: member order, a single context activity versus a
//! one-element list, durations written differently (`PT120S` = `PT2M`,
//! compared at 0.01 s), and timestamps in different zones.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::json::{Json, ends, same_key};
use crate::time::{TimeRules, parse_duration_ms, parse_timestamp};

const IGNORED_TOP: &[&str] = &[
    "id",
    "authority",
    "stored",
    "timestamp",
    "version",
    "attachments",
];

/// A stable 64-bit hash (xxh3), for in-process maps only.
pub fn short_hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// Hash of a statement's comparable content under the rules above. Each
/// value's hash is built from its children's hashes, so every byte is hashed
/// once however deep it sits, and nothing is allocated.
pub fn fingerprint(statement: &Json<'_>) -> u64 {
    hash(statement, Where::Top)
}

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Top,
    Result,
    ContextActivities,
    Other,
}

/// Type tags, so that e.g. the string "1" and the number 1 differ.
const NULL: u64 = 0;
const BOOL: u64 = 1;
const NUM: u64 = 2;
const STR: u64 = 3;
const ARRAY: u64 = 4;
const OBJECT: u64 = 5;
const DURATION: u64 = 6;
const INSTANT: u64 = 7;
const NAME: u64 = 8;

/// Mixes a value into a seed (a folded 64x64->128 multiply, as fast hash
/// functions do): used to tag scalars and to chain child hashes, where
/// order matters (arrays). A few instructions, where hashing the 8 bytes
/// with xxh3 took dozens; a statement chains ~100 values.
fn chain(seed: u64, value: u64) -> u64 {
    let product =
        u128::from(seed ^ 0x243f_6a88_85a3_08d3) * u128::from(value ^ 0x1319_8a2e_0370_7344);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A property name's hash: names of 4 to 16 bytes (nearly all) as their
/// [`ends`] chained with the length, which covers every byte, in a few
/// instructions inline; others with xxh3.
#[inline(always)]
fn name_hash(k: &str) -> u64 {
    match ends(k.as_bytes()) {
        Some((first, last)) => chain(chain(NAME ^ (k.len() as u64) << 8, first), last),
        None => xxh3_64_with_seed(k.as_bytes(), STR),
    }
}

fn hash(v: &Json<'_>, at: Where) -> u64 {
    match v {
        Json::Null => chain(NULL, 0),
        Json::Bool(b) => chain(BOOL, u64::from(*b)),
        // 0.0 and -0.0 are the same number.
        Json::Num(n, _) => chain(NUM, if *n == 0.0 { 0 } else { n.to_bits() }),
        Json::Str(s) => xxh3_64_with_seed(s.as_bytes(), STR),
        Json::Array(items) => items.iter().fold(chain(ARRAY, items.len() as u64), |h, i| {
            chain(h, hash(i, Where::Other))
        }),
        Json::Object(members) => {
            // Member order is free: the members' hashes are added up.
            let (mut sum, mut count) = (0u64, 0u64);
            for (k, val) in members.iter() {
                if at == Where::Top && IGNORED_TOP.iter().any(|i| same_key(i, k)) {
                    continue;
                }
                let key = name_hash(k);
                sum = sum.wrapping_add(chain(key, member(k, val, at)));
                count += 1;
            }
            chain(chain(OBJECT, count), sum)
        }
    }
}

fn member(key: &str, v: &Json<'_>, parent: Where) -> u64 {
    match (parent, key, v) {
        (Where::Result, "duration", Json::Str(s)) => match parse_duration_ms(s) {
            Ok(ms) => chain(DURATION, ((ms + 5) / 10) as u64),
            Err(_) => hash(v, Where::Other),
        },
        // A single activity equals a list holding just it.
        (Where::ContextActivities, _, Json::Object(_)) => {
            chain(chain(ARRAY, 1), hash(v, Where::Other))
        }
        (_, "result", _) => hash(v, Where::Result),
        (_, "contextActivities", _) => hash(v, Where::ContextActivities),
        (_, "timestamp", Json::Str(s)) => match parse_timestamp(s, TimeRules::Xapi1) {
            Ok(us) => chain(INSTANT, us as u64),
            Err(_) => hash(v, Where::Other),
        },
        // As `hash` would, without the recursive call: most members are
        // strings.
        (_, _, Json::Str(s)) => xxh3_64_with_seed(s.as_bytes(), STR),
        _ => hash(v, Where::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Arena, parse};

    fn fp(s: &str) -> u64 {
        fingerprint(&parse(s.as_bytes(), 64, &Arena::for_input(s.len())).unwrap())
    }

    /// Names hashed from their words: a change of any byte, or of the
    /// length, changes the hash, at every length around the word sizes.
    #[test]
    fn names_hash_apart() {
        let base = "abcdefghijklmnopqrstu";
        let mut seen = std::collections::HashSet::new();
        for n in 0..=base.len() {
            let name = &base[..n];
            assert!(seen.insert(name_hash(name)), "{name:?}");
            assert_ne!(name_hash(name), name_hash(&format!("{name}\0")));
            for at in 0..n {
                let mut b = name.as_bytes().to_vec();
                b[at] = b'Z';
                let changed = std::str::from_utf8(&b).unwrap();
                assert!(seen.insert(name_hash(changed)), "{name:?} at {at}");
            }
        }
        // Same words, different lengths: "aaaa" and "aaaaa" read the same
        // two words.
        let runs: std::collections::HashSet<u64> =
            (0..=20).map(|n| name_hash(&"a".repeat(n))).collect();
        assert_eq!(runs.len(), 21);
    }

    #[test]
    fn equal_statements_compare_equal() {
        let a = r#"{"id":"x","actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://v/x"},"object":{"id":"http://o"},
            "result":{"duration":"PT120S"},"context":{"contextActivities":{"parent":{"id":"http://p"}}},
            "timestamp":"2024-01-01T00:00:00Z","stored":"2024-01-01T00:00:01Z"}"#;
        let b = r#"{"verb":{"id":"http://v/x"},"actor":{"mbox":"mailto:a@b.c"},"object":{"id":"http://o"},
            "result":{"duration":"PT2M"},"context":{"contextActivities":{"parent":[{"id":"http://p"}]}},
            "timestamp":"2024-01-01T09:00:00+09:00","version":"1.0.3"}"#;
        assert_eq!(fp(a), fp(b));
    }

    #[test]
    fn different_content_differs() {
        let a = r#"{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://v/x"},"object":{"id":"http://o"},"result":{"success":true}}"#;
        let b = r#"{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://v/x"},"object":{"id":"http://o"},"result":{"success":false}}"#;
        assert_ne!(fp(a), fp(b));
        let c = r#"{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://v/x"},"object":{"id":"http://o"},"result":{"duration":"PT2M1S"}}"#;
        let d = r#"{"actor":{"mbox":"mailto:a@b.c"},"verb":{"id":"http://v/x"},"object":{"id":"http://o"},"result":{"duration":"PT2M"}}"#;
        assert_ne!(fp(c), fp(d));
    }

    #[test]
    fn structure_and_types_count_member_order_does_not() {
        let pairs_that_differ = [
            (r#"{"o":{"a":{"b":1}}}"#, r#"{"o":{"a":{"b":2}}}"#),
            (r#"{"o":[1,2]}"#, r#"{"o":[2,1]}"#),
            (r#"{"o":"1"}"#, r#"{"o":1}"#),
            (r#"{"o":{"a":1,"b":2}}"#, r#"{"o":{"a":2,"b":1}}"#),
            (r#"{"o":[[1],2]}"#, r#"{"o":[1,[2]]}"#),
            (r#"{"o":{}}"#, r#"{"o":[]}"#),
            (r#"{"o":null}"#, r#"{"o":false}"#),
        ];
        for (a, b) in pairs_that_differ {
            assert_ne!(fp(a), fp(b), "{a} vs {b}");
        }
        assert_eq!(
            fp(r#"{"o":{"a":[1,{"x":true,"y":null}],"b":-0.0}}"#),
            fp(r#"{"o":{"b":0,"a":[1,{"y":null,"x":true}]}}"#)
        );
    }
}
