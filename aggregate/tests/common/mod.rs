//! Builders shared by the aggregate tests: enriched events written by hand
//! and an engine over the built-in SQL.
#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use lap_aggregate::Engine;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::reference::{Item, Members, Objective, Reference};
use lap_runtime::config::AggregateConfig;
use lap_schemas::{Action, EnrichedEvent, IndicatorRow, Role, SourceStandard};

/// UTC µs of a local date-time string `2026-03-02 09:00`.
pub fn at(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .expect("test time")
        .and_utc()
        .timestamp_micros()
}

/// UTC µs of midnight of `2026-03-02`.
pub fn day(s: &str) -> i64 {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .expect("test date")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros()
}

/// A learner event in class `c1` (course `m7`, school `s1`).
pub fn ev(id: &str, person: &str, time: &str, action: Action, object: &str) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: at(time),
        stored_time: at(time),
        tenant: "t1".into(),
        person_key: person.into(),
        role: Role::Learner,
        school_id: Some("s1".into()),
        class_id: Some("c1".into()),
        course_id: Some("m7".into()),
        term_id: None,
        subject_codes: vec![],
        grades: vec![],
        action,
        verb: format!("http://adlnet.gov/expapi/verbs/{}", action.as_str()),
        object_id: object.into(),
        object_type: None,
        object_name: None,
        score_scaled: None,
        score_raw: None,
        score_min: None,
        score_max: None,
        success: None,
        completion: None,
        duration_ms: None,
        response_value: None,
        response_text: None,
        registration: None,
        session_id: None,
        objective_ids: vec![],
        due_time: None,
        voids: None,
    }
}

/// Reference data: objectives o1–o3 of course m7; items q1 (social) and
/// q2 (calm, reverse-scored) on a 1–5 scale.
pub fn reference() -> Reference {
    let mut r = Reference::default();
    for o in ["o1", "o2", "o3"] {
        r.objectives.insert(
            o.into(),
            Objective {
                courses: vec!["m7".into()],
                classes: vec![],
            },
        );
    }
    for (id, dim, rev) in [("q1", "social", false), ("q2", "calm", true)] {
        r.items.insert(
            id.into(),
            Item {
                dimension: dim.into(),
                scale_min: 1.0,
                scale_max: 5.0,
                reverse_scored: rev,
            },
        );
    }
    r
}

/// An engine with the built-in SQL in UTC.
pub fn engine(cfg: &AggregateConfig) -> Engine {
    build_engine(cfg, &reference()).expect("engine")
}

/// Final rows of `events` in batch.
pub fn batch(cfg: &AggregateConfig, events: &[EnrichedEvent]) -> Vec<IndicatorRow> {
    engine(cfg).run_batch(events, 0).expect("batch run").rows
}

/// [`reference`] with `learners` as the class list of class `c1` (school `s1`).
pub fn with_class_list(learners: &[&str]) -> Reference {
    let mut r = reference();
    r.members.insert(
        "c1".into(),
        Members {
            school: Some("s1".into()),
            learners: learners.iter().map(|l| l.to_string()).collect(),
            ..Members::default()
        },
    );
    r
}

/// The row of `table` for `entity` starting at `start`.
pub fn row<'a>(
    rows: &'a [IndicatorRow],
    table: &str,
    entity: &str,
    start: i64,
) -> &'a IndicatorRow {
    rows.iter()
        .find(|r| r.table_name == table && r.entity_id == entity && r.window_start == start)
        .unwrap_or_else(|| panic!("no {table} row for {entity} at {start}"))
}

/// An indicator's value (None when null), panicking when absent.
pub fn value(r: &IndicatorRow, name: &str) -> Option<f64> {
    *r.indicators
        .get(name)
        .unwrap_or_else(|| panic!("no indicator {name} in {:?}", r.indicators))
}

/// Flag codes of a row.
pub fn flags(r: &IndicatorRow) -> Vec<&str> {
    r.flags.iter().map(|f| f.code.as_str()).collect()
}

/// Asserts `a` ≈ `b`.
pub fn close(a: Option<f64>, b: f64) {
    let a = a.expect("a value");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// Config with k = `k`.
pub fn config(k: u32) -> AggregateConfig {
    AggregateConfig {
        min_group_size: k,
        ..AggregateConfig::default()
    }
}

/// The evidence of a row's flag `code`.
pub fn evidence(r: &IndicatorRow, code: &str) -> BTreeMap<String, f64> {
    r.flags
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} flag in {:?}", r.flags))
        .evidence
        .clone()
}
