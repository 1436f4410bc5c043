//! The Caliper cases through the validator and the operator.

mod cases;
mod types;

use lap_ingest::caliper::{Item, parse_envelope};
use lap_ingest::problem::Problems;
use lap_schemas::{Action, LearningEvent};
use serde_json::{Value, json};

pub use self::cases::cases;
use crate::{Case, Expect, assert_all, verdict};

/// The envelope a case is sent in.
pub fn envelope(case: &Case) -> Value {
    json!({"sensor": "https://example.edu/sensors/1", "sendTime": "2024-03-01T08:15:01.000Z",
           "dataVersion": case.version, "data": [case.doc]})
}

/// The validator's answer: the event, or its problems.
pub fn validate(case: &Case) -> Result<LearningEvent, Problems> {
    let text = envelope(case).to_string();
    let parsed = parse_envelope(text.as_bytes(), 32, 0)?;
    match parsed.items.into_iter().next() {
        Some(Item::Event(e)) => Ok(e.event),
        Some(Item::Rejected { problems, .. }) => Err(problems),
        other => panic!("{}: not an event: {other:?}", case.name),
    }
}

#[test]
fn caliper_rules_through_the_validator() {
    let mismatches = cases()
        .iter()
        .filter_map(|c| {
            let problems = validate(c).err().unwrap_or_default();
            verdict(c, crate::found(&problems).as_deref())
        })
        .collect();
    assert_all("Caliper through the validator", mismatches);
}

#[test]
fn extension_events_map_like_their_1_2_equivalents() {
    let all = cases();
    let event = |name: &str| {
        let c = all.iter().find(|c| c.name.starts_with(name)).unwrap();
        validate(c).unwrap()
    };
    let launch = event("1.1 extension: Tool Launch Launched");
    assert_eq!(launch.action, Action::Launched);
    assert_eq!(launch.spec_version, "1.1");
    assert_eq!(launch.context.category_ids, ["ToolLaunchProfile"]);
    let search = event("1.1 extension: context as an array");
    assert_eq!(search.action, Action::Searched);
    assert_eq!(search.context.category_ids, ["SearchProfile"]);
    let item = event("1.1 extension: Questionnaire Item Completed");
    assert_eq!(item.action, Action::Completed);
    assert_eq!(item.result.and_then(|r| r.response).as_deref(), Some("3"));
    // The same event under 1.2 with its profile maps to the same.
    let mut v12 = all
        .iter()
        .find(|c| {
            c.name
                .starts_with("required: ToolLaunchEvent Launched with")
        })
        .unwrap()
        .clone();
    v12.doc["profile"] = json!("ToolLaunchProfile");
    let same = validate(&v12).unwrap();
    assert_eq!(
        (same.action, same.context.category_ids),
        (launch.action, launch.context.category_ids)
    );
}

#[test]
fn invalid_caliper_problems_name_the_property_what_was_found_and_what_is_allowed() {
    let all = cases();
    let message = |name: &str| {
        let c = all.iter().find(|c| c.name.starts_with(name)).unwrap();
        validate(c).unwrap_err().0[0].message.clone()
    };

    let m = message("types: NavigationEvent to a Person");
    assert!(
        m.contains("`object`")
            && m.contains("NavigationEvent")
            && m.contains("found Person")
            && m.contains("DigitalResource or SoftwareApplication"),
        "{m}"
    );
    let m = message("types: SessionEvent TimedOut by a Person");
    assert!(
        m.contains("TimedOut") && m.contains("SoftwareApplication"),
        "{m}"
    );
    let m = message("1.1 extension: Tool Launch under the plain 1.1 context");
    assert!(m.contains("ToolLaunchProfile-extension"), "{m}");
    let m = message("required: ToolLaunchEvent Launched without federatedSession");
    assert!(
        m.contains("federatedSession") && m.contains("Launched"),
        "{m}"
    );
}

#[tokio::test]
async fn invalid_caliper_is_dead_lettered_with_its_bytes_and_origin() {
    let bad: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.expect != Expect::Valid)
        .collect();
    let sent = bad
        .iter()
        .map(|c| envelope(c).to_string().into_bytes())
        .collect();
    let mismatches = crate::through_the_operator(&bad, sent, "caliper").await;
    assert_all("Caliper dead letters", mismatches);
}
