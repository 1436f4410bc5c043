//! Acts written as xAPI statements and Caliper events, the way an LMS
//! would send them, with the identifiers the roster knows.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::activity::{Act, Kind, Presence, QUIZ_POINTS};
use crate::plan::{Learner, Plan};
use crate::rng::Rng;

/// Where xAPI account names live.
pub const ACCOUNT_HOME: &str = "https://sis.lap-demo.example";
/// IRI prefix of classes in xAPI context activities.
pub const XAPI_CLASSES: &str = "https://sis.lap-demo.example/classes/";
/// IRI prefix of Caliper people.
pub const CALIPER_USERS: &str = "https://lms.lap-demo.example/users/";
/// IRI prefix of Caliper course sections.
pub const CALIPER_SECTIONS: &str = "https://lms.lap-demo.example/sections/";
/// lap's documented xAPI extension for a due time.
pub const DUE_TIME_EXTENSION: &str = "https://lap-analytics.org/xapi/extensions/due-time";

/// An RFC 3339 UTC time with milliseconds, as both standards accept.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn verb(id: &str, word: &str) -> Value {
    json!({"id": id, "display": {"en-US": word}})
}

fn activity(id: &str, kind: &str, name: &str) -> Value {
    json!({"objectType": "Activity", "id": id,
           "definition": {"type": kind, "name": {"en-US": name}}})
}

/// The xAPI actor of a learner: an account, or (some 2.0 senders) an mbox.
pub fn xapi_actor(learner: &Learner, version: &str) -> Value {
    if version.starts_with("2.") && learner.by_mbox {
        json!({"objectType": "Agent", "mbox": format!("mailto:{}@school.lap-demo.example", learner.username)})
    } else {
        json!({"objectType": "Agent", "account": {"homePage": ACCOUNT_HOME, "name": learner.username}})
    }
}

/// An xAPI statement of `act` in `version` (`1.0.3` or `2.0.0`).
pub fn xapi(plan: &Plan, act: &Act, version: &str, rng: &mut Rng) -> Value {
    let class = &plan.classes[act.class];
    let mut context = json!({
        "platform": "Lap Demo LMS",
        "contextActivities": {
            "parent": [{"objectType": "Activity", "id": format!("{XAPI_CLASSES}{}", class.id)}]
        }
    });
    let (verb, object, result) = match &act.kind {
        Kind::Attendance(p) => {
            let (id, word) = match p {
                Presence::Attended => ("http://adlnet.gov/expapi/verbs/attended", "attended"),
                Presence::Tardy => ("https://lap-analytics.org/xapi/verbs/tardy", "tardy"),
                Presence::Absent => ("https://lap-analytics.org/xapi/verbs/absent", "absent"),
            };
            let lesson = format!(
                "{XAPI_CLASSES}{}/lessons/{}",
                class.id,
                act.time.date_naive()
            );
            (
                verb(id, word),
                activity(
                    &lesson,
                    "http://adlnet.gov/expapi/activities/meeting",
                    "Lesson",
                ),
                None,
            )
        }
        Kind::View { resource, minutes } => (
            verb("http://id.tincanapi.com/verb/viewed", "viewed"),
            activity(
                resource,
                "http://id.tincanapi.com/activitytype/resource",
                "Lesson material",
            ),
            Some(json!({"duration": format!("PT{minutes}M")})),
        ),
        Kind::Quiz {
            quiz,
            points,
            objective,
        } => {
            let passed = *points * 10 >= QUIZ_POINTS * 6;
            let (id, word) = if passed {
                ("http://adlnet.gov/expapi/verbs/passed", "passed")
            } else {
                ("http://adlnet.gov/expapi/verbs/failed", "failed")
            };
            context["contextActivities"]["other"] = json!([activity(
                objective,
                "http://adlnet.gov/expapi/activities/objective",
                "Objective"
            )]);
            (
                verb(id, word),
                activity(
                    quiz,
                    "http://adlnet.gov/expapi/activities/assessment",
                    "Quiz",
                ),
                Some(json!({
                    "score": {"raw": points, "min": 0, "max": QUIZ_POINTS,
                              "scaled": f64::from(*points) / f64::from(QUIZ_POINTS)},
                    "success": passed, "completion": true,
                    "duration": format!("PT{}M", 8 + points % 7)
                })),
            )
        }
        Kind::Submit { assignment, due } => {
            context["extensions"] = json!({ DUE_TIME_EXTENSION: time(*due) });
            (
                verb("http://activitystrea.ms/schema/1.0/submit", "submitted"),
                activity(
                    assignment,
                    "http://adlnet.gov/expapi/activities/assessment",
                    "Assignment",
                ),
                Some(json!({"completion": true})),
            )
        }
        Kind::Answer { item, value } => (
            verb("http://adlnet.gov/expapi/verbs/answered", "answered"),
            activity(
                item,
                "http://adlnet.gov/expapi/activities/cmi.interaction",
                "Check-in question",
            ),
            Some(json!({"response": value.to_string()})),
        ),
    };
    let mut s = json!({
        "id": rng.uuid().to_string(),
        "actor": xapi_actor(&plan.learners[act.learner], version),
        "verb": verb,
        "object": object,
        "context": context,
        "timestamp": time(act.time),
        "version": version,
    });
    if let Some(r) = result {
        s["result"] = r;
    }
    s
}

/// The Caliper context IRI of `version` (`1.1` or `1.2`).
pub fn caliper_context(version: &str) -> &'static str {
    if version == "1.1" {
        "http://purl.imsglobal.org/ctx/caliper/v1p1"
    } else {
        "http://purl.imsglobal.org/ctx/caliper/v1p2"
    }
}

/// The Caliper events of `act` (none for attendance and answers, which
/// the generator always sends as xAPI).
pub fn caliper(plan: &Plan, act: &Act, version: &str, rng: &mut Rng) -> Vec<Value> {
    let class = &plan.classes[act.class];
    let learner = &plan.learners[act.learner];
    let person = format!("{CALIPER_USERS}{}", learner.id);
    let section = format!("{CALIPER_SECTIONS}{}", class.id);
    let mut event = |kind: &str, profile: &str, action: &str, object: Value, extra: Value| {
        let mut e = json!({
            "@context": caliper_context(version),
            "id": format!("urn:uuid:{}", rng.uuid()),
            "type": kind,
            "actor": {"id": person, "type": "Person"},
            "action": action,
            "object": object,
            "eventTime": time(act.time),
            "edApp": {"id": "https://lms.lap-demo.example", "type": "SoftwareApplication"},
            "group": {"id": section, "type": "CourseSection", "name": class.title},
        });
        if version != "1.1" {
            e["profile"] = json!(profile);
        }
        if let (Value::Object(e), Value::Object(extra)) = (&mut e, extra) {
            e.extend(extra);
        }
        e
    };
    match &act.kind {
        Kind::Attendance(_) | Kind::Answer { .. } => Vec::new(),
        Kind::View { resource, minutes } => vec![event(
            "ViewEvent",
            "ReadingProfile",
            "Viewed",
            json!({"id": resource, "type": "DigitalResource", "name": "Lesson material"}),
            json!({"extensions": {"https://lms.lap-demo.example/minutes": minutes}}),
        )],
        Kind::Quiz {
            quiz,
            points,
            objective,
        } => {
            let assessment = json!({"id": quiz, "type": "Assessment", "name": "Quiz",
                "maxScore": f64::from(QUIZ_POINTS),
                "learningObjectives": [{"id": objective, "type": "LearningObjective"}]});
            let attempt = json!({"id": format!("{quiz}/attempts/{}", learner.id), "type": "Attempt",
                "assignee": person, "assignable": quiz, "count": 1});
            let submitted = event(
                "AssessmentEvent",
                "AssessmentProfile",
                "Submitted",
                assessment.clone(),
                json!({"generated": attempt.clone()}),
            );
            let graded = event(
                "GradeEvent",
                "GradingProfile",
                "Graded",
                attempt,
                json!({"generated": {"id": format!("{quiz}/scores/{}", learner.id), "type": "Score",
                    "maxScore": f64::from(QUIZ_POINTS), "scoreGiven": f64::from(*points)}}),
            );
            // Passing a quiz completes its objective.
            let mut out = vec![submitted, graded];
            if *points * 10 >= QUIZ_POINTS * 6 {
                out.push(event(
                    "AssignableEvent",
                    "AssignableProfile",
                    "Completed",
                    json!({"id": quiz, "type": "AssignableDigitalResource", "name": "Quiz",
                        "learningObjectives": [{"id": objective, "type": "LearningObjective"}]}),
                    json!({}),
                ));
            }
            out
        }
        Kind::Submit { assignment, due } => vec![event(
            "AssignableEvent",
            "AssignableProfile",
            "Submitted",
            json!({"id": assignment, "type": "AssignableDigitalResource", "name": "Assignment",
                "dateToSubmit": time(*due)}),
            json!({}),
        )],
    }
}

/// A Caliper envelope around `events`, sent at `sent`.
pub fn envelope(events: Vec<Value>, version: &str, sent: DateTime<Utc>) -> Value {
    json!({
        "sensor": "https://lms.lap-demo.example/sensors/1",
        "sendTime": time(sent),
        "dataVersion": caliper_context(version),
        "data": events,
    })
}
