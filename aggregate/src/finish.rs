//! From computed values to indicator rows: rows for the learners of a
//! class who had no activity, growth against the learner's previous
//! window, early-warning flags, small-group suppression, and (for final
//! windows) the history later windows look back on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use lap_runtime::config::FlagConfig;
use lap_schemas::{EntityKind, IndicatorRow, WindowKind};

use crate::flags::{Evidence, flags};
use crate::history::{History, Past};
use crate::lookback::{Lookback, learners_of};
use crate::reference::Members;
use crate::sql::Computed;
use crate::table::{Grain, TableInfo};
use crate::window::Calendar;

/// Group rows never show well-being of fewer learners than this, whatever
/// `min_group_size` says: answers about how a child feels are the most
/// sensitive figures lap has.
pub const WELLBEING_MIN_GROUP: u32 = 5;

/// Window-independent parts of a row.
#[derive(Clone, Debug)]
pub struct RowContext<'a> {
    /// Window length.
    pub kind: WindowKind,
    /// Window end, UTC µs (by window start).
    pub ends: &'a HashMap<i64, i64>,
    /// The schools' calendar.
    pub cal: &'a Calendar,
    /// Revision of this emission.
    pub revision: i64,
    /// Emission time, UTC µs.
    pub emitted: i64,
    /// Final emission (updates history).
    pub is_final: bool,
    /// The partition's watermark: evidence up to it is complete (a day
    /// that ended before it can count as a day without activity).
    pub watermark: i64,
    /// k of small-group suppression.
    pub min_group_size: u32,
    /// Flag thresholds.
    pub flags: &'a FlagConfig,
}

/// What the rows of one chunk look back on.
pub struct Earlier<'a> {
    /// History of the task.
    pub history: &'a mut History,
    /// The chunk's open days.
    pub lookback: &'a Lookback,
    /// Class lists.
    pub members: &'a BTreeMap<String, Members>,
}

/// Indicators a learner without events in a window has: none of anything.
const NOTHING: [&str; 3] = ["activity_events", "active_minutes", "resources_used"];

/// Turns the computed rows of one window kind into indicator rows, in
/// window order: every learner of each class with rows in a window gets
/// one; for a final emission, records history as it goes.
pub fn finish(
    ctx: &RowContext<'_>,
    computed: Vec<Computed>,
    info: &TableInfo,
    past: &mut Earlier<'_>,
) -> Vec<IndicatorRow> {
    let mut rows = Vec::with_capacity(computed.len());
    let mut by_window: BTreeMap<i64, Vec<Computed>> = BTreeMap::new();
    for c in computed {
        by_window.entry(c.window_start).or_default().push(c);
    }
    for (start, mut window) in by_window {
        let classes: Vec<Arc<str>> = window
            .iter()
            .filter(|c| c.grain == Grain::Class)
            .map(|c| c.entity.clone())
            .collect();
        let seen: HashSet<(Arc<str>, Arc<str>)> = window
            .iter()
            .filter(|c| c.grain == Grain::Learner)
            .filter_map(|c| Some((c.class_id.clone()?, c.entity.clone())))
            .collect();
        for class in &classes {
            for learner in learners_of(past.members, past.history, class) {
                if !seen.contains(&(class.clone(), learner.clone())) {
                    window.push(Computed {
                        grain: Grain::Learner,
                        window_start: start,
                        class_id: Some(class.clone()),
                        entity: learner,
                        values: BTreeMap::new(),
                    });
                }
            }
        }
        let mut active: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for c in window {
            let key = (c.grain, start, c.class_id.clone(), c.entity.clone());
            let newest = info.newest.get(&key).copied();
            let mut row = match c.grain {
                Grain::Learner => {
                    if let (Some(class), Some(_)) = (&c.class_id, newest) {
                        active
                            .entry(class.clone())
                            .or_default()
                            .push(c.entity.clone());
                    }
                    learner_row(ctx, c, info, past)
                }
                Grain::Class | Grain::School => group_row(ctx, c, info),
            };
            if row.entity_kind == EntityKind::Learner {
                // The learner themself, when they had any event.
                row.contributors = i32::from(newest.is_some());
            }
            row.newest_event_time = newest;
            rows.push(row);
        }
        if ctx.is_final && ctx.kind == WindowKind::Daily {
            for (class, learners) in &active {
                past.history.record_class_day(class, start, learners);
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
    let school_id = match entity_kind {
        EntityKind::School => Some(c.entity.to_string()),
        _ => c
            .class_id
            .as_ref()
            .and_then(|class| info.schools.get(class))
            .map(|s| s.to_string()),
    };
    IndicatorRow {
        table_name: format!("{}_{}", entity_kind.as_str(), ctx.kind.as_str()),
        window_kind: ctx.kind,
        window_start: c.window_start,
        window_end: ctx
            .ends
            .get(&c.window_start)
            .copied()
            .unwrap_or(c.window_start),
        time_zone: ctx.cal.name().to_string(),
        entity_kind,
        entity_id: c.entity.to_string(),
        class_id: c.class_id.as_deref().map(String::from),
        school_id,
        revision: ctx.revision,
        is_final: ctx.is_final,
        emitted_time: ctx.emitted,
        contributors: 1,
        suppressed: false,
        indicators: BTreeMap::new(),
        flags: Vec::new(),
        cleared_flags: Vec::new(),
        newest_event_time: None,
    }
}

/// A class or school row: suppressed below k contributing learners, and
/// its well-being below k (at least [`WELLBEING_MIN_GROUP`]) respondents.
fn group_row(ctx: &RowContext<'_>, c: Computed, info: &TableInfo) -> IndicatorRow {
    let (kind, counts) = match c.grain {
        Grain::School => (EntityKind::School, &info.school_contributors),
        _ => (EntityKind::Class, &info.contributors),
    };
    let mut row = base_row(ctx, &c, kind, info);
    let contributors = counts
        .get(&(c.window_start, c.entity.clone()))
        .copied()
        .unwrap_or(0);
    row.contributors = contributors as i32;
    row.suppressed = contributors < ctx.min_group_size;
    let respondents = c.values.get("wellbeing_respondents").copied().flatten();
    let wellbeing_k = f64::from(ctx.min_group_size.max(WELLBEING_MIN_GROUP));
    let hide_wellbeing = respondents.is_none_or(|n| n < wellbeing_k);
    row.indicators = c
        .values
        .into_iter()
        .map(|(k, v)| {
            let wellbeing = k.starts_with("wellbeing_") && k != "wellbeing_respondents";
            let hidden = row.suppressed || (wellbeing && hide_wellbeing);
            (k, if hidden { None } else { v })
        })
        .collect();
    row
}

fn learner_row(
    ctx: &RowContext<'_>,
    c: Computed,
    info: &TableInfo,
    past: &mut Earlier<'_>,
) -> IndicatorRow {
    let mut row = base_row(ctx, &c, EntityKind::Learner, info);
    let key = (ctx.kind, c.class_id.clone(), c.entity.clone());
    let value = |name: &str| c.values.get(name).copied().flatten();
    let (score, wellbeing) = (value("mean_score"), value("wellbeing_index"));
    let history = past.history.learners.get(&key).cloned().unwrap_or_default();
    let previous = |f: fn(&Past) -> Option<f64>| history.before(c.window_start).find_map(f);
    let prev_score = previous(|p| p.mean_score);
    let prev_wellbeing = previous(|p| p.wellbeing);
    let mut values = c.values.clone();
    for name in NOTHING {
        values.entry(name.into()).or_insert(Some(0.0));
    }
    values.insert(
        "growth_mean_score".into(),
        score.zip(prev_score).map(|(a, b)| a - b),
    );
    values.insert(
        "growth_wellbeing".into(),
        wellbeing.zip(prev_wellbeing).map(|(a, b)| a - b),
    );
    let end = row.window_end;
    let evidence = Evidence {
        values: &values,
        prev_wellbeing,
        past: &history,
        start: c.window_start,
        end,
        class: c.class_id.as_ref(),
        learner: &c.entity,
        lookback: past.lookback,
        history: past.history,
        day_ended: ctx.kind == WindowKind::Daily && end <= ctx.watermark,
    };
    row.flags = flags(ctx.flags, ctx.cal, &evidence);
    row.indicators = values;
    if ctx.is_final {
        past.history.record_learner(
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
