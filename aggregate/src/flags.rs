//! Early-warning flags: signals for a teacher to look at, each with the
//! numbers behind it and a reason in plain words. They describe; they
//! never rank.
//!
//! A flag is judged as soon as its evidence is complete, on provisional
//! rows too, so it arrives the morning after rather than once the week is
//! final; a later revision of the row drops it again when late data
//! changes the evidence (the stream marks it cleared, see
//! [`crate::unchanged`]).
//!
//! | code | raised on a learner row when |
//! |---|---|
//! | `chronic_absence` | absent on more than `absence_rate` of their last `absence_lookback_days` school days in the class, over at least `absence_min_days` of them |
//! | `inactive` | (daily rows, once the day is over) no activity on the class's last `inactive_days` days with activity |
//! | `low_wellbeing` | well-being index below `wellbeing_below` |
//! | `wellbeing_drop` | well-being index fell by more than `wellbeing_drop` since their previous window |
//! | `falling_scores` | mean score fell in each of their last `falling_windows` windows with scores |
//! | `missing_submissions` | at least `missing_submissions` assignments due in the window not handed in |

use std::collections::BTreeMap;
use std::sync::Arc;

use lap_runtime::config::FlagConfig;
use lap_schemas::Flag;

use crate::history::{History, LearnerHistory};
use crate::lookback::Lookback;
use crate::window::Calendar;

/// What a learner row's flags are judged on.
pub struct Evidence<'a> {
    /// The row's indicators.
    pub values: &'a BTreeMap<String, Option<f64>>,
    /// Well-being of the learner's previous window with one.
    pub prev_wellbeing: Option<f64>,
    /// The learner's final windows.
    pub past: &'a LearnerHistory,
    /// Window start and end, UTC µs.
    pub start: i64,
    /// Window end, UTC µs.
    pub end: i64,
    /// The learner's class (rows outside a class have no class flags).
    pub class: Option<&'a Arc<str>>,
    /// The learner.
    pub learner: &'a Arc<str>,
    /// The chunk's open days.
    pub lookback: &'a Lookback,
    /// The task's history.
    pub history: &'a History,
    /// A daily row whose day is over (the partition's watermark passed it).
    pub day_ended: bool,
}

fn flag(code: &str, reason: String, evidence: &[(&str, f64)]) -> Flag {
    Flag {
        code: code.into(),
        reason,
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// A day start as a local date, for reasons.
fn date(cal: &Calendar, micros: i64) -> String {
    cal.day_of(micros).to_string()
}

/// The flags one learner row raises.
pub fn flags(cfg: &FlagConfig, cal: &Calendar, e: &Evidence<'_>) -> Vec<Flag> {
    let mut out = Vec::new();
    if let Some(class) = e.class {
        out.extend(chronic_absence(cfg, cal, e, class));
        if e.day_ended {
            out.extend(inactive(cfg, cal, e, class));
        }
    }
    let value = |name: &str| e.values.get(name).copied().flatten();
    if let Some(w) = value("wellbeing_index") {
        if w < cfg.wellbeing_below {
            out.push(flag(
                "low_wellbeing",
                format!(
                    "well-being index {w:.2} is below {:.2}",
                    cfg.wellbeing_below
                ),
                &[("wellbeing_index", w), ("threshold", cfg.wellbeing_below)],
            ));
        }
        if let Some(prev) = e.prev_wellbeing
            && prev - w > cfg.wellbeing_drop
        {
            out.push(flag(
                "wellbeing_drop",
                format!(
                    "well-being index fell from {prev:.2} to {w:.2}, more than {:.2}",
                    cfg.wellbeing_drop
                ),
                &[
                    ("wellbeing_index", w),
                    ("previous", prev),
                    ("threshold", cfg.wellbeing_drop),
                ],
            ));
        }
    }
    if let Some(score) = value("mean_score") {
        out.extend(falling_scores(cfg, e, score));
    }
    if let Some(missing) = value("submissions_missing")
        && missing >= f64::from(cfg.missing_submissions)
    {
        out.push(flag(
            "missing_submissions",
            format!(
                "{missing:.0} assignments due in this window not handed in (threshold {})",
                cfg.missing_submissions
            ),
            &[
                ("missing", missing),
                ("threshold", f64::from(cfg.missing_submissions)),
            ],
        ));
    }
    out
}

fn chronic_absence(
    cfg: &FlagConfig,
    cal: &Calendar,
    e: &Evidence<'_>,
    class: &Arc<str>,
) -> Option<Flag> {
    let days = e.lookback.school_days(
        e.history,
        class,
        e.learner,
        e.end,
        cfg.absence_lookback_days as usize,
    );
    let (first, last) = (days.first()?.0, days.last()?.0);
    let absent = days.iter().filter(|(_, a)| *a).count();
    let rate = absent as f64 / days.len() as f64;
    if days.len() < cfg.absence_min_days as usize || rate <= cfg.absence_rate {
        return None;
    }
    Some(flag(
        "chronic_absence",
        format!(
            "absent on {absent} of their last {} school days in this class ({:.0} %, {} to {}), above the {:.0} % threshold",
            days.len(),
            rate * 100.0,
            date(cal, first),
            date(cal, last),
            cfg.absence_rate * 100.0
        ),
        &[
            ("absence_rate", rate),
            ("absent_days", absent as f64),
            ("school_days", days.len() as f64),
            ("first_day", first as f64),
            ("last_day", last as f64),
            ("threshold", cfg.absence_rate),
            ("min_school_days", f64::from(cfg.absence_min_days)),
        ],
    ))
}

fn inactive(cfg: &FlagConfig, cal: &Calendar, e: &Evidence<'_>, class: &Arc<str>) -> Option<Flag> {
    let (missed, last) = e
        .lookback
        .days_inactive(e.history, class, e.learner, e.start);
    let needed = cfg.inactive_days as usize;
    if missed < needed {
        return None;
    }
    let since = match last {
        Some(day) => format!("last active {}", date(cal, day)),
        None => "no activity seen".into(),
    };
    let mut evidence = vec![
        ("days_inactive", missed as f64),
        ("threshold", needed as f64),
    ];
    if let Some(day) = last {
        evidence.push(("last_active_day", day as f64));
    }
    Some(flag(
        "inactive",
        format!("no activity on the class's last {missed} days with activity ({since})"),
        &evidence,
    ))
}

fn falling_scores(cfg: &FlagConfig, e: &Evidence<'_>, score: f64) -> Option<Flag> {
    let needed = cfg.falling_windows as usize;
    let earlier: Vec<f64> = e
        .past
        .before(e.start)
        .filter_map(|p| p.mean_score)
        .take(needed)
        .collect();
    let mut series = vec![score];
    series.extend(&earlier);
    // Newest first: falling means each is below the one after it.
    if earlier.len() < needed || !series.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let oldest = series[needed];
    Some(flag(
        "falling_scores",
        format!(
            "mean score fell in each of the last {needed} windows with scores, from {oldest:.2} to {score:.2}"
        ),
        &[
            ("mean_score", score),
            ("earliest", oldest),
            ("windows", needed as f64),
        ],
    ))
}
