//! Each indicator and flag on a small event set whose values are worked out
//! by hand in the comments. 2026-03-02 is a Monday; the zone is UTC unless
//! a test says otherwise.

mod common;

use common::*;
use lap_schemas::Action::*;
use lap_schemas::{EnrichedEvent, WindowKind};

const MON: &str = "2026-03-02";

#[test]
fn activity_counts_events_minutes_and_resources() {
    let mut e3 = ev("e3", "p1", "2026-03-02 09:45", Completed, "A");
    e3.duration_ms = Some(120_000);
    let events = vec![
        ev("e1", "p1", "2026-03-02 09:00", Viewed, "A"),
        ev("e2", "p1", "2026-03-02 09:05", Viewed, "B"),
        e3,
        ev("e4", "p1", "2026-03-02 10:00", Navigated, "C"),
    ];
    let rows = batch(&config(5), &events);
    let r = row(&rows, "learner_daily", "p1", day(MON));
    // 4 events; minutes: e1 gap 5, e2 gap 40 capped at 15, e3 reports 2,
    // e4 is last (0) = 22; resources viewed/completed: A, B (C was navigated).
    close(value(r, "activity_events"), 4.0);
    close(value(r, "active_minutes"), 22.0);
    close(value(r, "resources_used"), 2.0);
    assert!(r.is_final);
    assert_eq!(r.class_id.as_deref(), Some("c1"));
    assert_eq!(r.school_id.as_deref(), Some("s1"));
    assert_eq!(r.window_end - r.window_start, 86_400_000_000);
    let w = row(&rows, "learner_weekly", "p1", day(MON));
    assert_eq!(w.window_kind, WindowKind::Weekly);
    assert_eq!(w.window_end - w.window_start, 7 * 86_400_000_000);
    close(value(w, "activity_events"), 4.0);
}

#[test]
fn assessment_mean_score_and_pass_rate() {
    let mut a = ev("a1", "p1", "2026-03-02 09:00", Scored, "quiz1");
    a.score_scaled = Some(0.8);
    let mut b = ev("a2", "p1", "2026-03-02 10:00", Passed, "quiz2");
    b.score_scaled = Some(0.6);
    let mut c = ev("a3", "p1", "2026-03-02 11:00", Failed, "quiz3");
    c.score_scaled = Some(0.4);
    let mut d = ev("a4", "p1", "2026-03-02 12:00", Completed, "quiz4");
    d.success = Some(true);
    // Not an attempt: completed with neither score nor success.
    let e = ev("a5", "p1", "2026-03-02 13:00", Completed, "page");
    let rows = batch(&config(5), &[a, b, c, d, e]);
    let r = row(&rows, "learner_daily", "p1", day(MON));
    // attempts 4; mean of 0.8, 0.6, 0.4 = 0.6; passed: a2, a4; failed: a3 → 2/3.
    close(value(r, "attempts"), 4.0);
    close(value(r, "mean_score"), 0.6);
    close(value(r, "pass_rate"), 2.0 / 3.0);
}

#[test]
fn attendance_rate_absences_and_tardies() {
    let events = vec![
        ev("t1", "p1", "2026-03-02 08:00", Attended, "roll"),
        ev("t2", "p1", "2026-03-03 08:00", Absent, "roll"),
        ev("t3", "p1", "2026-03-04 08:00", Tardy, "roll"),
        ev("t4", "p1", "2026-03-05 08:00", Attended, "roll"),
        ev("t5", "p2", "2026-03-02 08:00", Attended, "roll"),
    ];
    let rows = batch(&config(5), &events);
    let w = row(&rows, "learner_weekly", "p1", day(MON));
    // (attended 2 + tardy 1) / 4 records = 0.75.
    close(value(w, "attendance_rate"), 0.75);
    close(value(w, "absences"), 1.0);
    close(value(w, "tardies"), 1.0);
    // One absence in four school days is not chronic: the flag needs ten
    // (see the signals tests).
    assert!(w.flags.is_empty(), "{:?}", w.flags);
    let p2 = row(&rows, "learner_weekly", "p2", day(MON));
    close(value(p2, "attendance_rate"), 1.0);
    assert!(p2.flags.is_empty());
}

#[test]
fn submissions_on_time_late_missing_and_the_missing_flag() {
    let due = at("2026-03-02 12:00");
    let with_due = |mut e: EnrichedEvent| {
        e.due_time = Some(due);
        e
    };
    let mut due2 = ev("s6", "p3", "2026-03-02 09:00", Viewed, "Y");
    due2.due_time = Some(at("2026-03-02 18:00"));
    let events = vec![
        with_due(ev("s1", "p1", "2026-03-02 11:00", Submitted, "X")),
        with_due(ev("s2", "p2", "2026-03-02 13:00", Submitted, "X")),
        with_due(ev("s3", "p3", "2026-03-02 09:00", Viewed, "X")),
        due2,
    ];
    let rows = batch(&config(3), &events);
    // X due at 12:00: p1 on time, p2 late (late, not missing), p3 never
    // submitted. Y due at 18:00: nobody submitted → missing for all three.
    let p1 = row(&rows, "learner_daily", "p1", day(MON));
    close(value(p1, "submissions_on_time"), 1.0);
    close(value(p1, "submissions_late"), 0.0);
    close(value(p1, "submissions_missing"), 1.0);
    let p2 = row(&rows, "learner_daily", "p2", day(MON));
    close(value(p2, "submissions_late"), 1.0);
    close(value(p2, "submissions_missing"), 1.0);
    assert!(p2.flags.is_empty(), "{:?}", p2.flags);
    let p3 = row(&rows, "learner_daily", "p3", day(MON));
    close(value(p3, "submissions_missing"), 2.0);
    assert_eq!(flags(p3), ["missing_submissions"]);
    let class = row(&rows, "class_daily", "c1", day(MON));
    assert_eq!((class.contributors, class.suppressed), (3, false));
    close(value(class, "submissions_on_time"), 1.0);
    close(value(class, "submissions_late"), 1.0);
    close(value(class, "submissions_missing"), 4.0);
}

#[test]
fn wellbeing_index_dimensions_reverse_scoring_and_flags() {
    let answer = |id: &str, person: &str, time: &str, item: &str, v: f64| {
        let mut e = ev(id, person, time, Answered, item);
        e.response_value = Some(v);
        e
    };
    let events = vec![
        // week 1: q1=5 → 1.0; q2=2 reverse → 1 − 1/4 = 0.75; index 0.875.
        answer("w1", "p1", "2026-03-02 09:00", "q1", 5.0),
        answer("w2", "p1", "2026-03-02 09:01", "q2", 2.0),
        // week 2: q1=2 → 0.25; q2=4 reverse → 0.25; index 0.25: low, and a
        // drop of 0.625.
        answer("w3", "p1", "2026-03-09 09:00", "q1", 2.0),
        answer("w4", "p1", "2026-03-09 09:01", "q2", 4.0),
        // not a questionnaire item: ignored.
        answer("w5", "p1", "2026-03-09 09:02", "other", 1.0),
    ];
    let rows = batch(&config(5), &events);
    let w1 = row(&rows, "learner_weekly", "p1", day(MON));
    close(value(w1, "wellbeing_index"), 0.875);
    close(value(w1, "wellbeing_social"), 1.0);
    close(value(w1, "wellbeing_calm"), 0.75);
    assert_eq!(value(w1, "growth_wellbeing"), None);
    assert!(w1.flags.is_empty());
    let w2 = row(&rows, "learner_weekly", "p1", day("2026-03-09"));
    close(value(w2, "wellbeing_index"), 0.25);
    close(value(w2, "growth_wellbeing"), -0.625);
    assert_eq!(flags(w2), ["low_wellbeing", "wellbeing_drop"]);
    assert!((evidence(w2, "wellbeing_drop")["previous"] - 0.875).abs() < 1e-9);
    // One learner in the class: the class row is suppressed (k = 5).
    let c = row(&rows, "class_weekly", "c1", day(MON));
    assert!(c.suppressed);
    assert_eq!(value(c, "wellbeing_index"), None);
}

#[test]
fn objectives_completed_and_curriculum_coverage() {
    let mut a = ev("o1", "p1", "2026-03-02 09:00", Completed, "lesson1");
    a.objective_ids = vec!["o1".into(), "o9".into()];
    let mut b = ev("o2", "p1", "2026-03-02 10:00", Viewed, "lesson2");
    b.objective_ids = vec!["o2".into()];
    let rows = batch(&config(5), &[a, b]);
    let r = row(&rows, "learner_daily", "p1", day(MON));
    // completed: o1 and o9 (o2 only viewed); course m7 defines o1–o3 → 1/3.
    close(value(r, "objectives_completed"), 2.0);
    close(value(r, "curriculum_coverage"), 1.0 / 3.0);
}

#[test]
fn growth_and_falling_scores_over_weeks() {
    let scores = [0.9, 0.8, 0.7, 0.6];
    let events: Vec<_> = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut e = ev(
                &format!("g{i}"),
                "p1",
                &format!("2026-03-{:02} 09:00", 2 + 7 * i),
                Scored,
                "quiz",
            );
            e.score_scaled = Some(*s);
            e
        })
        .collect();
    let rows = batch(&config(5), &events);
    let week = |i: usize| {
        row(
            &rows,
            "learner_weekly",
            "p1",
            day(&format!("2026-03-{:02}", 2 + 7 * i)),
        )
    };
    assert_eq!(value(week(0), "growth_mean_score"), None);
    close(value(week(1), "growth_mean_score"), -0.1);
    // Falling in each of the last 3 windows needs 4 scores: only week 4.
    assert!(week(2).flags.is_empty());
    assert_eq!(flags(week(3)), ["falling_scores"]);
    let e = evidence(week(3), "falling_scores");
    assert!((e["earliest"] - 0.9).abs() < 1e-9 && e["windows"] == 3.0);
}

#[test]
fn inactive_after_n_class_days_without_activity() {
    let mut cfg = config(5);
    cfg.flags.inactive_days = 3;
    // p1 active Mon–Fri, p2 only on Monday.
    let mut events: Vec<_> = (2..=6)
        .map(|d| {
            ev(
                &format!("a{d}"),
                "p1",
                &format!("2026-03-{d:02} 09:00"),
                Viewed,
                "A",
            )
        })
        .collect();
    events.push(ev("b", "p2", "2026-03-02 09:00", Viewed, "A"));
    let rows = batch(&cfg, &events);
    let inactive: Vec<_> = rows
        .iter()
        .filter(|r| r.flags.iter().any(|f| f.code == "inactive"))
        .map(|r| {
            (
                r.entity_id.as_str(),
                r.window_start,
                evidence(r, "inactive")["days_inactive"],
            )
        })
        .collect();
    // Tue, Wed, Thu, Fri are class days without p2: flagged from the third.
    assert_eq!(
        inactive,
        [
            ("p2", day("2026-03-05"), 3.0),
            ("p2", day("2026-03-06"), 4.0)
        ]
    );
}

#[test]
fn group_rows_are_suppressed_below_k_learners() {
    let events = |n: usize| -> Vec<_> {
        (0..n)
            .map(|i| {
                let mut e = ev(
                    &format!("k{i}"),
                    &format!("p{i}"),
                    "2026-03-02 09:00",
                    Scored,
                    "quiz",
                );
                e.score_scaled = Some(0.5);
                e
            })
            .collect()
    };
    let below = batch(&config(5), &events(4));
    let c = row(&below, "class_daily", "c1", day(MON));
    assert_eq!((c.contributors, c.suppressed), (4, true));
    assert!(
        c.indicators.values().all(Option::is_none),
        "{:?}",
        c.indicators
    );
    assert!(c.indicators.contains_key("mean_score"));
    let at_k = batch(&config(5), &events(5));
    let c = row(&at_k, "class_daily", "c1", day(MON));
    assert_eq!((c.contributors, c.suppressed), (5, false));
    close(value(c, "mean_score"), 0.5);
    close(value(c, "activity_events"), 5.0);
    // Learner rows are never suppressed.
    assert!(!row(&below, "learner_daily", "p0", day(MON)).suppressed);
}

#[test]
fn duplicates_count_once_and_voids_retract() {
    let mut void = ev(
        "v",
        "p1",
        "2026-03-02 10:00",
        lap_schemas::Action::Voided,
        "d2",
    );
    void.voids = Some("d2".into());
    let events = vec![
        ev("d1", "p1", "2026-03-02 09:00", Viewed, "A"),
        ev("d1", "p1", "2026-03-02 09:00", Viewed, "A"),
        ev("d2", "p1", "2026-03-02 09:10", Viewed, "B"),
        void,
    ];
    let rows = batch(&config(5), &events);
    let r = row(&rows, "learner_daily", "p1", day(MON));
    // d1 once, d2 voided, the void itself is not activity.
    close(value(r, "activity_events"), 1.0);
    close(value(r, "resources_used"), 1.0);
}

#[test]
fn windows_follow_the_schools_midnight() {
    let mut cfg = config(5);
    cfg.time_zone = "Europe/Berlin".into();
    // Sunday 23:30 UTC is Monday 00:30 in Berlin (UTC+1 in March).
    let rows = batch(&cfg, &[ev("z", "p1", "2026-03-01 23:30", Viewed, "A")]);
    let r = row(&rows, "learner_daily", "p1", at("2026-03-01 23:00"));
    assert_eq!(r.time_zone, "Europe/Berlin");
    let w = row(&rows, "learner_weekly", "p1", at("2026-03-01 23:00"));
    assert_eq!(w.window_end, at("2026-03-08 23:00"));
    // The week of the spring change (29 March) is an hour shorter.
    let rows = batch(&cfg, &[ev("s", "p1", "2026-03-25 10:00", Viewed, "A")]);
    let w = row(&rows, "learner_weekly", "p1", at("2026-03-22 23:00"));
    assert_eq!(w.window_end, at("2026-03-29 22:00"));
}
