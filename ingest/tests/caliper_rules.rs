//! Caliper envelope and event rules, each with a failing and a passing input
//! written from the Caliper 1.1 and 1.2 specifications.

use lap_ingest::caliper::{Item, is_unsupported_version, parse_envelope};
use lap_schemas::Action;
use serde_json::{Value, json};

const V12: &str = "http://purl.imsglobal.org/ctx/caliper/v1p2";
const V11: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1";

fn event() -> Value {
    json!({
        "@context": V12,
        "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c",
        "type": "AssessmentEvent",
        "profile": "AssessmentProfile",
        "actor": {"id": "https://example.edu/users/554433", "type": "Person"},
        "action": "Submitted",
        "object": {"id": "https://example.edu/terms/201801/courses/7/sections/1/assess/1", "type": "Assessment",
                   "name": "Quiz One", "dateToSubmit": "2018-11-18T11:59:59.000Z",
                   "learningObjectives": [{"id": "https://example.edu/objectives/fractions", "type": "LearningObjective"}]},
        "eventTime": "2018-11-15T10:25:30.000Z",
        "edApp": {"id": "https://example.edu", "type": "SoftwareApplication"},
        "group": {"id": "https://example.edu/terms/201801/courses/7/sections/1", "type": "CourseSection",
                  "subOrganizationOf": {"id": "https://example.edu/terms/201801/courses/7", "type": "CourseOffering"}},
        "membership": {"id": "https://example.edu/terms/201801/courses/7/sections/1/rosters/1", "type": "Membership",
                       "member": "https://example.edu/users/554433", "organization": "https://example.edu/terms/201801/courses/7/sections/1",
                       "roles": ["Learner"], "status": "Active"},
        "session": {"id": "https://example.edu/sessions/1f6442a482de72ea6ad134943812bff564a76259", "type": "Session"}
    })
}

fn envelope(data: Vec<Value>) -> Value {
    json!({"sensor": "https://example.edu/sensors/1", "sendTime": "2018-11-15T10:26:00.000Z", "dataVersion": V12, "data": data})
}

type Outcome = Result<
    Vec<Result<Option<lap_schemas::LearningEvent>, Vec<(String, String)>>>,
    Vec<(String, String)>,
>;

/// Per item: Ok(Some(event)), Ok(None) for an entity, Err(problems).
fn run(env: &Value) -> Outcome {
    let text = env.to_string();
    let parsed = parse_envelope(text.as_bytes(), 32, 0).map_err(|p| {
        p.0.into_iter()
            .map(|p| (p.code.to_string(), p.path))
            .collect::<Vec<_>>()
    })?;
    Ok(parsed
        .items
        .into_iter()
        .map(|i| match i {
            Item::Event(e) => Ok(Some(e.event)),
            Item::Entity => Ok(None),
            Item::Rejected { problems, .. } => Err(problems
                .0
                .into_iter()
                .map(|p| (p.code.to_string(), p.path))
                .collect()),
        })
        .collect())
}

fn ok_event(ev: Value) -> lap_schemas::LearningEvent {
    let items = run(&envelope(vec![ev])).unwrap_or_else(|p| panic!("envelope rejected: {p:?}"));
    items
        .into_iter()
        .next()
        .unwrap()
        .unwrap_or_else(|p| panic!("event rejected: {p:?}"))
        .expect("an event")
}

fn event_rejected(ev: Value, code: &str, path: &str) {
    let items = run(&envelope(vec![ev])).unwrap_or_else(|p| panic!("envelope rejected: {p:?}"));
    let problems = items
        .into_iter()
        .next()
        .unwrap()
        .expect_err("event should be rejected");
    assert!(
        problems.iter().any(|(c, p)| c == code && p == path),
        "expected {code} at {path}, got {problems:?}"
    );
}

fn envelope_rejected(env: Value, code: &str, path: &str) {
    let problems = run(&env).expect_err("envelope should be rejected");
    assert!(
        problems.iter().any(|(c, p)| c == code && p == path),
        "expected {code} at {path}, got {problems:?}"
    );
}

fn set(mut v: Value, key: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(key.into(), value);
    v
}

fn unset(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[test]
fn envelope_requires_its_four_properties_and_nothing_else() {
    ok_event(event());
    for key in ["sensor", "sendTime", "dataVersion", "data"] {
        envelope_rejected(
            unset(envelope(vec![event()]), key),
            "caliper.property.missing",
            &format!("$.{key}"),
        );
    }
    envelope_rejected(
        set(envelope(vec![event()]), "@context", json!(V12)),
        "caliper.property.unknown",
        "$.@context",
    );
}

#[test]
fn send_time_is_utc_with_milliseconds() {
    envelope_rejected(
        set(
            envelope(vec![event()]),
            "sendTime",
            json!("2018-11-15T10:26:00Z"),
        ),
        "caliper.send_time",
        "$.sendTime",
    );
    envelope_rejected(
        set(
            envelope(vec![event()]),
            "sendTime",
            json!("2018-11-15T11:26:00.000+01:00"),
        ),
        "caliper.send_time",
        "$.sendTime",
    );
}

#[test]
fn unsupported_data_version_has_its_own_error() {
    let env = set(
        envelope(vec![event()]),
        "dataVersion",
        json!("http://purl.imsglobal.org/ctx/caliper/v1p0"),
    );
    let text = env.to_string();
    let problems = parse_envelope(text.as_bytes(), 32, 0).unwrap_err();
    assert!(is_unsupported_version(&problems), "{problems:?}");
    assert_eq!(problems.0[0].code, "caliper.data_version.unsupported");
    assert!(
        problems.0[0].message.contains("v1p1"),
        "{}",
        problems.0[0].message
    );
}

#[test]
fn data_must_not_be_empty() {
    envelope_rejected(envelope(vec![]), "caliper.data.empty", "$.data");
}

#[test]
fn event_ids_are_urn_uuids() {
    event_rejected(
        set(event(), "id", json!("3a648e68-f00d-4c08-aa59-8738e1884f2c")),
        "caliper.event.id",
        "$.data[0].id",
    );
    assert_eq!(
        ok_event(event()).event_id,
        "3a648e68-f00d-4c08-aa59-8738e1884f2c"
    );
}

#[test]
fn required_event_properties() {
    for key in ["@context", "id", "actor", "object", "eventTime"] {
        event_rejected(
            unset(event(), key),
            "caliper.property.missing",
            &format!("$.data[0].{key}"),
        );
    }
}

#[test]
fn the_action_must_be_allowed_for_the_event_type() {
    event_rejected(
        set(event(), "action", json!("Graded")),
        "caliper.action.not_allowed",
        "$.data[0].action",
    );
    let q = set(
        set(
            set(event(), "type", json!("QuestionnaireItemEvent")),
            "action",
            json!("Submitted"),
        ),
        "profile",
        json!("SurveyProfile"),
    );
    event_rejected(q, "caliper.action.not_allowed", "$.data[0].action");
    let s = json!({"@context": V12, "id": "urn:uuid:ff9ec22a-fc59-4ae1-ae8d-2c9463ee2f8f", "type": "SessionEvent", "profile": "SessionProfile",
        "actor": {"id": "https://example.edu/users/554433", "type": "Person"}, "action": "LoggedIn",
        "object": {"id": "https://example.edu", "type": "SoftwareApplication"}, "eventTime": "2018-11-15T10:15:00.000Z"});
    assert_eq!(ok_event(s.clone()).action, Action::LoggedIn);
    event_rejected(
        set(s, "action", json!("Started")),
        "caliper.action.not_allowed",
        "$.data[0].action",
    );
}

#[test]
fn event_types_depend_on_the_version() {
    event_rejected(
        set(event(), "type", json!("ReadingEvent")),
        "caliper.event.type",
        "$.data[0].type",
    );
    // QuestionnaireItemEvent is 1.2 only; ReadingEvent is 1.1 (deprecated) only.
    let mut env = envelope(vec![unset(
        set(
            set(event(), "type", json!("QuestionnaireItemEvent")),
            "action",
            json!("Started"),
        ),
        "profile",
    )]);
    env["dataVersion"] = json!(V11);
    let items = run(&env).unwrap();
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .iter()
            .any(|(c, _)| c == "caliper.event.type")
    );
    let mut env = envelope(vec![set(
        unset(
            set(
                set(event(), "type", json!("ReadingEvent")),
                "action",
                json!("Viewed"),
            ),
            "profile",
        ),
        "@context",
        json!(V11),
    )]);
    env["dataVersion"] = json!(V11);
    assert!(run(&env).unwrap()[0].is_ok(), "1.1 ReadingEvent accepted");
}

#[test]
fn profiles_are_checked_against_the_event_type() {
    event_rejected(
        set(event(), "profile", json!("WellbeingProfile")),
        "caliper.profile.unknown",
        "$.data[0].profile",
    );
    event_rejected(
        set(event(), "profile", json!("SessionProfile")),
        "caliper.profile.event_type",
        "$.data[0].profile",
    );
    ok_event(unset(event(), "profile"));
    // 1.1 has no profile property at all.
    let mut env = envelope(vec![set(event(), "@context", json!(V11))]);
    env["dataVersion"] = json!(V11);
    assert!(
        run(&env).unwrap()[0]
            .as_ref()
            .unwrap_err()
            .iter()
            .any(|(c, p)| c == "caliper.property.unknown" && p == "$.data[0].profile")
    );
}

#[test]
fn entities_given_as_objects_need_an_iri_id_and_a_type() {
    event_rejected(
        set(event(), "object", json!({"type": "Assessment"})),
        "caliper.property.missing",
        "$.data[0].object.id",
    );
    event_rejected(
        set(
            event(),
            "object",
            json!({"id": "quiz one", "type": "Assessment"}),
        ),
        "caliper.entity.id",
        "$.data[0].object.id",
    );
    event_rejected(
        set(event(), "edApp", json!({"id": "https://example.edu"})),
        "caliper.property.missing",
        "$.data[0].edApp.type",
    );
    // Thinned: an IRI stands for the entity.
    ok_event(set(
        event(),
        "object",
        json!("https://example.edu/terms/201801/courses/7/sections/1/assess/1"),
    ));
}

#[test]
fn actors_are_agents() {
    event_rejected(
        set(
            event(),
            "actor",
            json!({"id": "https://example.edu/doc/1", "type": "Document"}),
        ),
        "caliper.actor.type",
        "$.data[0].actor.type",
    );
}

#[test]
fn event_time_is_utc_with_milliseconds() {
    event_rejected(
        set(event(), "eventTime", json!("2018-11-15T10:25:30")),
        "caliper.event_time",
        "$.data[0].eventTime",
    );
}

#[test]
fn custom_properties_belong_in_extensions() {
    event_rejected(
        set(event(), "mood", json!("calm")),
        "caliper.property.unknown",
        "$.data[0].mood",
    );
    let e = ok_event(set(event(), "extensions", json!({"mood": "calm"})));
    assert_eq!(e.extensions.as_deref(), Some("{\"mood\":\"calm\"}"));
}

#[test]
fn context_must_be_the_caliper_context() {
    event_rejected(
        set(event(), "@context", json!("http://schema.org")),
        "caliper.context",
        "$.data[0].@context",
    );
    ok_event(set(
        event(),
        "@context",
        json!([{"query": "http://schema.org/query"}, V12]),
    ));
}

#[test]
fn one_bad_event_in_a_batch_is_rejected_alone_with_its_own_bytes() {
    let good = event();
    let bad = set(event(), "action", json!("Graded"));
    let text = envelope(vec![good, bad.clone()]).to_string();
    let parsed = parse_envelope(text.as_bytes(), 32, 0).unwrap();
    assert!(matches!(parsed.items[0], Item::Event(_)));
    match &parsed.items[1] {
        Item::Rejected { index, bytes, .. } => {
            assert_eq!(*index, 1);
            let back: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(back, bad, "the dead letter carries exactly the bad event");
        }
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn entity_describes_are_accepted_without_events() {
    let person =
        json!({"@context": V12, "id": "https://example.edu/users/554433", "type": "Person"});
    assert!(matches!(run(&envelope(vec![person])).unwrap()[0], Ok(None)));
    let broken = json!({"@context": V12, "type": "Person"});
    assert!(run(&envelope(vec![broken])).unwrap()[0].is_err());
}

#[test]
fn normalisation_of_context_due_date_and_objectives() {
    let e = ok_event(event());
    assert_eq!(e.action, Action::Submitted);
    assert_eq!(e.spec_version, "1.2");
    assert_eq!(e.due_time, Some(1_542_542_399_000_000));
    assert_eq!(
        e.context.class_refs,
        [
            "https://example.edu/terms/201801/courses/7/sections/1",
            "https://example.edu/terms/201801/courses/7"
        ]
    );
    assert_eq!(e.context.roles, ["Learner"]);
    assert_eq!(
        e.context.objective_ids,
        ["https://example.edu/objectives/fractions"]
    );
    assert_eq!(e.context.platform.as_deref(), Some("https://example.edu"));
}

#[test]
fn grades_become_scaled_scores() {
    let g = json!({"@context": V12, "id": "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d", "type": "GradeEvent", "profile": "GradingProfile",
        "actor": {"id": "https://example.edu/autograder", "type": "SoftwareApplication"}, "action": "Graded",
        "object": {"id": "https://example.edu/attempts/1", "type": "Attempt", "assignable": {"id": "https://example.edu/assess/1", "type": "Assessment", "dateToSubmit": "2018-11-18T11:59:59.000Z"}},
        "generated": {"id": "https://example.edu/scores/1", "type": "Score", "scoreGiven": 12.0, "maxScore": 15.0},
        "eventTime": "2018-11-15T10:57:06.000Z"});
    let e = ok_event(g);
    let r = e.result.unwrap();
    assert_eq!(
        (r.score_raw, r.score_max, r.score_scaled),
        (Some(12.0), Some(15.0), Some(0.8))
    );
    assert_eq!(
        e.due_time,
        Some(1_542_542_399_000_000),
        "due date of the attempt's assignable"
    );
}

#[test]
fn likert_answers_use_the_scale_value() {
    let q = json!({"@context": V12, "id": "urn:uuid:c51570e4-f8ed-4c18-bb3a-dfe51b2cc594", "type": "QuestionnaireItemEvent", "profile": "SurveyProfile",
        "actor": {"id": "https://example.edu/users/554433", "type": "Person"}, "action": "Completed",
        "object": {"id": "https://example.edu/surveys/wellbeing/items/3", "type": "QuestionnaireItem",
            "question": {"id": "https://example.edu/surveys/wellbeing/items/3/question", "type": "RatingScaleQuestion",
                "scale": {"id": "https://example.edu/scale/1", "type": "LikertScale", "scalePoints": 4,
                    "itemLabels": ["Strongly Disagree", "Disagree", "Agree", "Strongly Agree"], "itemValues": ["1", "2", "3", "4"]}}},
        "generated": {"id": "https://example.edu/responses/9", "type": "RatingScaleResponse", "selections": ["Agree"], "duration": "PT12S"},
        "eventTime": "2018-11-12T10:15:00.000Z"});
    let e = ok_event(q);
    let r = e.result.unwrap();
    assert_eq!(r.response.as_deref(), Some("3"));
    assert_eq!(r.duration_ms, Some(12_000));
    assert_eq!(e.object.id, "https://example.edu/surveys/wellbeing/items/3");
}
