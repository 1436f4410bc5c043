//! What the pages show, worked out from rows and flag actions, free of
//! HTTP and HTML so that it can be tested on its own.

use std::collections::BTreeMap;

use lap_schemas::{Flag, IndicatorRow, WindowKind};

use crate::store::{Action, FlagAction};

/// A flag as a teacher sees it now.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenFlag {
    /// The flag (code, reason, evidence).
    pub flag: Flag,
    /// The class of the row that raised it.
    pub class_id: Option<String>,
    /// Daily or weekly row.
    pub window_kind: WindowKind,
    /// Start of that row's window (UTC µs).
    pub window_start: i64,
    /// Whether that row is final or may still change.
    pub is_final: bool,
    /// A teacher acknowledged it as of this window or a later one.
    pub acknowledged: bool,
}

/// The newest row per class and window kind, oldest class first.
pub fn newest(rows: &[IndicatorRow]) -> Vec<&IndicatorRow> {
    let mut by: BTreeMap<(Option<&str>, &str), &IndicatorRow> = BTreeMap::new();
    for r in rows {
        let key = (r.class_id.as_deref(), r.window_kind.as_str());
        if by.get(&key).is_none_or(|b| b.window_start < r.window_start) {
            by.insert(key, r);
        }
    }
    by.into_values().collect()
}

/// Whether `actions` hold `action` on `code` of `row`'s learner and class
/// as of the row's window or a later one: an action applies until a flag
/// on a newer window (new evidence) raises the code again.
fn holds(actions: &[FlagAction], row: &IndicatorRow, code: &str, action: Action) -> bool {
    actions.iter().any(|a| {
        a.action == action
            && a.code == code
            && a.person_key == row.entity_id
            && a.class_id == row.class_id
            && a.window_start >= row.window_start
    })
}

/// The open flags of one learner: those on their newest daily and weekly
/// rows per class, less the ones a teacher resolved as of that window or
/// later.
pub fn open_flags(rows: &[IndicatorRow], actions: &[FlagAction]) -> Vec<OpenFlag> {
    let mut out = Vec::new();
    for row in newest(rows) {
        for flag in &row.flags {
            if holds(actions, row, &flag.code, Action::Resolved) {
                continue;
            }
            out.push(OpenFlag {
                flag: flag.clone(),
                class_id: row.class_id.clone(),
                window_kind: row.window_kind,
                window_start: row.window_start,
                is_final: row.is_final,
                acknowledged: holds(actions, row, &flag.code, Action::Acknowledged),
            });
        }
    }
    out
}

/// The values of indicator `name` over `rows` (oldest first), as
/// (window start, value) points; a suppressed row has no value.
pub fn series(rows: &[IndicatorRow], name: &str) -> Vec<(i64, Option<f64>)> {
    rows.iter()
        .map(|r| (r.window_start, r.indicators.get(name).copied().flatten()))
        .collect()
}

/// Indicator names present in any of `rows`, built-in ones first in the
/// pages' order, then the rest by name.
pub fn indicator_names(rows: &[IndicatorRow]) -> Vec<String> {
    let mut present: Vec<String> = rows
        .iter()
        .flat_map(|r| r.indicators.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let rank = |n: &String| {
        crate::labels::INDICATORS
            .iter()
            .position(|i| i.name == n)
            .unwrap_or(usize::MAX)
    };
    present.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    present
}

/// A group's rows, one per window: each indicator the mean over the
/// members with a value, `contributors` the members with a row in the
/// window, and nothing at all (suppressed) when fewer than `k` have one.
/// `rows` are the members' rows of one class and window kind.
pub fn group_rows(rows: &[IndicatorRow], k: u32) -> Vec<IndicatorRow> {
    let mut windows: BTreeMap<i64, Vec<&IndicatorRow>> = BTreeMap::new();
    for r in rows {
        windows.entry(r.window_start).or_default().push(r);
    }
    windows
        .into_values()
        .map(|members| {
            let first = members[0];
            let contributors = members.len() as i32;
            let suppressed = contributors < k as i32;
            let mut indicators = BTreeMap::new();
            if !suppressed {
                for name in
                    indicator_names(&members.iter().map(|r| (*r).clone()).collect::<Vec<_>>())
                {
                    let values: Vec<f64> = members
                        .iter()
                        .filter_map(|r| r.indicators.get(&name).copied().flatten())
                        .collect();
                    let mean = (!values.is_empty())
                        .then(|| values.iter().sum::<f64>() / values.len() as f64);
                    indicators.insert(name, mean);
                }
            }
            IndicatorRow {
                table_name: "group".into(),
                entity_kind: lap_schemas::EntityKind::Class,
                entity_id: String::new(),
                contributors,
                suppressed,
                indicators,
                flags: Vec::new(),
                cleared_flags: Vec::new(),
                is_final: members.iter().all(|r| r.is_final),
                emitted_time: members.iter().map(|r| r.emitted_time).max().unwrap_or(0),
                newest_event_time: members.iter().filter_map(|r| r.newest_event_time).max(),
                revision: 0,
                ..first.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lap_schemas::EntityKind;

    const WEEK: i64 = 7 * 86_400_000_000;

    fn row(week: i64, flags: &[&str]) -> IndicatorRow {
        IndicatorRow {
            table_name: "learner_weekly".into(),
            window_kind: WindowKind::Weekly,
            window_start: week * WEEK,
            window_end: (week + 1) * WEEK,
            time_zone: "UTC".into(),
            entity_kind: EntityKind::Learner,
            entity_id: "p1".into(),
            class_id: Some("c1".into()),
            school_id: None,
            revision: 1,
            is_final: true,
            emitted_time: 0,
            contributors: 1,
            suppressed: false,
            indicators: BTreeMap::new(),
            flags: flags
                .iter()
                .map(|c| Flag {
                    code: c.to_string(),
                    reason: String::new(),
                    evidence: BTreeMap::new(),
                })
                .collect(),
            cleared_flags: vec![],
            newest_event_time: None,
        }
    }

    fn action(week: i64, code: &str, action: Action) -> FlagAction {
        FlagAction {
            at: 0,
            viewer: "t1".into(),
            person_key: "p1".into(),
            class_id: Some("c1".into()),
            code: code.into(),
            action,
            window_start: week * WEEK,
            note: String::new(),
        }
    }

    fn codes(flags: &[OpenFlag]) -> Vec<(&str, bool)> {
        flags
            .iter()
            .map(|f| (f.flag.code.as_str(), f.acknowledged))
            .collect()
    }

    #[test]
    fn only_the_newest_window_counts_and_a_resolution_holds_until_new_evidence() {
        let rows = [
            row(1, &["inactive"]),
            row(2, &["inactive", "low_wellbeing"]),
        ];
        assert_eq!(
            codes(&open_flags(&rows, &[])),
            [("inactive", false), ("low_wellbeing", false)]
        );
        // Resolved as of week 2: gone while week 2 is the newest.
        let resolved = [action(2, "inactive", Action::Resolved)];
        assert_eq!(
            codes(&open_flags(&rows, &resolved)),
            [("low_wellbeing", false)]
        );
        // Week 3 raises it again: new evidence, open again.
        let later = [row(1, &[]), row(2, &["inactive"]), row(3, &["inactive"])];
        assert_eq!(codes(&open_flags(&later, &resolved)), [("inactive", false)]);
        // An acknowledgement marks it and keeps it open.
        let ack = [action(3, "inactive", Action::Acknowledged)];
        assert_eq!(codes(&open_flags(&later, &ack)), [("inactive", true)]);
        // Another learner's or class's action changes nothing.
        let mut other = action(3, "inactive", Action::Resolved);
        other.class_id = Some("c2".into());
        assert_eq!(codes(&open_flags(&later, &[other])), [("inactive", false)]);
    }

    #[test]
    fn a_group_is_the_mean_of_its_members_and_nothing_below_k() {
        let member = |id: &str, week: i64, score: f64| {
            let mut r = row(week, &[]);
            r.entity_id = id.into();
            r.indicators.insert("mean_score".into(), Some(score));
            r
        };
        let mut rows: Vec<IndicatorRow> = ["a", "b", "c", "d", "e"]
            .iter()
            .zip([0.2, 0.4, 0.6, 0.8, 1.0])
            .map(|(id, s)| member(id, 1, s))
            .collect();
        rows.extend([
            member("a", 2, 0.5),
            member("b", 2, 0.5),
            member("c", 2, 0.5),
        ]);
        let group = group_rows(&rows, 5);
        assert_eq!(group.len(), 2);
        assert_eq!(group[0].contributors, 5);
        let mean = group[0].indicators["mean_score"].unwrap();
        assert!((mean - 0.6).abs() < 1e-9, "{mean}");
        assert!(!group[0].suppressed);
        // Week 2: three members, below k = 5: no value at all.
        assert_eq!((group[1].contributors, group[1].suppressed), (3, true));
        assert!(group[1].indicators.is_empty());
    }

    #[test]
    fn built_in_indicators_come_first_in_page_order() {
        let mut r = row(1, &[]);
        for n in ["zeta", "mean_score", "activity_events", "wellbeing_calm"] {
            r.indicators.insert(n.into(), Some(1.0));
        }
        assert_eq!(
            indicator_names(&[r]),
            ["activity_events", "mean_score", "wellbeing_calm", "zeta"]
        );
    }
}
