//! Statement comparison for idempotent re-posting (xAPI Communication
//! 2.1.3/2.1.2 "Statement Comparison Requirements"): two statements with the
//! same id are the same when they differ only in properties the LRS sets or
//! may change (id, authority, stored, timestamp, version, attachments) and in
//! representation: member order, a single context activity versus a
//! one-element list, durations written differently (`PT120S` = `PT2M`,
//! compared at 0.01 s), and timestamps in different zones.

use xxhash_rust::xxh3::xxh3_64;

use crate::json::Json;
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

/// Hash of a statement's comparable content: its canonical bytes (below),
/// hashed with xxh3.
pub fn fingerprint(statement: &Json<'_>) -> u64 {
    let mut out = Vec::with_capacity(1024);
    walk(statement, &mut out, Where::Top);
    xxh3_64(&out)
}

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Top,
    Result,
    ContextActivities,
    Other,
}

fn tag(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

fn text(out: &mut Vec<u8>, tag_byte: u8, s: &str) {
    tag(out, tag_byte, &(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends the canonical bytes of `v`. Object members are order-free: each
/// member's bytes are hashed on their own and the hashes added up, so no
/// sorting and no allocation per object.
fn walk(v: &Json<'_>, out: &mut Vec<u8>, at: Where) {
    match v {
        Json::Null => out.push(0),
        Json::Bool(b) => tag(out, 1, &[u8::from(*b)]),
        Json::Num(n, _) => tag(
            out,
            2,
            &(if *n == 0.0 { 0 } else { n.to_bits() }).to_le_bytes(),
        ),
        Json::Str(s) => text(out, 3, s),
        Json::Array(items) => {
            tag(out, 4, &(items.len() as u64).to_le_bytes());
            for i in items {
                walk(i, out, Where::Other);
            }
        }
        Json::Object(members) => {
            let (mut sum, mut count) = (0u64, 0u64);
            let start = out.len();
            for (k, val) in members {
                if at == Where::Top && IGNORED_TOP.contains(&k.as_ref()) {
                    continue;
                }
                text(out, 3, k);
                member(k, val, out, at);
                sum = sum.wrapping_add(xxh3_64(&out[start..]));
                count += 1;
                out.truncate(start);
            }
            tag(out, 5, &count.to_le_bytes());
            out.extend_from_slice(&sum.to_le_bytes());
        }
    }
}

fn member(key: &str, v: &Json<'_>, out: &mut Vec<u8>, parent: Where) {
    match (parent, key, v) {
        (Where::Result, "duration", Json::Str(s)) => match parse_duration_ms(s) {
            Ok(ms) => tag(out, 6, &((ms + 5) / 10).to_le_bytes()),
            Err(_) => walk(v, out, Where::Other),
        },
        (Where::ContextActivities, _, Json::Object(_)) => {
            // A single activity equals a list holding just it.
            tag(out, 4, &1u64.to_le_bytes());
            walk(v, out, Where::Other);
        }
        (_, "result", _) => walk(v, out, Where::Result),
        (_, "contextActivities", _) => walk(v, out, Where::ContextActivities),
        (_, "timestamp", Json::Str(s)) => match parse_timestamp(s, TimeRules::Xapi1) {
            Ok(us) => tag(out, 7, &us.to_le_bytes()),
            Err(_) => walk(v, out, Where::Other),
        },
        _ => walk(v, out, Where::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn fp(s: &str) -> u64 {
        fingerprint(&parse(s.as_bytes(), 64).unwrap())
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
}
