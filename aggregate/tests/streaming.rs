//! The streaming engine against the batch: lateness, revisions, and a
//! property test that random event sets (shuffled, duplicated, voided,
//! several partitions, out of order within the allowed lateness, with
//! attendance, assignments and class lists) give the same final rows
//! streamed as in `lap backfill`, flags and school rows included.

mod common;

use lap_runtime::config::AggregateConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::reference::{Members, Reference};
use lap_aggregate::{Admitted, Engine};
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::Action::{self, *};
use lap_schemas::{EnrichedEvent, IndicatorRow};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000_000;

fn msg(partition: i32, offset: i64) -> MessageId {
    MessageId {
        tp: TopicPartition {
            topic: Arc::from("lap.enriched"),
            partition,
        },
        offset,
    }
}

/// Comparable content of final rows: everything but revision and emission time.
type Content = BTreeMap<(String, i64, String, Option<String>), String>;

fn content(rows: &[IndicatorRow]) -> Content {
    rows.iter()
        .filter(|r| r.is_final)
        .map(|r| {
            let values: Vec<String> = r
                .indicators
                .iter()
                .map(|(k, v)| format!("{k}={:?}", v.map(|x| (x * 1e9).round() / 1e9)))
                .collect();
            let flags: Vec<String> = r
                .flags
                .iter()
                .map(|f| {
                    format!(
                        "{}:{:?}",
                        f.code,
                        f.evidence
                            .values()
                            .map(|x| (x * 1e9).round())
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            (
                (
                    r.table_name.clone(),
                    r.window_start,
                    r.entity_id.clone(),
                    r.class_id.clone(),
                ),
                format!("{} {} {values:?} {flags:?}", r.contributors, r.suppressed),
            )
        })
        .collect()
}

#[test]
fn a_late_event_goes_late_leaves_the_final_row_alone_and_backfill_counts_it() {
    let cfg = config(5); // lateness 2 days, bound 60 s
    let mut engine = engine(&cfg);
    let on_time = ev("e1", "p1", "2026-03-02 09:00", Viewed, "A");
    assert_eq!(
        engine.admit(&on_time, Some(&msg(0, 0)), 0),
        Admitted::Counted
    );
    // An event of Wednesday the following week moves the watermark past
    // Sunday + 2 days: the first week is final and its message released.
    let later = ev("e2", "p1", "2026-03-11 09:00", Viewed, "A");
    assert_eq!(engine.admit(&later, Some(&msg(0, 1)), 0), Admitted::Counted);
    let em = engine.finalise_due(0).unwrap();
    let first = row(&em.rows, "learner_weekly", "p1", day("2026-03-02"));
    close(value(first, "activity_events"), 1.0);
    assert_eq!(em.released, [msg(0, 0)]);
    assert!(
        em.checkpoint
            .iter()
            .any(|(p, k, v)| (*p, k.as_str()) == (0, "task") && v.contains("final_watermark"))
    );
    // A straggler of the first week is late: not counted, not held.
    let straggler = ev("e3", "p1", "2026-03-03 09:00", Viewed, "B");
    assert_eq!(
        engine.admit(&straggler, Some(&msg(0, 2)), 0),
        Admitted::Late
    );
    assert!(engine.finalise_due(0).unwrap().rows.is_empty());
    // Backfill over all three counts it.
    let rows = batch(&cfg, &[on_time, later, straggler]);
    close(
        value(
            row(&rows, "learner_weekly", "p1", day("2026-03-02")),
            "activity_events",
        ),
        2.0,
    );
}

#[test]
fn revisions_grow_and_the_final_emission_is_last() {
    let mut engine = engine(&config(5));
    engine.admit(
        &ev("e1", "p1", "2026-03-02 09:00", Viewed, "A"),
        Some(&msg(0, 0)),
        0,
    );
    let first = engine.provisional(1_000).unwrap();
    assert!(!first.rows.is_empty() && first.rows.iter().all(|r| !r.is_final));
    // Nothing new: nothing to emit.
    assert!(engine.provisional(2_000).unwrap().rows.is_empty());
    engine.admit(
        &ev("e2", "p1", "2026-03-02 10:00", Viewed, "B"),
        Some(&msg(0, 1)),
        0,
    );
    let second = engine.provisional(1_000).unwrap();
    let fin = engine.finalise_all(1_000).unwrap();
    let rev = |rows: &[IndicatorRow]| row(rows, "learner_daily", "p1", day("2026-03-02")).revision;
    assert!(
        rev(&first.rows) < rev(&second.rows),
        "revisions grow even when the clock does not"
    );
    assert!(rev(&second.rows) < rev(&fin.rows));
    let last = row(&fin.rows, "learner_daily", "p1", day("2026-03-02"));
    assert!(last.is_final);
    close(value(last, "activity_events"), 2.0);
    assert_eq!(fin.released, [msg(0, 0), msg(0, 1)]);
}

#[test]
fn provisional_rows_that_did_not_change_are_not_sent_again() {
    let mut engine = engine(&config(5));
    for (i, p) in ["p1", "p2"].into_iter().enumerate() {
        let e = ev(&format!("e{i}"), p, "2026-03-02 09:00", Viewed, "A");
        engine.admit(&e, Some(&msg(0, i as i64)), 0);
    }
    let first = engine.provisional(1_000).unwrap();
    let monday = day("2026-03-02");
    row(&first.rows, "learner_daily", "p2", monday);
    assert_eq!(first.unchanged, 0);
    // p1 does more; class c1 is recomputed, p2's rows come out as before.
    let more = ev("e9", "p1", "2026-03-02 10:00", Viewed, "B");
    engine.admit(&more, Some(&msg(0, 2)), 0);
    let second = engine.provisional(2_000).unwrap();
    close(
        value(
            row(&second.rows, "learner_daily", "p1", monday),
            "activity_events",
        ),
        2.0,
    );
    assert!(
        second.rows.iter().all(|r| r.entity_id != "p2"),
        "p2's unchanged rows were sent again: {:?}",
        second
            .rows
            .iter()
            .map(|r| (&r.table_name, &r.entity_id))
            .collect::<Vec<_>>()
    );
    assert!(second.unchanged >= 2, "p2's daily and weekly rows left out");
    // Final rows are always sent, p2's included.
    let fin = engine.finalise_all(3_000).unwrap();
    assert!(row(&fin.rows, "learner_daily", "p2", monday).is_final);
}

#[test]
fn each_partition_finalises_on_its_own_watermark() {
    let mut engine = engine(&config(5));
    // Partition 1 delivers a backlog of three weeks first…
    for (i, d) in ["2026-03-02", "2026-03-10", "2026-03-18"]
        .iter()
        .enumerate()
    {
        let e = ev(&format!("b{i}"), "p1", &format!("{d} 09:00"), Viewed, "A");
        engine.admit(&e, Some(&msg(1, i as i64)), 0);
    }
    // …which closes its own first two weeks and nothing of partition 0,
    let e = ev("a0", "p2", "2026-03-03 09:00", Viewed, "B");
    let mut e = e;
    e.class_id = Some("c2".into());
    assert_eq!(engine.admit(&e, Some(&msg(0, 0)), 0), Admitted::Counted);
    let em = engine.finalise_due(0).unwrap();
    let week1 = day("2026-03-02");
    assert!(row(&em.rows, "learner_weekly", "p1", week1).is_final);
    assert!(em.rows.iter().all(|r| r.entity_id != "p2"), "{:?}", em.rows);
    assert_eq!(em.released, [msg(1, 0), msg(1, 1)]);
    // so partition 0's stragglers of the first week still count.
    let e2 = ev("a1", "p2", "2026-03-04 09:00", Viewed, "B");
    let mut e2 = e2;
    e2.class_id = Some("c2".into());
    assert_eq!(engine.admit(&e2, Some(&msg(0, 1)), 0), Admitted::Counted);
    let fin = engine.finalise_all(0).unwrap();
    close(
        value(
            row(&fin.rows, "learner_weekly", "p2", week1),
            "activity_events",
        ),
        2.0,
    );
}

#[test]
fn a_restored_task_skips_replayed_events_of_final_weeks_and_sends_new_ones_late() {
    let mut engine = engine(&config(5));
    let tp = msg(0, 0).tp;
    let task = format!(
        r#"{{"final_watermark":{},"read_below":1}}"#,
        at("2026-03-11 00:00")
    );
    engine.restore(&tp, "task", Some(&format!("7 {task}")));
    let assigned = engine.assign(&tp, 0);
    assert_eq!(assigned.records, 1);
    assert!(assigned.epoch > 7, "a new owner's epoch is higher");
    let replayed = ev("e1", "p1", "2026-03-02 09:00", Viewed, "A");
    assert_eq!(
        engine.admit(&replayed, Some(&msg(0, 0)), 0),
        Admitted::AlreadyFinal
    );
    let unseen = ev("e2", "p1", "2026-03-02 10:00", Viewed, "A");
    assert_eq!(engine.admit(&unseen, Some(&msg(0, 1)), 0), Admitted::Late);
    // The same week from another partition without a changelog counts.
    assert_eq!(
        engine.admit(&replayed, Some(&msg(1, 0)), 0),
        Admitted::Counted
    );
}

const ACTIONS: [Action; 9] = [
    Viewed, Completed, Scored, Passed, Failed, Attended, Absent, Answered, Submitted,
];

prop_compose! {
    fn event(n: usize)(i in 0..n, person in 0..8usize, class in 0..3usize, hours in 0..(21 * 24i64),
                       action in 0..ACTIONS.len(), score in proptest::option::of(0..=100u8),
                       answer in 1..=5u8, duration in proptest::option::of(1..600_000i64),
                       object in 0..4usize, due in 0..(21 * 24i64))
        -> EnrichedEvent {
        let mut e = ev(&format!("e{i}"), &format!("p{person}"), "2026-03-02 00:00", ACTIONS[action], &format!("o{object}"));
        e.event_time += hours * HOUR + (i as i64 % 3600) * 1_000_000;
        e.class_id = Some(format!("c{class}"));
        e.school_id = Some(format!("s{class}"));
        e.score_scaled = score.map(|s| f64::from(s) / 100.0);
        e.duration_ms = duration;
        if e.action == Answered {
            e.object_id = ["q1", "q2"][object % 2].into();
            e.response_value = Some(f64::from(answer));
        }
        // o0 and o1 are assignments, whose events carry their due time.
        if object < 2 {
            e.due_time = Some(at("2026-03-02 00:00") + (due - due % 24 + 12 * object as i64) * HOUR);
        }
        e
    }
}

/// Every class lists p0–p8; p8 never has an event.
fn class_lists() -> Reference {
    let mut r = reference();
    for c in 0..3 {
        r.members.insert(
            format!("c{c}"),
            Members {
                school: Some(format!("s{c}")),
                learners: (0..9).map(|p| format!("p{p}")).collect(),
                ..Members::default()
            },
        );
    }
    r
}

prop_compose! {
    /// Events, then duplicates and voids, each with an arrival delay of up
    /// to a day (the allowed lateness is two days) and its school's
    /// partition (as enrich keys them).
    fn arrivals()(events in proptest::collection::vec(event(400), 1..120))
        (dups in proptest::collection::vec(0..events.len(), 0..10),
         voids in proptest::collection::vec(0..events.len(), 0..10),
         delays in proptest::collection::vec(0..24 * HOUR, events.len() + 20),
         events in Just(events))
        -> Vec<(i64, i32, EnrichedEvent)> {
        // One id, one event: ids are unique before duplicates are added.
        let mut events = events;
        for (n, e) in events.iter_mut().enumerate() {
            e.event_id = format!("e{n}");
        }
        let mut all = events.clone();
        all.extend(dups.iter().map(|&i| events[i].clone()));
        for (n, &i) in voids.iter().enumerate() {
            let mut v = ev(&format!("v{n}"), &events[i].person_key, "2026-03-02 00:00", Voided, &events[i].event_id);
            v.event_time = events[i].event_time + HOUR;
            v.class_id = events[i].class_id.clone();
            v.school_id = events[i].school_id.clone();
            v.voids = Some(events[i].event_id.clone());
            all.push(v);
        }
        all.into_iter().zip(delays).map(|(e, delay)| (e.event_time + delay, partition_of(&e), e)).collect()
    }
}

/// The partition enrich would write `e` to, with one school per partition.
fn partition_of(e: &EnrichedEvent) -> i32 {
    e.school_id
        .as_deref()
        .map_or(0, |s| s[1..].parse().unwrap())
}

fn stream(engine: &mut Engine, mut arrivals: Vec<(i64, i32, EnrichedEvent)>) -> Vec<IndicatorRow> {
    arrivals.sort_by_key(|(arrival, _, _)| *arrival);
    let mut rows = Vec::new();
    let mut offsets = [0i64; 3];
    for (n, chunk) in arrivals.chunks(7).enumerate() {
        for (_, p, e) in chunk {
            let id = msg(*p, offsets[*p as usize]);
            offsets[*p as usize] += 1;
            let now = n as i64 * 100;
            assert_ne!(
                engine.admit(e, Some(&id), now),
                Admitted::Late,
                "{}",
                e.event_id
            );
        }
        // As the service does: both emissions queued, then run a chunk
        // of classes per step.
        let now = n as i64 * 100;
        if n % 3 == 0 {
            engine.begin_provisional(now);
        }
        engine.begin_finalise_due(now, now);
        while engine.emitting() {
            engine.step(&mut |row| rows.push(row)).unwrap();
        }
    }
    rows.extend(engine.finalise_all(0).unwrap().rows);
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn streaming_final_rows_equal_backfill(arrivals in arrivals()) {
        let mut cfg = config(3);
        cfg.flags.inactive_days = 2;
        (cfg.flags.absence_lookback_days, cfg.flags.absence_min_days) = (6, 3);
        // The watermark counts after 1 s of (simulated, 100 ms per batch)
        // wall-clock time; partitions silent for 1 s stop holding it back.
        cfg.idle_partition_s = 1;
        let events: Vec<_> = arrivals.iter().map(|(_, _, e)| e.clone()).collect();
        // The stream runs its SQL in chunks of a few classes, the batch in
        // one go: the split must not change a row.
        let chunked = AggregateConfig { max_query_events: 7, ..cfg.clone() };
        let lists = class_lists();
        let engine = |cfg: &AggregateConfig| build_engine(cfg, &lists).unwrap();
        let streamed = stream(&mut engine(&chunked), arrivals);
        let batched = engine(&cfg).run_batch(&events, 0).unwrap().rows;
        // lap backfill's engine runs every other chunk on a second DataFusion session.
        let parallel = AggregateConfig { max_query_events: 5, ..cfg.clone() };
        let two_sessions = lap_aggregate::backfill::backfill(&parallel, &lists, &events, 0).unwrap();
        prop_assert_eq!(content(&two_sessions), content(&batched));
        let (streamed, batched) = (content(&streamed), content(&batched));
        let differ: Vec<_> = streamed
            .iter()
            .filter(|(k, v)| batched.get(*k) != Some(v))
            .map(|(k, v)| format!("{k:?}\n  stream: {v}\n  batch:  {:?}", batched.get(k)))
            .chain(batched.keys().filter(|k| !streamed.contains_key(*k)).map(|k| format!("{k:?} only in batch")))
            .collect();
        prop_assert!(differ.is_empty(), "{}", differ.join("\n"));
    }
}
