//! From computed values to indicator rows: growth against the learner's
//! previous window, early-warning flags, small-group suppression, and (for
//! final windows) the history later windows look back on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lap_runtime::config::FlagConfig;
use lap_schemas::{EntityKind, Flag, IndicatorRow, WindowKind};

use crate::history::{History, LearnerHistory, Past};
use crate::sql::Computed;
use crate::table::{Grain, TableInfo};

/// Window-independent parts of a row.
#[derive(Clone, Debug)]
pub struct RowContext<'a> {
    /// Window length.
    pub kind: WindowKind,
    /// Window end, UTC µs (by window start).
    pub ends: &'a HashMap<i64, i64>,
    /// IANA zone name.
    pub time_zone: &'a str,
    /// Revision of this emission.
    pub revision: i64,
    /// Emission time, UTC µs.
    pub emitted: i64,
    /// Final emission (updates history).
    pub is_final: bool,
    /// k of small-group suppression.
    pub min_group_size: u32,
    /// Flag thresholds.
    pub flags: &'a FlagConfig,
}

/// Turns the computed rows of one window kind into indicator rows, in
/// window order; for a final emission, records history as it goes and adds
/// rows for learners of active classes who were inactive for too long.
pub fn finish(
    ctx: &RowContext<'_>,
    computed: Vec<Computed>,
    info: &TableInfo,
    history: &mut History,
) -> Vec<IndicatorRow> {
    let mut rows = Vec::with_capacity(computed.len());
    let mut by_window: BTreeMap<i64, Vec<Computed>> = BTreeMap::new();
    for c in computed {
        by_window.entry(c.window_start).or_default().push(c);
    }
    for (start, window) in by_window {
        let mut active: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for c in window {
            let row = match c.grain {
                Grain::Learner => {
                    if let Some(class) = &c.class_id {
                        active
                            .entry(class.clone())
                            .or_default()
                            .push(c.entity.clone());
                    }
                    learner_row(ctx, c, info, history)
                }
                Grain::Class => class_row(ctx, c, info),
            };
            rows.push(row);
        }
        if ctx.is_final && ctx.kind == WindowKind::Daily {
            for (class, learners) in &active {
                history.record_class_day(class, start, learners);
                rows.extend(inactive_rows(ctx, start, class, info, history));
            }
        }
    }
    rows
}

fn base_row(
    ctx: &RowContext<'_>,
    c: &Computed,
    entity_kind: EntityKind,
    info: &TableInfo,
) -> IndicatorRow {
    let grain = match entity_kind {
        EntityKind::Learner => "learner",
        EntityKind::Class => "class",
        EntityKind::School => "school",
    };
    let kind = match ctx.kind {
        WindowKind::Daily => "daily",
        WindowKind::Weekly => "weekly",
    };
    IndicatorRow {
        table_name: format!("{grain}_{kind}"),
        window_kind: ctx.kind,
        window_start: c.window_start,
        window_end: ctx
            .ends
            .get(&c.window_start)
            .copied()
            .unwrap_or(c.window_start),
        time_zone: ctx.time_zone.to_string(),
        entity_kind,
        entity_id: c.entity.to_string(),
        class_id: c.class_id.as_deref().map(String::from),
        school_id: c
            .class_id
            .as_ref()
            .and_then(|class| info.schools.get(class))
            .map(|s| s.to_string()),
        revision: ctx.revision,
        is_final: ctx.is_final,
        emitted_time: ctx.emitted,
        contributors: 1,
        suppressed: false,
        indicators: BTreeMap::new(),
        flags: Vec::new(),
    }
}

fn class_row(ctx: &RowContext<'_>, c: Computed, info: &TableInfo) -> IndicatorRow {
    let mut row = base_row(ctx, &c, EntityKind::Class, info);
    let contributors = info
        .contributors
        .get(&(c.window_start, c.entity.clone()))
        .copied()
        .unwrap_or(0);
    row.contributors = contributors as i32;
    row.suppressed = contributors < ctx.min_group_size;
    row.indicators = c
        .values
        .into_iter()
        .map(|(k, v)| (k, if row.suppressed { None } else { v }))
        .collect();
    row
}

fn learner_row(
    ctx: &RowContext<'_>,
    c: Computed,
    info: &TableInfo,
    history: &mut History,
) -> IndicatorRow {
    let mut row = base_row(ctx, &c, EntityKind::Learner, info);
    let key = (ctx.kind, c.class_id.clone(), c.entity.clone());
    let value = |name: &str| c.values.get(name).copied().flatten();
    let (score, wellbeing) = (value("mean_score"), value("wellbeing_index"));
    let past = history.learners.get(&key).cloned().unwrap_or_default();
    let previous = |f: fn(&Past) -> Option<f64>| past.before(c.window_start).find_map(f);
    let prev_score = previous(|p| p.mean_score);
    let prev_wellbeing = previous(|p| p.wellbeing);
    let mut values = c.values.clone();
    values.insert(
        "growth_mean_score".into(),
        score.zip(prev_score).map(|(a, b)| a - b),
    );
    values.insert(
        "growth_wellbeing".into(),
        wellbeing.zip(prev_wellbeing).map(|(a, b)| a - b),
    );
    row.flags = flags(
        ctx.flags,
        &c.values,
        prev_wellbeing,
        &past,
        c.window_start,
        score,
    );
    row.indicators = values;
    if ctx.is_final {
        history.record_learner(
            key,
            Past {
                start: c.window_start,
                mean_score: score,
                wellbeing,
            },
        );
    }
    row
}

fn flag(code: &str, reason: String, evidence: &[(&str, f64)]) -> Flag {
    Flag {
        code: code.into(),
        reason,
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

/// The flags one learner row raises (DESIGN.md §6).
fn flags(
    cfg: &FlagConfig,
    values: &BTreeMap<String, Option<f64>>,
    prev_wellbeing: Option<f64>,
    past: &LearnerHistory,
    start: i64,
    score: Option<f64>,
) -> Vec<Flag> {
    let value = |name: &str| values.get(name).copied().flatten();
    let mut out = Vec::new();
    if let (Some(rate), Some(absences)) = (value("attendance_rate"), value("absences")) {
        let absence = 1.0 - rate;
        if absences > 0.0 && absence > cfg.absence_rate {
            out.push(flag(
                "chronic_absence",
                format!(
                    "absent for {:.0} % of attendance records ({absences:.0} absences), above the {:.0} % threshold",
                    absence * 100.0,
                    cfg.absence_rate * 100.0
                ),
                &[("absence_rate", absence), ("absences", absences), ("threshold", cfg.absence_rate)],
            ));
        }
    }
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
        if let Some(prev) = prev_wellbeing
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
    if let Some(score) = score {
        let needed = cfg.falling_windows as usize;
        let earlier: Vec<f64> = past
            .before(start)
            .filter_map(|p| p.mean_score)
            .take(needed)
            .collect();
        let mut series = vec![score];
        series.extend(&earlier);
        // series is newest first: falling means each is below the one after it.
        if earlier.len() == needed && series.windows(2).all(|w| w[0] < w[1]) {
            let oldest = series[needed];
            out.push(flag(
                "falling_scores",
                format!(
                    "mean score fell in each of the last {needed} windows with scores, from {oldest:.2} to {score:.2}"
                ),
                &[("mean_score", score), ("earliest", oldest), ("windows", needed as f64)],
            ));
        }
    }
    if let Some(missing) = value("submissions_missing")
        && missing >= f64::from(cfg.missing_submissions)
    {
        out.push(flag(
            "missing_submissions",
            format!(
                "{missing:.0} submissions missing (threshold {})",
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

/// Rows for learners of `class` without activity on its last
/// `inactive_days` active days (final daily windows only): they have no
/// events, so SQL makes no row for them.
fn inactive_rows(
    ctx: &RowContext<'_>,
    start: i64,
    class: &Arc<str>,
    info: &TableInfo,
    history: &History,
) -> Vec<IndicatorRow> {
    let Some(h) = history.classes.get(class) else {
        return Vec::new();
    };
    let needed = ctx.flags.inactive_days as usize;
    let mut rows = Vec::new();
    for (learner, &last) in &h.last_active {
        if last >= start {
            continue;
        }
        let missed = h.active_days.range(last + 1..=start).count();
        if missed < needed {
            continue;
        }
        let c = Computed {
            grain: Grain::Learner,
            window_start: start,
            class_id: Some(class.clone()),
            entity: learner.clone(),
            values: BTreeMap::new(),
        };
        let mut row = base_row(ctx, &c, EntityKind::Learner, info);
        row.contributors = 0;
        row.indicators.insert("activity_events".into(), Some(0.0));
        row.flags.push(flag(
            "inactive",
            format!("no activity on the class's last {missed} active days"),
            &[
                ("days_inactive", missed as f64),
                ("threshold", needed as f64),
            ],
        ));
        rows.push(row);
    }
    rows
}
