//! What the aggregate's changelog keeps about a learner who leaves: a
//! learner taken off a class list leaves the class's history at the next
//! checkpoint, and an erasure's tombstone on a learner's history is obeyed
//! when a new owner restores the changelog.

mod common;

use std::sync::Arc;

use common::*;
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::Action::Scored;
use lap_schemas::EnrichedEvent;

const WEEK: i64 = 7 * 24 * 3_600_000_000;
const NOW: i64 = 1_800_000_000_000;

fn tp() -> TopicPartition {
    TopicPartition {
        topic: Arc::from("enriched"),
        partition: 0,
    }
}

fn msg(offset: i64) -> MessageId {
    MessageId { tp: tp(), offset }
}

/// `person`'s quiz score in week `w` after 2 March 2026.
fn scored(id: &str, person: &str, w: i64, score: f64) -> EnrichedEvent {
    let mut e = ev(id, person, "2026-03-02 09:00", Scored, "quiz");
    e.event_time += w * WEEK;
    e.score_scaled = Some(score);
    e
}

/// The latest value the changelog holds for the class `c1`.
fn class_record(log: &[(i32, String, String)]) -> &str {
    log.iter()
        .rev()
        .find(|(_, k, _)| k == r#"class:"c1""#)
        .map(|(_, _, v)| v.as_str())
        .expect("a class history record")
}

#[test]
fn a_learner_taken_off_the_class_list_leaves_the_class_history() {
    let cfg = config(1);
    let mut reference = with_class_list(&["p1", "p2"]);
    let mut e = engine(&cfg);
    e.set_reference(&reference).unwrap();
    let mut log = vec![e.assign(&tp(), NOW).record];
    e.admit(&scored("a", "p1", 0, 0.5), Some(&msg(0)), 0);
    e.admit(&scored("b", "p2", 0, 0.7), Some(&msg(1)), 0);
    e.admit(&scored("c", "p2", 2, 0.7), Some(&msg(2)), 0);
    log.extend(e.finalise_due(0).unwrap().checkpoint);
    let before = class_record(&log).to_string();
    assert!(
        before.contains(r#""p1""#) && before.contains(r#""p2""#),
        "{before}"
    );

    // p1's membership is deleted (they moved, or were erased).
    assert!(reference.delete_key("t1", "t1/class_member/c1/p1"));
    e.set_reference(&reference).unwrap();
    e.admit(&scored("d", "p2", 4, 0.7), Some(&msg(3)), 0);
    log.extend(e.finalise_due(0).unwrap().checkpoint);
    let after = class_record(&log);
    assert_ne!(after, before, "the class was checkpointed again");
    assert!(!after.contains(r#""p1""#), "{after}");
    assert!(after.contains(r#""p2""#), "{after}");
}

#[test]
fn a_tombstone_on_a_learner_s_history_is_obeyed_by_the_next_owner() {
    let mut cfg = config(1);
    cfg.flags.falling_windows = 1;
    let mut a = engine(&cfg);
    let mut log = vec![a.assign(&tp(), NOW).record];
    a.admit(&scored("w0", "p1", 0, 0.8), Some(&msg(0)), 0);
    a.admit(&scored("w2", "p1", 2, 0.5), Some(&msg(1)), 0);
    log.extend(a.finalise_due(0).unwrap().checkpoint);
    let learner_keys: Vec<String> = log
        .iter()
        .filter(|(_, k, _)| k.starts_with("learner:") && k.contains(r#""p1""#))
        .map(|(_, k, _)| k.clone())
        .collect();
    assert!(!learner_keys.is_empty(), "{log:?}");

    // An erasure tombstones p1's history; the next owner restores the
    // log (not yet compacted) and must not look back on week 0.
    let mut b = engine(&cfg);
    for (_, k, v) in &log {
        b.restore(&tp(), k, Some(v));
    }
    for k in &learner_keys {
        b.restore(&tp(), k, None);
    }
    b.assign(&tp(), NOW);
    b.admit(&scored("w2", "p1", 2, 0.5), Some(&msg(1)), 0);
    let rows = b.finalise_all(NOW).unwrap().rows;
    let w2 = row(&rows, "learner_weekly", "p1", day("2026-03-02") + 2 * WEEK);
    assert_eq!(value(w2, "growth_mean_score"), None, "{w2:?}");
}
