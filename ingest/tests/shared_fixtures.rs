//! Independent inputs from ../shared/fixtures: IMS's Caliper 1.2 examples
//! must all be accepted and mapped. Skipped, with the reason printed, when
//! the folder is absent (a fresh clone has no ../shared).

use std::path::PathBuf;

use lap_ingest::caliper::{Item, parse_envelope};
use lap_schemas::Action;
use serde_json::{Value, json};

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = std::env::var("LAP_SHARED_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (independent fixtures live beside the repository in ../shared)",
            dir.display()
        );
        None
    }
}

fn files(dir: &PathBuf, prefix: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn all_52_caliper_events_are_accepted_and_mapped() {
    let Some(dir) = shared("caliper-v1p2") else {
        return;
    };
    let events = files(&dir, "caliperEvent");
    assert_eq!(events.len(), 52, "the fixture set has 52 events");
    let mut mapped = Vec::new();
    for (name, ev) in &events {
        let env = json!({"sensor": "https://example.edu/sensors/1", "sendTime": "2018-11-15T10:26:00.000Z",
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2", "data": [ev]});
        let text = env.to_string();
        let parsed = parse_envelope(text.as_bytes(), 64, 0)
            .unwrap_or_else(|p| panic!("{name}: envelope {p}"));
        match &parsed.items[0] {
            Item::Event(e) => mapped.push((name.clone(), e.event.clone())),
            other => panic!("{name}: expected an accepted event, got {other:?}"),
        }
    }
    let find = |n: &str| {
        &mapped
            .iter()
            .find(|(name, _)| name.starts_with(n))
            .unwrap()
            .1
    };
    assert_eq!(
        find("caliperEventAssessmentSubmitted").action,
        Action::Submitted
    );
    assert_eq!(find("caliperEventSessionLoggedIn").action, Action::LoggedIn);
    assert_eq!(
        find("caliperEventNavigationNavigatedToWebPage").action,
        Action::Navigated
    );
    let graded = find("caliperEventGradeGraded");
    assert_eq!(graded.action, Action::Graded);
    assert!(
        graded
            .result
            .as_ref()
            .and_then(|r| r.score_scaled)
            .is_some(),
        "GradeEvent score is mapped"
    );
    let rating = find("caliperEventQuestionnaireItemCompletedRatingScaleQuestion");
    assert!(
        rating
            .result
            .as_ref()
            .and_then(|r| r.response.as_ref())
            .is_some(),
        "the answer is kept"
    );
    assert!(
        find("caliperEventAssessmentStarted").due_time.is_some(),
        "dateToSubmit is mapped"
    );
    assert!(
        mapped
            .iter()
            .all(|(_, e)| !e.actor.id.is_empty() && !e.object.id.is_empty())
    );
}

#[test]
fn all_14_caliper_envelopes_are_accepted() {
    let Some(dir) = shared("caliper-v1p2") else {
        return;
    };
    let envelopes = files(&dir, "caliperEnvelope");
    assert_eq!(envelopes.len(), 14, "the fixture set has 14 envelopes");
    let (mut events, mut entities) = (0, 0);
    for (name, env) in &envelopes {
        let text = env.to_string();
        let parsed =
            parse_envelope(text.as_bytes(), 64, 0).unwrap_or_else(|p| panic!("{name}: {p}"));
        for item in parsed.items {
            match item {
                Item::Event(_) => events += 1,
                Item::Entity => entities += 1,
                Item::Rejected {
                    index, problems, ..
                } => panic!("{name} data[{index}]: {problems}"),
            }
        }
    }
    assert!(
        events >= 80 + 3,
        "TermAction alone holds 80 events ({events})"
    );
    assert!(entities > 0);
}
