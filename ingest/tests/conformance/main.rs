//! The conformance rules of issue 36, each with valid and invalid inputs
//! written from the xAPI 1.0.3 / 2.0 and Caliper 1.1 / 1.2 specifications,
//! taken through every way in: the validator, the ingest operator (the
//! dead letter an invalid one produces, with its original bytes and origin)
//! and the HTTP front door (the spec's status code, the reason code, and
//! the dead letter of the request).
//!
//! The cases live in [`xapi`] and [`caliper`], one list per rule; each test
//! here runs all of them and reports every case that came out wrong, so a
//! rule that is switched off shows up as the cases of that rule.

mod caliper;
#[path = "../common/mod.rs"]
mod common;
mod http;
mod xapi;

use lap_ingest::problem::Problems;
use lap_schemas::OriginKind;
use serde_json::Value;

/// What lap must make of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Accepted.
    Valid,
    /// Rejected, with this reason code at this JSON path (among others).
    Invalid {
        /// The reason code.
        code: &'static str,
        /// Where, as the validator renders it (`$.data[0].object.type`).
        path: &'static str,
    },
}

/// One input for one rule.
#[derive(Clone, Debug)]
pub struct Case {
    /// The rule it exercises, and what the input shows.
    pub name: String,
    /// The xAPI version header (`1.0.3`, `2.0.0`) or the Caliper
    /// `dataVersion` IRI the input is sent with.
    pub version: &'static str,
    /// The statement, or the Caliper event (sent in an envelope of its own).
    pub doc: Value,
    /// What lap must answer.
    pub expect: Expect,
}

/// A valid case.
pub fn valid(name: &str, version: &'static str, doc: Value) -> Case {
    Case {
        name: name.to_string(),
        version,
        doc,
        expect: Expect::Valid,
    }
}

/// An invalid case, rejected with `code` at `path`.
pub fn invalid(
    name: &str,
    version: &'static str,
    doc: Value,
    code: &'static str,
    path: &'static str,
) -> Case {
    Case {
        name: name.to_string(),
        version,
        doc,
        expect: Expect::Invalid { code, path },
    }
}

/// `v` with the member at JSON pointer `pointer` set to `value`.
pub fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).expect("the parent exists")
    };
    target
        .as_object_mut()
        .expect("an object")
        .insert(key.to_string(), value);
    v
}

/// `v` without the member at JSON pointer `pointer`.
pub fn without(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).expect("the parent exists")
    };
    target.as_object_mut().expect("an object").remove(key);
    v
}

/// The (code, path) of each problem, `None` when there are none (valid).
pub fn found(problems: &Problems) -> Option<Vec<(String, String)>> {
    (!problems.is_empty()).then(|| {
        problems
            .0
            .iter()
            .map(|p| (p.code.to_string(), p.path.clone()))
            .collect()
    })
}

/// Sends the invalid `cases`, as the raw messages `sent`, through the ingest
/// operator from the raw topic of `format` (`xapi`, `caliper`), and checks
/// that each produced no event and one dead letter: its own bytes (the
/// statement, or the rejected event of the envelope), its Kafka origin and
/// its reason code at its path. Returns the mismatches.
pub async fn through_the_operator(cases: &[Case], sent: Vec<Vec<u8>>, format: &str) -> Vec<String> {
    let (events, dead) = match format {
        "xapi" => common::ingest(sent, vec![]).await,
        _ => common::ingest(vec![], sent).await,
    };
    let mut mismatches = Vec::new();
    if !events.is_empty() || dead.len() != cases.len() {
        mismatches.push(format!(
            "{} events and {} dead letters for {} invalid inputs",
            events.len(),
            dead.len(),
            cases.len()
        ));
    }
    let topic = format!("raw.{format}");
    for (i, (case, d)) in cases.iter().zip(&dead).enumerate() {
        let Expect::Invalid { code, path } = case.expect else {
            continue;
        };
        let own_bytes = serde_json::from_slice::<Value>(&d.payload).is_ok_and(|v| v == case.doc);
        let ok = own_bytes
            && d.format == format
            && d.origin.kind == OriginKind::Kafka
            && d.origin.topic.as_deref() == Some(topic.as_str())
            && d.origin.offset == Some(i as i64)
            && d.problems.iter().any(|p| p.code == code && p.path == path);
        if !ok {
            mismatches.push(format!("{}: dead letter {d:?}", case.name));
        }
    }
    mismatches
}

/// Compares what came out with what was expected: `found` is `None` for an
/// accepted input, else its (code, path) problems. Returns the mismatch.
pub fn verdict(case: &Case, found: Option<&[(String, String)]>) -> Option<String> {
    match (case.expect, found) {
        (Expect::Valid, None) => None,
        (Expect::Valid, Some(p)) => Some(format!("{}: expected valid, got {p:?}", case.name)),
        (Expect::Invalid { code, path }, None) => Some(format!(
            "{}: expected {code} at {path}, but it was accepted",
            case.name
        )),
        (Expect::Invalid { code, path }, Some(p)) => {
            (!p.iter().any(|(c, at)| c == code && at == path))
                .then(|| format!("{}: expected {code} at {path}, got {p:?}", case.name))
        }
    }
}

/// Panics listing every mismatch, if any.
pub fn assert_all(what: &str, mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{what}: {} case(s) wrong:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
