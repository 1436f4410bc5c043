//! Robustness of both parsers against arbitrary input (issue: "no panic,
//! every input either accepted or dead-lettered"). Property tests generate
//! arbitrary JSON built from the specs' own property names and typical
//! values, mutate valid statements and envelopes at random places, and
//! corrupt raw bytes. Every outcome must be an accepted record or a
//! rejection carrying a stable code and a JSON path; through the operator,
//! every statement and envelope item must come out exactly once (event,
//! dead letter, counted duplicate or counted entity describe).

mod common;

use common::ingest_counted;
use lap_ingest::caliper::Item;
use lap_ingest::problem::Problems;
use lap_ingest::read::{caliper_message, xapi_message};
use lap_runtime::config::IngestConfig;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Property names of both specs, so generated objects hit real rules
/// rather than only the "unknown property" one.
const KEYS: &[&str] = &[
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
    "objectType",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
    "homePage",
    "name",
    "member",
    "display",
    "definition",
    "score",
    "scaled",
    "raw",
    "min",
    "max",
    "duration",
    "response",
    "success",
    "completion",
    "registration",
    "contextActivities",
    "parent",
    "grouping",
    "category",
    "other",
    "contextAgents",
    "contextGroups",
    "relevantTypes",
    "extensions",
    "statement",
    "sensor",
    "sendTime",
    "dataVersion",
    "data",
    "@context",
    "type",
    "action",
    "eventTime",
    "edApp",
    "group",
    "membership",
    "session",
    "generated",
    "profile",
    "dateToSubmit",
    "scoreGiven",
    "maxScore",
];

/// Values that are valid somewhere in the specs.
const STRINGS: &[&str] = &[
    "mailto:ann@example.org",
    "https://lms.example.org/a/1",
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/voided",
    "2024-03-01T08:00:00Z",
    "2024-03-01T08:00:00.000Z",
    "2024-03-01 08:00:00+01:00",
    "2024-03-01T08:00:00-00:00",
    "PT5M",
    "P1DT2H",
    "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a01",
    "urn:uuid:0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
    "Agent",
    "Group",
    "Activity",
    "SubStatement",
    "StatementRef",
    "en-US",
    "1.0.3",
    "2.0.0",
    "http://purl.imsglobal.org/ctx/caliper/v1p2",
    "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "AssessmentEvent",
    "Started",
    "Person",
    "CourseSection",
    "0123456789abcdef0123456789abcdef01234567",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-10.0f64..10.0).prop_map(Value::from),
        any::<f64>().prop_map(|f| Value::from(if f.is_finite() { f } else { 0.5 })),
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z:/._-]{0,10}",
    ]
}

/// Arbitrary JSON, up to a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn statement() -> Value {
    json!({
        "id": "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a01",
        "actor": {"objectType": "Agent", "name": "Ann", "account": {"homePage": "https://sis.example.org", "name": "ann"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/scored", "display": {"en-US": "scored"}},
        "object": {"objectType": "Activity", "id": "https://lms.example.org/quiz/1",
                   "definition": {"name": {"en-US": "Quiz"}, "type": "http://adlnet.gov/expapi/activities/assessment"}},
        "result": {"score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}, "success": true, "completion": true, "duration": "PT12M"},
        "context": {"registration": "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a99",
                    "contextActivities": {"parent": {"id": "https://lms.example.org/classes/7a"},
                                          "grouping": [{"id": "https://lms.example.org/courses/math"}]},
                    "extensions": {"https://example.org/ext": {"anything": [1, 2]}}},
        "timestamp": "2024-03-01T08:00:00Z",
        "version": "1.0.3"
    })
}

fn envelope() -> Value {
    json!({
        "sensor": "https://example.edu/sensor",
        "sendTime": "2024-03-01T08:00:01.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "data": [{
            "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
            "id": "urn:uuid:0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
            "type": "AssessmentEvent",
            "profile": "AssessmentProfile",
            "actor": {"id": "https://example.edu/users/1", "type": "Person"},
            "action": "Started",
            "object": {"id": "https://example.edu/quiz/1", "type": "Assessment", "dateToSubmit": "2024-03-08T08:00:00.000Z"},
            "eventTime": "2024-03-01T08:00:00.000Z",
            "group": {"id": "https://example.edu/sections/7a", "type": "CourseSection"}
        }, {"id": "https://example.edu/users/1", "type": "Person"}]
    })
}

/// Every node of `v` (depth-first), as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(p.clone());
            pointers(c, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(c, p, out);
        }),
        _ => {}
    }
}

/// Replaces (or, with `None`, deletes) the `pick`-th node of `doc`.
fn mutate(mut doc: Value, pick: usize, with: Option<Value>) -> Value {
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    let target = &all[pick % all.len()];
    match with {
        Some(v) => *doc.pointer_mut(target).expect("pointer from walk") = v,
        None => {
            let (parent, last) = target.rsplit_once('/').expect("non-root pointer");
            match doc.pointer_mut(parent).expect("pointer from walk") {
                Value::Object(m) => {
                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(a) => {
                    a.remove(last.parse::<usize>().expect("index"));
                }
                _ => unreachable!("parents are containers"),
            }
        }
    }
    doc
}

fn mutation() -> impl Strategy<Value = (usize, Option<Value>)> {
    (any::<usize>(), prop::option::weighted(0.8, json_value()))
}

/// A rejection must say what is wrong, where, with a stable code.
fn assert_coded(p: &Problems) {
    assert!(!p.0.is_empty(), "a rejection without a problem");
    for problem in &p.0 {
        assert!(
            !problem.code.is_empty()
                && problem.code.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'_'),
            "code {:?} is not a stable machine-readable code",
            problem.code
        );
        assert!(problem.path.starts_with('$'), "path {:?}", problem.path);
        assert!(!problem.message.is_empty());
    }
}

/// Runs both readers over `bytes`; panics (failing the property) on a
/// panic inside them or on an uncoded rejection.
fn check_both(bytes: &[u8]) {
    let cfg = IngestConfig::default();
    match xapi_message(bytes, None, &cfg, 1, &|i| format!("assigned-{i}")) {
        Ok(records) => records.iter().for_each(|r| {
            if let Err(p) = &r.outcome {
                assert_coded(p)
            }
        }),
        Err(p) => assert_coded(&p),
    }
    match caliper_message(bytes, &cfg, 1) {
        Ok(env) => env.items.iter().for_each(|item| {
            if let Item::Rejected { problems, .. } = item {
                assert_coded(problems)
            }
        }),
        Err(p) => assert_coded(&p),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_is_accepted_or_rejected_with_a_code(v in json_value()) {
        check_both(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn mutated_statements_and_envelopes_never_panic((pick, with) in mutation()) {
        check_both(&serde_json::to_vec(&mutate(statement(), pick, with.clone())).unwrap());
        check_both(&serde_json::to_vec(&mutate(envelope(), pick, with)).unwrap());
    }

    #[test]
    fn corrupted_bytes_never_panic(cut in any::<usize>(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4)) {
        for doc in [statement(), envelope()] {
            let mut bytes = serde_json::to_vec(&doc).unwrap();
            for (at, b) in &flips {
                let i = at % bytes.len();
                bytes[i] = *b;
            }
            check_both(&bytes);
            check_both(&bytes[..cut % bytes.len()]);
        }
    }
}

#[test]
fn deep_and_huge_inputs_have_their_own_codes() {
    let cfg = IngestConfig::default();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"actor\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    for bytes in [deep.as_bytes(), deep_obj.as_bytes()] {
        let code = |p: Problems| p.0[0].code;
        let x = match xapi_message(bytes, None, &cfg, 1, &|_| String::new()) {
            Err(p) => code(p),
            Ok(r) => code(r.into_iter().next().unwrap().outcome.unwrap_err()),
        };
        let c = code(caliper_message(bytes, &cfg, 1).unwrap_err());
        assert!(
            matches!(
                (x, c),
                (
                    "json.too_deep" | "input.too_large",
                    "json.too_deep" | "input.too_large"
                )
            ),
            "{x} / {c}"
        );
    }
    let huge = vec![b' '; cfg.max_message_bytes + 1];
    let err = xapi_message(&huge, None, &cfg, 1, &|_| String::new()).unwrap_err();
    assert_eq!(err.0[0].code, "input.too_large");
    assert_eq!(
        caliper_message(&huge, &cfg, 1).unwrap_err().0[0].code,
        "input.too_large"
    );
    let many = format!(
        "[{}]",
        vec!["{}"; cfg.max_statements_per_message + 1].join(",")
    );
    let err = xapi_message(many.as_bytes(), None, &cfg, 1, &|_| String::new()).unwrap_err();
    assert_eq!(err.0[0].code, "input.too_many");
}

/// What one raw xAPI message should turn into: one output per array
/// element, or one dead letter for a message that is not a usable array.
fn expected_xapi_outputs(bytes: &[u8]) -> usize {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(a)) if !a.is_empty() => a.len(),
        _ => 1,
    }
}

/// A mutated statement with an id of its own where the mutation left one,
/// so the accounting below sees duplicates only where they are real.
fn mutated_statement() -> impl Strategy<Value = Value> {
    (mutation(), any::<u32>()).prop_map(|((pick, with), n)| {
        let mut doc = mutate(statement(), pick, with);
        if let Some(Value::String(id)) = doc.get_mut("id")
            && id.len() == 36
        {
            id.replace_range(28.., &format!("{n:08x}"));
        }
        doc
    })
}

/// Raw xAPI messages: single mutated statements, arrays of them, garbage.
fn xapi_messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            3 => mutated_statement().prop_map(|d| serde_json::to_vec(&d).unwrap()),
            1 => prop::collection::vec(mutated_statement(), 0..4).prop_map(|a| serde_json::to_vec(&a).unwrap()),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ],
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Through the operator nothing is lost: every xAPI statement and every
    /// envelope item comes out as an event, a dead letter or a counted
    /// duplicate/describe; a rejected envelope is one dead letter.
    #[test]
    fn every_record_is_accepted_or_dead_lettered(
        xapi in xapi_messages(),
        caliper in prop::collection::vec(mutation(), 0..5),
    ) {
        let envelopes: Vec<Vec<u8>> = caliper
            .into_iter()
            .map(|(pick, with)| serde_json::to_vec(&mutate(envelope(), pick, with)).unwrap())
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let out = rt.block_on(ingest_counted(xapi.clone(), envelopes.clone()));

        let whole_envelopes: Vec<i64> = out
            .dead
            .iter()
            .filter(|d| d.origin.topic.as_deref() == Some("raw.caliper") && d.origin.index.is_none())
            .map(|d| d.origin.offset.expect("Kafka origin has an offset"))
            .collect();
        let caliper_expected: usize = envelopes
            .iter()
            .enumerate()
            .map(|(offset, bytes)| {
                if whole_envelopes.contains(&(offset as i64)) {
                    1
                } else {
                    serde_json::from_slice::<Value>(bytes).unwrap()["data"].as_array().unwrap().len()
                }
            })
            .sum();
        let expected = xapi.iter().map(|m| expected_xapi_outputs(m)).sum::<usize>() + caliper_expected;
        let produced = out.events.len() + out.dead.len() + (out.duplicates + out.entities) as usize;
        prop_assert_eq!(produced, expected);
        for d in &out.dead {
            prop_assert!(!d.payload.is_empty() || d.error_code.starts_with("json"), "{:?}", d);
        }
    }
}

/// Found by `mutated_statements_and_envelopes_never_panic`: a null entity
/// id was rejected without a reported problem.
#[test]
fn a_null_entity_id_is_reported() {
    let mut env = envelope();
    env["data"][0]["object"]["id"] = Value::Null;
    let cfg = IngestConfig::default();
    let bytes = serde_json::to_vec(&env).unwrap();
    let parsed = caliper_message(&bytes, &cfg, 1).unwrap();
    let Item::Rejected { problems, .. } = &parsed.items[0] else {
        panic!("{:?}", parsed.items[0])
    };
    assert_coded(problems);
    assert_eq!(problems.0[0].code, "caliper.property.null");
    assert_eq!(problems.0[0].path, "$.data[0].object.id");
}
