//! Attendance calendars: a learner's school days in one class as month
//! grids, each day marked present, late or absent in words and with a
//! pattern as well as a colour, so that a parent meeting can look at the
//! term at a glance and print it.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use lap_schemas::IndicatorRow;
use maud::{Markup, html};

/// What a day's attendance records say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Attended every lesson recorded.
    Present,
    /// Arrived late to a lesson, absent from none.
    Late,
    /// Absent from a lesson.
    Absent,
}

impl Mark {
    fn word(self) -> &'static str {
        match self {
            Mark::Present => "present",
            Mark::Late => "late",
            Mark::Absent => "absent",
        }
    }
}

/// The mark of each day of `daily` (one class's daily rows of a learner)
/// that has attendance records, by the row's local date.
pub fn marks(daily: &[IndicatorRow]) -> BTreeMap<NaiveDate, Mark> {
    let value = |r: &IndicatorRow, name: &str| r.indicators.get(name).copied().flatten();
    daily
        .iter()
        .filter(|r| value(r, "attendance_rate").is_some())
        .filter_map(|r| {
            let tz: Tz = r.time_zone.parse().unwrap_or(Tz::UTC);
            let day = chrono::DateTime::from_timestamp_micros(r.window_start)?
                .with_timezone(&tz)
                .date_naive();
            let mark = if value(r, "absences").unwrap_or(0.0) > 0.0 {
                Mark::Absent
            } else if value(r, "tardies").unwrap_or(0.0) > 0.0 {
                Mark::Late
            } else {
                Mark::Present
            };
            Some((day, mark))
        })
        .collect()
}

/// One table per month of `marks`, Monday first, captioned with the month
/// and `what` (e.g. the class); days without records stay blank.
pub fn calendar(what: &str, marks: &BTreeMap<NaiveDate, Mark>) -> Markup {
    let mut months: BTreeMap<(i32, u32), Vec<(NaiveDate, Mark)>> = BTreeMap::new();
    for (day, mark) in marks {
        months
            .entry((day.year(), day.month()))
            .or_default()
            .push((*day, *mark));
    }
    html! {
        @for ((year, month), days) in &months {
            @let first = NaiveDate::from_ymd_opt(*year, *month, 1).expect("a month's first day");
            @let counts = |m: Mark| days.iter().filter(|(_, d)| *d == m).count();
            table.calendar {
                caption {
                    "Attendance in " (first.format("%B %Y")) ", " (what) ": "
                    (counts(Mark::Present)) " present, " (counts(Mark::Late)) " late, "
                    (counts(Mark::Absent)) " absent"
                }
                thead { tr { @for d in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] { th scope="col" { (d) } } } }
                tbody {
                    @for week in weeks(first) {
                        tr { @for day in week {
                            @match day.and_then(|d| marks.get(&d).map(|m| (d, *m))) {
                                Some((d, m)) => td class={"day " (m.word())} { span.n { (d.day()) } " " span.w { (m.word()) } },
                                None => td { @if let Some(d) = day { span.n { (d.day()) } } },
                            }
                        } }
                    }
                }
            }
        }
    }
}

/// The weeks of the month of `first`, Monday to Sunday, with `None` for
/// the days of the neighbouring months.
fn weeks(first: NaiveDate) -> Vec<[Option<NaiveDate>; 7]> {
    let mut out = Vec::new();
    let mut day = first - chrono::Days::new(u64::from(first.weekday().num_days_from_monday()));
    while day.month() == first.month() || day < first {
        let mut week = [None; 7];
        for slot in &mut week {
            *slot = (day.month() == first.month()).then_some(day);
            day = day + chrono::Days::new(1);
        }
        out.push(week);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_on_its_weekday_and_ends_with_its_last_day() {
        // September 2025 begins on a Monday and has 30 days: five weeks.
        let w = weeks(NaiveDate::from_ymd_opt(2025, 9, 1).unwrap());
        assert_eq!(w.len(), 5);
        assert_eq!(w[0][0], NaiveDate::from_ymd_opt(2025, 9, 1));
        assert_eq!(w[4][1], NaiveDate::from_ymd_opt(2025, 9, 30));
        assert_eq!(w[4][2], None);
        // February 2026 begins on a Sunday: its first week is six blanks
        // and the 1st.
        let f = weeks(NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert_eq!(f[0][..6], [None; 6]);
        assert_eq!(f[0][6], NaiveDate::from_ymd_opt(2026, 2, 1));
        assert_eq!(f.len(), 5, "the 2nd to the 28th fill four more weeks");
    }

    #[test]
    fn absent_beats_late_beats_present_and_the_table_says_so_in_words() {
        // Daily rows of a school in Berlin: each starts at local midnight,
        // 22:00 UTC the day before (summer time).
        let day = |d: i64, rate: f64, absences: f64, tardies: f64| IndicatorRow {
            table_name: "learner_daily".into(),
            window_kind: lap_schemas::WindowKind::Daily,
            window_start: 1_756_677_600_000_000 + (d - 1) * 86_400_000_000,
            window_end: 1_756_677_600_000_000 + d * 86_400_000_000,
            time_zone: "Europe/Berlin".into(),
            entity_kind: lap_schemas::EntityKind::Learner,
            entity_id: "p1".into(),
            class_id: Some("c1".into()),
            school_id: None,
            revision: 1,
            is_final: true,
            emitted_time: 0,
            contributors: 1,
            suppressed: false,
            indicators: [
                ("attendance_rate".to_string(), Some(rate)),
                ("absences".to_string(), Some(absences)),
                ("tardies".to_string(), Some(tardies)),
            ]
            .into(),
            flags: vec![],
            cleared_flags: vec![],
            newest_event_time: None,
        };
        let m = marks(&[
            day(1, 1.0, 0.0, 0.0),
            day(2, 1.0, 0.0, 1.0),
            day(3, 0.5, 1.0, 1.0),
        ]);
        let html = calendar("Maths 7A", &m).into_string();
        assert!(
            html.contains("September 2025, Maths 7A: 1 present, 1 late, 1 absent"),
            "{html}"
        );
        assert!(
            html.contains(r#"<td class="day absent"><span class="n">3</span> <span class="w">absent</span></td>"#),
            "the 3rd in Berlin, not the 2nd in UTC: {html}"
        );
    }
}
