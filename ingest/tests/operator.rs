//! The ingest operator end to end over the in-memory transport: bad records
//! are dead-lettered one by one with their bytes and origin, good ones in
//! the same message go on, duplicates count once, conflicts and voided
//! voids are rejected, and the stage keeps running.

mod common;

use common::ingest;
use lap_ingest::operator::positional_id;
use lap_schemas::{Action, OriginKind};
use serde_json::json;

fn statement(id: &str, duration: &str) -> serde_json::Value {
    json!({"id": id, "actor": {"mbox": "mailto:ann@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
           "object": {"id": "https://lms.example.org/a/1"}, "result": {"duration": duration}, "timestamp": "2024-03-01T08:00:00Z"})
}

#[tokio::test]
async fn one_bad_statement_in_an_array_is_dead_lettered_alone() {
    let bad = json!({"actor": {"mbox": "mailto:b@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/scored"},
                     "object": {"id": "https://lms.example.org/quiz"}, "result": {"score": {"scaled": 7}}});
    let good1 = statement("9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a01", "PT5M");
    let good2 = statement("9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a02", "PT6M");
    let message = format!("[{good1}, {bad} , {good2}]");
    let (events, dead) = ingest(vec![message.into_bytes(), b"{not json".to_vec()], vec![]).await;
    assert_eq!(events.len(), 2, "the good statements go on");
    assert_eq!(dead.len(), 2);
    let d = &dead[0];
    assert_eq!(d.error_code, "xapi.score.scaled_range");
    assert_eq!(d.message, "$.result.score.scaled: 7 is outside [-1, 1]");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&d.payload).unwrap(),
        bad,
        "exactly the bad statement's bytes"
    );
    assert_eq!(
        (
            d.origin.kind,
            d.origin.topic.as_deref(),
            d.origin.offset,
            d.origin.index
        ),
        (OriginKind::Kafka, Some("raw.xapi"), Some(0), Some(1))
    );
    assert_eq!(dead[1].error_code, "json.syntax");
    assert_eq!(dead[1].payload, b"{not json");
}

#[tokio::test]
async fn duplicates_count_once_and_conflicts_are_rejected() {
    let id = "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a03";
    let first = statement(id, "PT120S").to_string();
    let same = statement(id, "PT2M").to_string();
    let different = statement(id, "PT3M").to_string();
    let (events, dead) = ingest(
        vec![
            first.into_bytes(),
            same.into_bytes(),
            different.into_bytes(),
        ],
        vec![],
    )
    .await;
    assert_eq!(events.len(), 1, "PT120S and PT2M are the same statement");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].error_code, "xapi.conflict");
}

#[tokio::test]
async fn a_voiding_statement_cannot_be_voided_but_a_missing_target_is_fine() {
    let void = |id: &str, target: &str| {
        json!({"id": id, "actor": {"mbox": "mailto:t@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
               "object": {"objectType": "StatementRef", "id": target}})
        .to_string()
        .into_bytes()
    };
    let v1 = "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a10";
    let v2 = "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2a11";
    let (events, dead) = ingest(
        vec![
            void(v1, "9f5e2a30-0c1b-4a51-8a8e-4f2b3b0e2aff"),
            void(v2, v1),
        ],
        vec![],
    )
    .await;
    assert_eq!(events.len(), 1, "voiding an unknown statement is accepted");
    assert_eq!(events[0].action, Action::Voided);
    assert_eq!(dead[0].error_code, "xapi.voiding.voiding_target");
}

#[tokio::test]
async fn statements_without_id_get_the_same_id_on_replay() {
    let no_id = json!({"actor": {"mbox": "mailto:ann@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
                       "object": {"id": "https://sis.example.org/sessions/2024-03-01"}}).to_string();
    let (first, _) = ingest(vec![no_id.clone().into_bytes()], vec![]).await;
    let (again, _) = ingest(vec![no_id.into_bytes()], vec![]).await;
    assert_eq!(first[0].event_id, again[0].event_id);
    assert_eq!(first[0].event_id, positional_id("raw.xapi", 0, 0, 0));
    assert_eq!(first[0].action, Action::Attended);
}

#[tokio::test]
async fn caliper_envelopes_with_a_bad_event_keep_the_good_ones() {
    let ev = |id: &str, action: &str| {
        json!({"@context": "http://purl.imsglobal.org/ctx/caliper/v1p2", "id": format!("urn:uuid:{id}"), "type": "ViewEvent",
               "actor": {"id": "https://example.edu/users/1", "type": "Person"}, "action": action,
               "object": {"id": "https://example.edu/docs/1", "type": "Document"}, "eventTime": "2024-03-01T08:00:00.000Z"})
    };
    let envelope = json!({"sensor": "https://example.edu/sensor", "sendTime": "2024-03-01T08:00:01.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "data": [ev("0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d", "Viewed"), ev("0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2e", "Submitted")]});
    let (events, dead) = ingest(vec![], vec![envelope.to_string().into_bytes()]).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, Action::Viewed);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].error_code, "caliper.action.not_allowed");
    assert_eq!(dead[0].origin.index, Some(1));
}
