//! `lap lake compact`: keep the lake's tables fast to read.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use lap_runtime::config;
use lap_sink::delta::maintain::compact;

/// Lake upkeep commands.
#[derive(Debug, Subcommand)]
pub enum LakeAction {
    /// Rewrite each table's small files into large ones (one commit per
    /// table; rows unchanged), then delete files no recent version needs.
    /// Safe while the sink runs: a conflicting sink batch is retried.
    Compact {
        /// Lake directory or object-store URL (default: sink.lake.path of
        /// the config).
        #[arg(long)]
        lake: Option<String>,
        /// Target file size in MiB.
        #[arg(long, default_value_t = 128)]
        target_mb: u64,
        /// Keep replaced files this many hours for readers of older
        /// snapshots (and time travel) before deleting them.
        #[arg(long, default_value_t = 168)]
        keep_hours: i64,
    },
}

/// Runs a `lap lake` action.
pub async fn run(config_file: Option<&Path>, action: LakeAction) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    let LakeAction::Compact {
        lake,
        target_mb,
        keep_hours,
    } = action;
    let lake = super::writable_lake(&cfg, lake.as_deref()).await?;
    eprintln!("compacting the tables under {lake} ...");
    let done = compact(
        &lake,
        target_mb * 1024 * 1024,
        chrono::Duration::hours(keep_hours),
    )
    .await
    .with_context(|| format!("compacting the lake at {lake}"))?;
    if done.is_empty() {
        anyhow::bail!("no lake tables under {lake}: pass --lake DIR");
    }
    println!(
        "{:16} {:>14} {:>12} {:>14}",
        "table", "files merged", "files new", "files deleted"
    );
    for c in done {
        println!(
            "{:16} {:>14} {:>12} {:>14}",
            c.table, c.files_removed, c.files_added, c.files_deleted
        );
    }
    Ok(())
}
