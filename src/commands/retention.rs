//! `lap retention apply`: deletes the rows each table keeps no longer
//! (`sink.retention`), in the lake and in PostgreSQL, and vacuums the lake.
//! Meant to run daily (a Kubernetes CronJob); running it twice the same
//! day deletes nothing the second time.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use lap_runtime::config;
use lap_sink::delta::purge::purge;
use lap_sink::delta::tables;
use lap_sink::purge::{Purge, Removed};

/// Retention commands.
#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Delete rows past their table's retention: indicator rows whose
    /// window ended, and events that happened, more than
    /// `sink.retention.<table>_days` days before now.
    Apply {
        /// Count from this date (YYYY-MM-DD, 00:00 UTC) instead of now:
        /// to preview a future run, or to re-apply an earlier one.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Lake directory or object-store URL (default: sink.lake.path of
        /// the config).
        #[arg(long)]
        lake: Option<String>,
        /// Keep the lake files of deleted rows this many hours for readers
        /// of older snapshots, then the vacuum of a later run deletes them.
        #[arg(long, default_value_t = 168)]
        keep_hours: i64,
        /// Count the rows past retention; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `lap retention` action.
pub async fn run(config_file: Option<&Path>, action: RetentionAction) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let RetentionAction::Apply {
        as_of,
        lake,
        keep_hours,
        dry_run,
    } = action;
    let now: DateTime<Utc> = match as_of {
        Some(d) => d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
        None => Utc::now(),
    };
    let mut cutoffs = BTreeMap::new();
    for table in tables() {
        match cfg.sink.retention.days(table) {
            Some(days) => {
                let cutoff = now - chrono::Duration::days(days);
                println!(
                    "{table:16} keeps {days} days: rows up to {} go",
                    cutoff.format("%Y-%m-%d %H:%M UTC")
                );
                cutoffs.insert(table, cutoff.timestamp_micros());
            }
            None => println!("{table:16} keeps rows until erased"),
        }
    }
    let expired = Purge::Expired(cutoffs);
    let verb = if dry_run { "would delete" } else { "deleted" };
    let show = |store: &str, removed: &Removed| {
        for (table, n) in removed {
            println!("{store:9} {table:16} {verb} {n} rows");
        }
    };
    if cfg.sink.lake.enabled || lake.is_some() {
        let lake = if dry_run {
            super::lake(&cfg, lake.as_deref())?
        } else {
            super::writable_lake(&cfg, lake.as_deref()).await?
        };
        let removed = purge(
            &lake,
            &expired,
            chrono::Duration::hours(keep_hours),
            dry_run,
        )
        .await
        .with_context(|| format!("applying retention to the lake at {lake}"))?;
        show("lake", &removed);
    }
    if let Some(mut pg) = super::postgres_store(&cfg)? {
        let removed = pg
            .purge(&expired, dry_run)
            .await
            .context("applying retention in PostgreSQL (nothing deleted there); run it again")?;
        show("postgres", &removed);
    }
    Ok(())
}
