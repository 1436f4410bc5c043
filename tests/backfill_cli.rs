//! `lap backfill` as a user runs it: an NDJSON archive in, NDJSON rows out;
//! a broken line is reported with its file and line number.

mod common;

use std::io::Write;

use common::{TEST_KEY, export_dir, lap, lap_env};
use lap_schemas::{Action, EnrichedEvent, IndicatorRow, Role, SourceStandard};

/// Monday 2026-03-02 09:00 UTC.
const MONDAY_9: i64 = 1_772_442_000_000_000;

fn answer(id: &str, person: &str, value: f64) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        source: SourceStandard::Caliper,
        spec_version: "1.2".into(),
        event_time: MONDAY_9,
        stored_time: MONDAY_9,
        tenant: "t1".into(),
        person_key: person.into(),
        role: Role::Learner,
        school_id: Some("s1".into()),
        class_id: Some("c1".into()),
        course_id: None,
        term_id: None,
        subject_codes: vec![],
        grades: vec![],
        action: Action::Answered,
        verb: "Completed".into(),
        object_id: "https://survey.example/items/q2".into(),
        object_type: None,
        object_name: None,
        score_scaled: None,
        score_raw: None,
        score_min: None,
        score_max: None,
        success: None,
        completion: None,
        duration_ms: None,
        response_value: Some(value),
        response_text: None,
        registration: None,
        session_id: None,
        objective_ids: vec![],
        due_time: None,
        voids: None,
    }
}

fn config() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(b"[enrich]\ntenant = \"t1\"\n[aggregate]\nmin_group_size = 2\n")
        .unwrap();
    file
}

#[test]
fn backfill_writes_final_rows_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("enriched.ndjson");
    let lines: Vec<String> = [answer("a1", "p1", 2.0), answer("a2", "p2", 4.0)]
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n\n").unwrap();
    let out = dir.path().join("rows.ndjson");
    let cfg = config();
    // The roster's class lists are derived with the pseudonymisation key.
    let (ok, text) = lap_env(
        cfg.path(),
        &[
            "backfill",
            "--input",
            input.to_str().unwrap(),
            "--roster",
            export_dir().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[("LAP_ENRICH_KEY", TEST_KEY)],
    );
    assert!(ok, "{text}");
    // Learner daily and weekly rows for both, class and school rows.
    assert!(text.contains("8 rows written to"), "{text}");
    let rows: Vec<IndicatorRow> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let class = rows
        .iter()
        .find(|r| r.table_name == "class_daily")
        .expect("a class row");
    // Two learners (k = 2): the class row shows, but not its well-being,
    // which needs five respondents whatever k is.
    assert_eq!(
        (class.contributors, class.suppressed, class.is_final),
        (2, false, true)
    );
    assert_eq!(class.indicators["wellbeing_index"], None);
    assert_eq!(class.indicators["wellbeing_respondents"], Some(2.0));
    // q2 (calm) is reverse-scored on 1–5 in the test roster: answers 2 and
    // 4 become 0.75 and 0.25.
    let calm = |p: &str| {
        rows.iter()
            .find(|r| r.table_name == "learner_daily" && r.entity_id == p)
            .map(|r| r.indicators["wellbeing_calm"])
    };
    assert_eq!(
        (calm("p1"), calm("p2")),
        (Some(Some(0.75)), Some(Some(0.25)))
    );
}

#[test]
fn a_broken_archive_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("enriched.ndjson");
    let good = serde_json::to_string(&answer("a1", "p1", 2.0)).unwrap();
    std::fs::write(&input, format!("{good}\n{{\"event_id\": 7}}\n")).unwrap();
    let (ok, text) = lap(
        config().path(),
        &["backfill", "--input", input.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        text.contains("enriched.ndjson:2: not an EnrichedEvent"),
        "{text}"
    );
}
