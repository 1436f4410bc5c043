//! Writing recomputed rows into the analytics stores: per store and table,
//! only what differs from what the store holds, and only where the stream
//! is done with the window.
//!
//! For each recomputed row, by what the store holds for its key:
//! - the same (values, flags, contributors, suppression, freshness):
//!   nothing is written, and its revision stays;
//! - a final row that differs (late events, a changed SQL file): replaced,
//!   with a revision above every stream revision; flags the old row raised
//!   and the new one does not are kept on it as cleared;
//! - a provisional row: the stream still owns the window; left alone;
//! - nothing: written when the window's week is past its allowed lateness
//!   (the stream has finalised it), else left to the stream.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use lap_aggregate::window::{Calendar, Window};
use lap_runtime::config::Config;
use lap_schemas::{Flag, IndicatorRow, WindowKind};
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::postgres::PgStore;
use lap_sink::rows::Rows;
use lap_sink::select::Selection;
use lap_sink::store::Store;

/// Rows written per store write.
const CHUNK: usize = 5_000;

/// Changed rows described in the report, per store and table.
const EXAMPLES: usize = 3;

/// A store `lap backfill` writes.
enum Target {
    Postgres(PgStore),
    Lake(Lake, DeltaStore),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Postgres(_) => "postgres",
            Target::Lake(..) => "lake",
        }
    }

    async fn stored(
        &mut self,
        table: &'static str,
        (since, until): (i64, i64),
    ) -> anyhow::Result<Vec<IndicatorRow>> {
        let window = Selection::windows(since, until);
        Ok(match self {
            Target::Postgres(pg) => pg.indicator_rows(table, &window).await?,
            Target::Lake(lake, _) => {
                lap_sink::delta::read::indicator_rows(lake, table, &window).await?
            }
        })
    }

    async fn write(&mut self, table: &'static str, rows: Vec<IndicatorRow>) -> anyhow::Result<()> {
        let rows = Rows {
            indicators: BTreeMap::from([(table, rows)]),
            ..Rows::default()
        };
        match self {
            Target::Postgres(pg) => pg.write(&rows).await?,
            Target::Lake(_, store) => store.write(&rows).await?,
        };
        Ok(())
    }
}

type Key = (i64, String, Option<String>);

fn key(r: &IndicatorRow) -> Key {
    (r.window_start, r.entity_id.clone(), r.class_id.clone())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same_flags(a: &[Flag], b: &[Flag]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.code == y.code
                && x.evidence.len() == y.evidence.len()
                && x.evidence
                    .iter()
                    .zip(&y.evidence)
                    .all(|((k, v), (l, w))| k == l && close(*v, *w))
        })
}

/// Whether two rows' indicators say the same; a null value and a missing
/// one are the same (the lake does not spell null map entries out).
fn same_values(a: &IndicatorRow, b: &IndicatorRow) -> bool {
    let names: BTreeSet<&String> = a.indicators.keys().chain(b.indicators.keys()).collect();
    names.into_iter().all(|name| {
        let get = |r: &IndicatorRow| r.indicators.get(name).copied().flatten();
        match (get(a), get(b)) {
            (Some(x), Some(y)) => close(x, y),
            (x, y) => x == y,
        }
    })
}

/// Whether two rows of one key say the same (revisions, emission times and
/// cleared flags aside).
fn same(a: &IndicatorRow, b: &IndicatorRow) -> bool {
    same_values(a, b)
        && same_flags(&a.flags, &b.flags)
        && (
            a.contributors,
            a.suppressed,
            a.newest_event_time,
            &a.school_id,
        ) == (
            b.contributors,
            b.suppressed,
            b.newest_event_time,
            &b.school_id,
        )
}

/// What differs between `old` and `new`, in a few words, for the report.
fn difference(old: &IndicatorRow, new: &IndicatorRow) -> String {
    let mut parts = Vec::new();
    let names: BTreeSet<&String> = old.indicators.keys().chain(new.indicators.keys()).collect();
    for name in names {
        let get = |r: &IndicatorRow| r.indicators.get(name).copied().flatten();
        let (a, b) = (get(old), get(new));
        let equal = match (a, b) {
            (Some(x), Some(y)) => close(x, y),
            (x, y) => x == y,
        };
        if !equal {
            parts.push(format!("{name} {a:?} → {b:?}"));
        }
    }
    if !same_flags(&old.flags, &new.flags) {
        let codes = |r: &IndicatorRow| r.flags.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
        parts.push(format!("flags {:?} → {:?}", codes(old), codes(new)));
    }
    for (what, a, b) in [
        (
            "contributors",
            old.contributors.to_string(),
            new.contributors.to_string(),
        ),
        (
            "suppressed",
            old.suppressed.to_string(),
            new.suppressed.to_string(),
        ),
        (
            "newest event",
            format!("{:?}", old.newest_event_time),
            format!("{:?}", new.newest_event_time),
        ),
        (
            "school",
            format!("{:?}", old.school_id),
            format!("{:?}", new.school_id),
        ),
    ] {
        if a != b {
            parts.push(format!("{what} {a} → {b}"));
        }
    }
    format!(
        "{} {} {}: {}",
        new.entity_id,
        new.class_id.as_deref().unwrap_or("-"),
        lap_aggregate::watermark::instant(new.window_start),
        parts.join(", ")
    )
}

/// `new` replacing `old`: what `old` raised that `new` does not is cleared.
fn replacing(mut new: IndicatorRow, old: &IndicatorRow) -> IndicatorRow {
    let raised: BTreeSet<&str> = new.flags.iter().map(|f| f.code.as_str()).collect();
    let mut cleared = old.cleared_flags.clone();
    cleared.extend(
        old.flags
            .iter()
            .filter(|f| !raised.contains(f.code.as_str()))
            .cloned(),
    );
    cleared.retain(|f| !raised.contains(f.code.as_str()));
    new.cleared_flags = cleared;
    new
}

/// What happened to one table's rows in one store.
#[derive(Debug, Default)]
struct Tally {
    unchanged: usize,
    written: usize,
    open: usize,
}

/// Writes `rows` (windows starting in `range`) into every configured store.
pub async fn to_stores(
    cfg: &Config,
    lake: Option<&str>,
    rows: Vec<IndicatorRow>,
    range: (i64, i64),
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut targets = Vec::new();
    if let Some(pg) = super::super::postgres_store(cfg)? {
        targets.push(Target::Postgres(pg));
    }
    if cfg.sink.lake.enabled || lake.is_some() {
        let lake = if dry_run {
            super::super::lake(cfg, lake)?
        } else {
            super::super::writable_lake(cfg, lake).await?
        };
        let store = DeltaStore::new(lake.clone()).configured(&cfg.sink.lake);
        targets.push(Target::Lake(lake, store));
    }
    anyhow::ensure!(
        !targets.is_empty(),
        "no store to write: enable sink.postgres or sink.lake, give --lake, or write to a file with --out"
    );
    let cal = Calendar::new(&cfg.aggregate.time_zone)?;
    let lateness = cfg.aggregate.allowed_lateness_s as i64 * 1_000_000;
    let now = lap_aggregate::revision::now_ms() * 1000;
    // The stream has finalised a window once its week is past the lateness.
    let past = |r: &IndicatorRow| {
        let week = Window::of(WindowKind::Weekly, cal.day_of(r.window_start));
        cal.end(week).saturating_add(lateness) <= now
    };
    let mut by_table: BTreeMap<&'static str, Vec<IndicatorRow>> = BTreeMap::new();
    for r in rows {
        let table = lap_sink::rows::INDICATOR_TABLES
            .into_iter()
            .find(|t| *t == r.table_name)
            .with_context(|| format!("row of unknown table {}", r.table_name))?;
        by_table.entry(table).or_default().push(r);
    }
    for target in &mut targets {
        let store = target.name();
        for (table, computed) in &by_table {
            let stored: BTreeMap<Key, IndicatorRow> = target
                .stored(table, range)
                .await
                .with_context(|| format!("reading {table} from {store}"))?
                .into_iter()
                .map(|r| (key(&r), r))
                .collect();
            let mut tally = Tally::default();
            let mut changed = Vec::new();
            let mut examples = Vec::new();
            for row in computed {
                match stored.get(&key(row)) {
                    Some(old) if same(row, old) => tally.unchanged += 1,
                    Some(old) if old.is_final => {
                        if examples.len() < EXAMPLES {
                            examples.push(difference(old, row));
                        }
                        changed.push(replacing(row.clone(), old));
                    }
                    None if past(row) => changed.push(row.clone()),
                    _ => tally.open += 1,
                }
            }
            tally.written = changed.len();
            if !dry_run {
                for chunk in changed.chunks(CHUNK) {
                    target.write(table, chunk.to_vec()).await.with_context(|| {
                        format!("writing {table} to {store}; run lap backfill again")
                    })?;
                }
            }
            println!(
                "{store:9} {table:15} {} unchanged, {} {}, {} of open windows left to the stream",
                tally.unchanged,
                tally.written,
                if dry_run {
                    "would be written"
                } else {
                    "written"
                },
                tally.open
            );
            for e in examples {
                println!("    {e}");
            }
        }
    }
    Ok(())
}
