//! The xAPI cases through the validator and the operator.

mod cases;

use lap_ingest::json;
use lap_ingest::problem::Problems;
use lap_ingest::xapi::{Envelope, parse_statement};

pub use self::cases::cases;
use crate::{Case, Expect, assert_all, verdict};

/// The validator's problems with a case (empty: valid).
fn problems(case: &Case) -> Problems {
    let text = case.doc.to_string();
    let arena = json::Arena::for_input(text.len());
    let tree = json::parse(text.as_bytes(), 32, &arena).expect("the cases are JSON");
    let env = Envelope {
        header_version: Some(case.version),
        default_version: "1.0.3",
        stored_us: 0,
        assigned_id: "00000000-0000-4000-8000-000000000001",
    };
    parse_statement(&tree, &env).err().unwrap_or_default()
}

#[test]
fn xapi_rules_through_the_validator() {
    let mismatches = cases()
        .iter()
        .filter_map(|c| verdict(c, crate::found(&problems(c)).as_deref()))
        .collect();
    assert_all("xAPI through the validator", mismatches);
}

#[test]
fn invalid_xapi_problems_name_what_was_found_and_what_is_allowed() {
    let all = cases();
    let message = |name: &str| {
        let case = all.iter().find(|c| c.name.starts_with(name)).unwrap();
        problems(case).0[0].message.clone()
    };
    let m = message("objectType: a number on the actor");
    assert!(
        m.contains("\"Agent\" or \"Group\"") && m.contains("number"),
        "{m}"
    );
    let m = message("interaction: a likert with choices");
    assert!(m.contains("likert") && m.contains("scale"), "{m}");
    let m = message("revision/platform: platform with a StatementRef");
    assert!(m.contains("Activity") && m.contains("StatementRef"), "{m}");
    let m = message("authority: a Group of three");
    assert!(m.contains("exactly two") && m.contains('3'), "{m}");
    let m = message("duration: P4W1D");
    assert!(m.contains("week form stands alone"), "{m}");
}

#[tokio::test]
async fn invalid_xapi_is_dead_lettered_with_its_bytes_and_origin() {
    // Over Kafka a statement without a version header or `version` is read
    // as the default, 1.0.3: the 1.0.3 cases.
    let bad: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.version == "1.0.3" && c.expect != Expect::Valid)
        .collect();
    let sent = bad.iter().map(|c| c.doc.to_string().into_bytes()).collect();
    let mismatches = crate::through_the_operator(&bad, sent, "xapi").await;
    assert_all("xAPI dead letters", mismatches);
}
