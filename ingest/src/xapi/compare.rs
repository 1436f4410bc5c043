//! Statement comparison for idempotent re-posting (xAPI Communication
//! 2.1.3/2.1.2 "Statement Comparison Requirements"): two statements with the
//! same id are the same when they differ only in properties the LRS sets or
//! may change (id, authority, stored, timestamp, version, attachments) and in
//! representation: member order, a single context activity versus a
//! one-element list, durations written differently (`PT120S` = `PT2M`,
//! compared at 0.01 s), and timestamps in different zones.

use std::hash::{Hash, Hasher};

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

/// A stable 64-bit hash (SipHash with fixed keys), for in-process maps only.
pub fn short_hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Hash of a statement's comparable content.
pub fn fingerprint(statement: &Json<'_>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    walk(statement, &mut h, Where::Top);
    h.finish()
}

#[derive(Clone, Copy, PartialEq)]
enum Where {
    Top,
    Result,
    ContextActivities,
    Other,
}

fn walk(v: &Json<'_>, h: &mut impl Hasher, at: Where) {
    match v {
        Json::Null => h.write_u8(0),
        Json::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Json::Num(n, _) => {
            h.write_u8(2);
            h.write_u64(if *n == 0.0 { 0 } else { n.to_bits() });
        }
        Json::Str(s) => {
            h.write_u8(3);
            s.hash(h);
        }
        Json::Array(items) => {
            h.write_u8(4);
            h.write_usize(items.len());
            for i in items {
                walk(i, h, Where::Other);
            }
        }
        Json::Object(members) => {
            h.write_u8(5);
            let mut sorted: Vec<&(std::borrow::Cow<'_, str>, Json<'_>)> = members
                .iter()
                .filter(|(k, _)| !(at == Where::Top && IGNORED_TOP.contains(&k.as_ref())))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            h.write_usize(sorted.len());
            for (k, val) in sorted {
                k.hash(h);
                member(k, val, h, at);
            }
        }
    }
}

fn member(key: &str, v: &Json<'_>, h: &mut impl Hasher, parent: Where) {
    match (parent, key, v) {
        (Where::Result, "duration", Json::Str(s)) => match parse_duration_ms(s) {
            Ok(ms) => {
                h.write_u8(6);
                h.write_i64((ms + 5) / 10);
            }
            Err(_) => walk(v, h, Where::Other),
        },
        (Where::ContextActivities, _, Json::Object(_)) => {
            // A single activity equals a list holding just it.
            h.write_u8(4);
            h.write_usize(1);
            walk(v, h, Where::Other);
        }
        (_, "result", _) => walk(v, h, Where::Result),
        (_, "contextActivities", _) => walk(v, h, Where::ContextActivities),
        (_, "timestamp", Json::Str(s)) => match parse_timestamp(s, TimeRules::Xapi1) {
            Ok(us) => {
                h.write_u8(7);
                h.write_i64(us);
            }
            Err(_) => walk(v, h, Where::Other),
        },
        _ => walk(v, h, Where::Other),
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
