//! What makes generated activity realistic to ingest: records that break a
//! specific rule of their specification, and people the roster lacks.

use serde_json::{Value, json};

use crate::rng::Rng;

/// Breaks one xAPI rule of statement `s`, each a different dead-letter code.
pub fn corrupt_xapi(s: &mut Value, rng: &mut Rng) {
    match rng.below(4) {
        // $.result.score.scaled must be in [-1, 1].
        0 => s["result"]["score"]["scaled"] = json!(7),
        // A timestamp needs a time zone.
        1 => {
            let t = s["timestamp"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('Z')
                .to_string();
            s["timestamp"] = json!(t);
        }
        // verb is required.
        2 => {
            s.as_object_mut().map(|o| o.remove("verb"));
        }
        // An Agent has exactly one inverse functional identifier.
        _ => s["actor"]["openid"] = json!("https://openid.lap-demo.example/someone"),
    }
}

/// Breaks one Caliper rule of event `e`.
pub fn corrupt_caliper(e: &mut Value, rng: &mut Rng) {
    match rng.below(3) {
        // The action must be one the event type allows.
        0 => {
            let other = if e["type"] == "GradeEvent" {
                "Viewed"
            } else {
                "Graded"
            };
            e["action"] = json!(other);
        }
        // eventTime is UTC with milliseconds.
        1 => {
            let t = e["eventTime"].as_str().unwrap_or_default();
            let trimmed = t.split('.').next().unwrap_or(t).to_string() + "Z";
            e["eventTime"] = json!(trimmed);
        }
        // Event ids are urn:uuid: URNs.
        _ => {
            let id = e["id"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("urn:uuid:")
                .to_string();
            e["id"] = json!(id);
        }
    }
}

/// Gives `s` (xAPI) or `e` (Caliper) an actor the roster does not have:
/// a learner who transferred in and is not in the export yet.
pub fn unknown_actor(record: &mut Value, caliper: bool, rng: &mut Rng) {
    let n = rng.below(1000);
    if caliper {
        record["actor"] = json!({"id": format!("{}transfer-{n}", crate::render::CALIPER_USERS), "type": "Person"});
    } else {
        record["actor"] = json!({"objectType": "Agent",
            "account": {"homePage": crate::render::ACCOUNT_HOME, "name": format!("stu.transfer.{n}")}});
    }
}
