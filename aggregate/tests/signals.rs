//! Early-warning signals as a teacher needs them, on hand-worked
//! scenarios: chronic absence over a look-back of school days, missing
//! work for every learner of the class (with or without activity), late
//! work as late, inactivity flagged the morning after and revised away by
//! late-synced activity, and school rows with well-being suppressed below
//! five respondents whatever k is. 2026-03-02 is a Monday; UTC.

mod common;

use std::sync::Arc;

use common::*;
use lap_aggregate::backfill::build_engine;
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::Action::*;
use lap_schemas::{EnrichedEvent, IndicatorRow};

/// The school days of four weeks: Monday 2 March to Friday 27 March.
fn school_days() -> Vec<String> {
    (0..4)
        .flat_map(|w| (0..5).map(move |d| 2 + 7 * w + d))
        .map(|d| format!("2026-03-{d:02}"))
        .collect()
}

/// p1's attendance on `days`, absent on the `absent` ones.
fn register(days: &[String], absent: &[&str]) -> Vec<EnrichedEvent> {
    days.iter()
        .map(|d| {
            let action = if absent.contains(&d.as_str()) {
                Absent
            } else {
                Attended
            };
            ev(
                &format!("r{d}"),
                "p1",
                &format!("{d} 08:00"),
                action,
                "roll",
            )
        })
        .collect()
}

fn chronic(r: &IndicatorRow) -> bool {
    flags(r).contains(&"chronic_absence")
}

#[test]
fn one_absence_in_a_week_is_never_chronic() {
    let days = &school_days()[..5];
    let rows = batch(&config(5), &register(days, &["2026-03-04"]));
    // 1 of 5 days is 20 %, above 10 %, but five days are fewer than the
    // ten school days the flag needs.
    assert!(
        !rows.iter().any(chronic),
        "{:?}",
        rows.iter().filter(|r| chronic(r)).collect::<Vec<_>>()
    );
}

#[test]
fn three_absences_in_twenty_school_days_are_chronic_with_the_days_named() {
    let days = school_days();
    let absent = ["2026-03-16", "2026-03-24", "2026-03-26"];
    let rows = batch(&config(5), &register(&days, &absent));
    // Friday 27 March: the last 20 school days are 2–27 March, 3 absent
    // (15 % > 10 %).
    let friday = row(&rows, "learner_daily", "p1", day("2026-03-27"));
    assert!(chronic(friday), "{:?}", friday.flags);
    let e = evidence(friday, "chronic_absence");
    assert_eq!((e["absent_days"], e["school_days"]), (3.0, 20.0));
    assert!((e["absence_rate"] - 0.15).abs() < 1e-9);
    assert_eq!(e["first_day"] as i64, day("2026-03-02"));
    assert_eq!(e["last_day"] as i64, day("2026-03-27"));
    let reason = &friday
        .flags
        .iter()
        .find(|f| f.code == "chronic_absence")
        .unwrap()
        .reason;
    assert!(
        reason.contains("3 of their last 20 school days")
            && reason.contains("2026-03-02 to 2026-03-27"),
        "{reason}"
    );
    // The week's row says the same as its last day.
    assert!(chronic(row(
        &rows,
        "learner_weekly",
        "p1",
        day("2026-03-23")
    )));
    // Monday 16 March: 1 of 11 days (9 %) is below the threshold.
    assert!(!chronic(row(
        &rows,
        "learner_daily",
        "p1",
        day("2026-03-16")
    )));
    // Tuesday 24 March: 2 of 17 (11.8 %) is above it.
    assert!(chronic(row(
        &rows,
        "learner_daily",
        "p1",
        day("2026-03-24")
    )));
}

/// An assignment of class c1 announced by p1's viewing it, due `due`.
fn assignment(id: &str, object: &str, due: &str) -> EnrichedEvent {
    let mut e = ev(id, "p1", "2026-03-02 09:00", Viewed, object);
    e.due_time = Some(at(due));
    e
}

fn submission(id: &str, who: &str, time: &str, object: &str, due: &str) -> EnrichedEvent {
    let mut e = ev(id, who, time, Submitted, object);
    e.due_time = Some(at(due));
    e
}

#[test]
fn a_learner_without_any_activity_misses_the_classes_assignments() {
    let cfg = config(5);
    let reference = with_class_list(&["p1", "p2"]);
    let events = vec![
        assignment("v1", "essay", "2026-03-04 12:00"),
        assignment("v2", "lab", "2026-03-05 12:00"),
        submission("s1", "p1", "2026-03-04 10:00", "essay", "2026-03-04 12:00"),
        // Late: Thursday 15:00 for Thursday noon.
        submission("s2", "p1", "2026-03-05 15:00", "lab", "2026-03-05 12:00"),
    ];
    let rows = build_engine(&cfg, &reference)
        .unwrap()
        .run_batch(&events, 0)
        .unwrap()
        .rows;
    // p2 has no event at all, and still has a weekly row: both missing.
    let p2 = row(&rows, "learner_weekly", "p2", day("2026-03-02"));
    close(value(p2, "submissions_missing"), 2.0);
    close(value(p2, "activity_events"), 0.0);
    assert_eq!(flags(p2), ["missing_submissions"]);
    assert_eq!(p2.newest_event_time, None);
    // p1 handed the lab in late: late, not missing.
    let p1 = row(&rows, "learner_weekly", "p1", day("2026-03-02"));
    close(value(p1, "submissions_on_time"), 1.0);
    close(value(p1, "submissions_late"), 1.0);
    close(value(p1, "submissions_missing"), 0.0);
    // Daily: the essay is due Wednesday, the lab Thursday.
    let p2_wed = row(&rows, "learner_daily", "p2", day("2026-03-04"));
    close(value(p2_wed, "submissions_missing"), 1.0);
}

#[test]
fn work_handed_in_early_is_not_missing_when_it_falls_due() {
    let cfg = config(5);
    let reference = with_class_list(&["p1"]);
    // Handed in on Friday of the week before it is due.
    let events = vec![
        submission("s1", "p1", "2026-03-06 10:00", "essay", "2026-03-10 12:00"),
        assignment("v1", "essay", "2026-03-10 12:00"),
        ev("x", "p1", "2026-03-10 09:00", Viewed, "page"),
    ];
    let rows = build_engine(&cfg, &reference)
        .unwrap()
        .run_batch(&events, 0)
        .unwrap()
        .rows;
    let tue = row(&rows, "learner_daily", "p1", day("2026-03-10"));
    close(value(tue, "submissions_missing"), 0.0);
}

fn msg(offset: i64) -> MessageId {
    MessageId {
        tp: TopicPartition {
            topic: Arc::from("lap.enriched"),
            partition: 0,
        },
        offset,
    }
}

#[test]
fn inactivity_is_flagged_the_morning_after_and_revised_away_by_late_activity() {
    let mut cfg = config(5);
    cfg.flags.inactive_days = 3;
    let mut engine = build_engine(&cfg, &with_class_list(&["p1", "p2"])).unwrap();
    let mut offset = 0;
    let mut feed = |engine: &mut lap_aggregate::Engine, e: EnrichedEvent| {
        engine.admit(&e, Some(&msg(offset)), 0);
        offset += 1;
    };
    // p1 works on Monday, Tuesday and Wednesday; p2 does nothing.
    for d in ["02", "03", "04"] {
        feed(
            &mut engine,
            ev(
                &format!("a{d}"),
                "p1",
                &format!("2026-03-{d} 10:00"),
                Viewed,
                "A",
            ),
        );
    }
    let wednesday = day("2026-03-04");
    let p2_wed = |rows: &[IndicatorRow]| {
        rows.iter()
            .find(|r| {
                r.table_name == "learner_daily"
                    && r.entity_id == "p2"
                    && r.window_start == wednesday
            })
            .cloned()
    };
    // Wednesday is not over: nothing yet.
    engine.finalise_due(0).unwrap();
    let rows = engine.provisional(0).unwrap().rows;
    assert!(p2_wed(&rows).is_some_and(|r| r.flags.is_empty()));
    // Thursday 08:00: the first event of the day ends Wednesday (the
    // watermark trails it by a minute).
    feed(
        &mut engine,
        ev("a05", "p1", "2026-03-05 08:00", Viewed, "A"),
    );
    engine.finalise_due(0).unwrap();
    let rows = engine.provisional(0).unwrap().rows;
    let flagged = p2_wed(&rows).expect("Wednesday's row is revised");
    assert!(!flagged.is_final);
    assert_eq!(flags(&flagged), ["inactive"]);
    assert_eq!(evidence(&flagged, "inactive")["days_inactive"], 3.0);
    // p2's tablet syncs Tuesday's work late: the flag is revised away and
    // listed as cleared.
    feed(
        &mut engine,
        ev("late", "p2", "2026-03-03 11:00", Viewed, "A"),
    );
    let rows = engine.provisional(0).unwrap().rows;
    let revised = p2_wed(&rows).expect("Wednesday's row is revised again");
    assert!(revised.flags.is_empty(), "{:?}", revised.flags);
    assert_eq!(revised.cleared_flags.len(), 1);
    assert_eq!(revised.cleared_flags[0].code, "inactive");
    assert!(revised.revision > flagged.revision);
}

#[test]
fn school_rows_count_every_class_and_hide_wellbeing_below_five_respondents() {
    // k = 1 would show every group; well-being still needs 5 respondents.
    let cfg = config(1);
    let answer = |id: &str, who: &str, class: &str, v: f64| {
        let mut e = ev(id, who, "2026-03-02 09:00", Answered, "q1");
        e.class_id = Some(class.into());
        e.response_value = Some(v);
        e
    };
    let mut events: Vec<_> = (0..4)
        .map(|i| {
            answer(
                &format!("w{i}"),
                &format!("p{i}"),
                if i < 2 { "c1" } else { "c2" },
                4.0,
            )
        })
        .collect();
    let rows = batch(&cfg, &events);
    let school = row(&rows, "school_weekly", "s1", day("2026-03-02"));
    assert_eq!((school.contributors, school.suppressed), (4, false));
    assert_eq!(school.class_id, None);
    assert_eq!(school.school_id.as_deref(), Some("s1"));
    close(value(school, "activity_events"), 4.0);
    assert_eq!(value(school, "wellbeing_index"), None, "4 respondents");
    // A fifth respondent: the school's well-being shows, each class's not.
    events.push(answer("w4", "p4", "c2", 2.0));
    let rows = batch(&cfg, &events);
    let school = row(&rows, "school_weekly", "s1", day("2026-03-02"));
    // (0.75 × 4 + 0.25) / 5 = 0.65
    close(value(school, "wellbeing_index"), 0.65);
    assert_eq!(
        value(
            row(&rows, "class_weekly", "c2", day("2026-03-02")),
            "wellbeing_index"
        ),
        None
    );
}
