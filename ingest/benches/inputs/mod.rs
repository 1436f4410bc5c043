//! The inputs of the ingest benchmarks: realistic xAPI statements and
//! Caliper envelopes, numbered so that ids and actors differ.

use std::hint::black_box;

use lap_ingest::caliper::Item;
use lap_ingest::read;
use lap_runtime::config::IngestConfig;
use serde_json::json;

/// Statement `i`: ~1 KB, with context and result, like an LMS sends.
pub fn xapi_statement(i: usize) -> String {
    json!({
        "id": format!("3f1c0b2a-5d4e-4f6a-9b8c-{i:012}"),
        "actor": {"objectType": "Agent", "name": "Learner", "account": {"homePage": "https://lms.example.org", "name": format!("s-{i}")}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/scored", "display": {"en-US": "scored", "ja-JP": "採点された"}},
        "object": {"objectType": "Activity", "id": "https://lms.example.org/courses/math-7/quizzes/fractions-2",
            "definition": {"name": {"en-US": "Fractions quiz 2"}, "description": {"en-US": "Adding and subtracting fractions with unlike denominators"},
                "type": "http://adlnet.gov/expapi/activities/assessment", "interactionType": "choice"}},
        "result": {"score": {"scaled": 0.8, "raw": 16, "min": 0, "max": 20}, "success": true, "completion": true, "duration": "PT12M30S",
            "extensions": {"https://lms.example.org/xapi/attempt": 2}},
        "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "platform": "Example LMS", "language": "en-US",
            "contextActivities": {"parent": [{"id": "https://sis.example.org/classes/7b-math"}],
                "grouping": [{"id": "https://sis.example.org/courses/math-7"}],
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}]},
            "extensions": {"https://lap-analytics.org/xapi/extensions/due-time": "2024-03-08T23:59:00Z"}},
        "timestamp": "2024-03-05T10:41:07.114+09:00",
        "version": "1.0.3"
    })
    .to_string()
}

/// Envelope `i`: one AssessmentEvent of ~1.4 KB with its context entities.
pub fn caliper_envelope(i: usize) -> String {
    json!({"sensor": "https://example.edu/sensors/1", "sendTime": "2024-03-05T01:41:08.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "data": [{"@context": "http://purl.imsglobal.org/ctx/caliper/v1p2", "id": format!("urn:uuid:a50ca17f-5971-47bb-8fca-{i:012}"),
            "type": "AssessmentEvent", "profile": "AssessmentProfile",
            "actor": {"id": format!("https://example.edu/users/{i}"), "type": "Person"}, "action": "Submitted",
            "object": {"id": "https://example.edu/terms/2024/courses/7/sections/1/assess/2", "type": "Assessment", "name": "Fractions quiz 2",
                "dateToSubmit": "2024-03-08T14:59:00.000Z", "maxScore": 20.0, "version": "1.0"},
            "generated": {"id": format!("https://example.edu/attempts/{i}"), "type": "Attempt", "count": 2,
                "startedAtTime": "2024-03-05T01:28:37.000Z", "endedAtTime": "2024-03-05T01:41:07.000Z", "duration": "PT12M30S"},
            "eventTime": "2024-03-05T01:41:07.114Z",
            "edApp": {"id": "https://example.edu", "type": "SoftwareApplication"},
            "group": {"id": "https://example.edu/terms/2024/courses/7/sections/1", "type": "CourseSection", "courseNumber": "MATH-7"},
            "membership": {"id": "https://example.edu/terms/2024/courses/7/sections/1/rosters/1", "type": "Membership",
                "member": format!("https://example.edu/users/{i}"), "organization": "https://example.edu/terms/2024/courses/7/sections/1",
                "roles": ["Learner"], "status": "Active"},
            "session": {"id": "https://example.edu/sessions/1f6442a482de72ea6ad134943812bff564a76259", "type": "Session"}}]})
    .to_string()
}

/// One statement's work: parse, validate, normalise, Avro-encode into `buf`.
pub fn ingest_xapi(statement: &[u8], cfg: &IngestConfig, buf: &mut Vec<u8>) {
    let recs = read::xapi_message(statement, Some("1.0.3"), cfg, 0, &|_| String::new()).unwrap();
    for r in recs {
        buf.clear();
        lap_schemas::encode_into(&r.outcome.unwrap().event, buf).unwrap();
        black_box(&buf);
    }
}

/// One envelope's work: the same for each event in it.
pub fn ingest_caliper(envelope: &[u8], cfg: &IngestConfig, buf: &mut Vec<u8>) {
    let env = read::caliper_message(envelope, cfg, 0).unwrap();
    for item in env.items {
        let Item::Event(e) = item else {
            panic!("event expected")
        };
        buf.clear();
        lap_schemas::encode_into(&e.event, buf).unwrap();
        black_box(&buf);
    }
}
