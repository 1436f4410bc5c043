//! `lap backfill`: the indicator SQL in batch over the events the stream
//! saw (the enriched and late topics, the lake's events table, or NDJSON
//! archives), writing the final rows of the windows it covers into the
//! analytics stores, so recomputing a week after late data or a changed
//! SQL file is one command.
//!
//! The rows are computed from every event before `--until` (the windows
//! before `--since` give later ones their history), and only rows of
//! windows starting in `--since..--until` are written. Into each store
//! goes what differs from what it holds (see [`apply`]), with revisions
//! above every stream revision: a recomputation stands until the next one.
//! Windows the stream has not finalised yet are left to it.

mod apply;
mod source;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use lap_aggregate::backfill::backfill;
use lap_runtime::config;

/// 0001-01-01T00:00:00Z in µs: before any window, and within what every
/// store can compare a timestamp with.
const YEAR_ONE_US: i64 = -62_135_596_800_000_000;

/// Where the events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// The enriched and late topics (every partition, from the start of
    /// their retention).
    Topics,
    /// The lake's events table.
    Lake,
}

/// Arguments of `lap backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Where the events come from (unless --input names archives).
    #[arg(long, value_enum, default_value = "topics", conflicts_with = "inputs")]
    from: From,
    /// NDJSON archives of enriched events instead, one `EnrichedEvent` per
    /// line (repeat for several files).
    #[arg(long = "input")]
    inputs: Vec<PathBuf>,
    /// First day whose windows are written (YYYY-MM-DD, the schools' time
    /// zone); default: every window.
    #[arg(long)]
    since: Option<NaiveDate>,
    /// Day after the last one whose windows are written, and before which
    /// events are read; default: today.
    #[arg(long)]
    until: Option<NaiveDate>,
    /// OneRoster export for curriculum, questionnaire and class lists
    /// (with the pseudonymisation key); default: the roster topic.
    #[arg(long)]
    roster: Option<PathBuf>,
    /// Lake directory or object-store URL to read events from (--from
    /// lake) and to write (default: sink.lake.path when the lake is on).
    #[arg(long)]
    lake: Option<String>,
    /// Write the rows as NDJSON to this file instead of into the stores.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compare with the stores and report; write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `lap backfill`.
pub async fn run(config_file: Option<&Path>, args: BackfillArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let cal = lap_aggregate::window::Calendar::new(&cfg.aggregate.time_zone)?;
    // Days count from 1970-01-01, chrono's default date.
    let day = |d: NaiveDate| {
        cal.day_start(lap_aggregate::window::Day(
            (d - NaiveDate::default()).num_days() as i32,
        ))
    };
    let now = lap_aggregate::revision::now_ms();
    let since = args.since.map_or(YEAR_ONE_US, day);
    let until = args.until.map_or(now * 1000, day);
    anyhow::ensure!(since < until, "--since must be before --until");
    let started = Instant::now();
    let events = source::events(&cfg, &args, until).await?;
    let reference = source::reference(&cfg, args.roster.as_deref()).await?;
    eprintln!(
        "{} events before {}; computing every window",
        events.len(),
        lap_aggregate::watermark::instant(until)
    );
    let rows = tokio::task::block_in_place(|| backfill(&cfg.aggregate, &reference, &events, now))
        .context("check the [aggregate] section of the config")?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| (since..until).contains(&r.window_start))
        .collect();
    eprintln!(
        "{} rows of windows in range, in {:.1} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    match &args.out {
        Some(path) => write_ndjson(path, &rows),
        None => {
            apply::to_stores(
                &cfg,
                args.lake.as_deref(),
                rows,
                (since, until),
                args.dry_run,
            )
            .await
        }
    }
}

fn write_ndjson(path: &Path, rows: &[lap_schemas::IndicatorRow]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("{} rows written to {}", rows.len(), path.display());
    Ok(())
}
