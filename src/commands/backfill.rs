//! `lap backfill`: the indicator SQL over archived enriched events, in
//! batch, printing the final rows the stream would have produced.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use clap::Args;
use lap_aggregate::backfill::{backfill, read_ndjson};
use lap_aggregate::reference::Reference;
use lap_runtime::config;

/// Arguments of `lap backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// NDJSON archive of enriched events, one `EnrichedEvent` per line
    /// (repeat for several files).
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// OneRoster export holding lap-curriculum.csv and lap-questionnaire.csv
    /// (needed for curriculum coverage and well-being) and the class lists
    /// (learners without activity; uses the pseudonymisation key).
    #[arg(long)]
    roster: Option<PathBuf>,
    /// Write the rows (NDJSON) to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `lap backfill`.
pub fn run(config_file: Option<&Path>, args: BackfillArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    let reference = match &args.roster {
        Some(path) => super::reference_of_export(&cfg, path)?,
        None => Reference::default(),
    };
    let started = Instant::now();
    let mut events = Vec::new();
    for path in &args.inputs {
        let mut read = read_ndjson(path)?;
        eprintln!("read {} events from {}", read.len(), path.display());
        events.append(&mut read);
    }
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let rows = backfill(&cfg.aggregate, &reference, &events, now_ms)
        .context("check the [aggregate] section of the config")?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for row in &rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!(
        "{} events → {} indicator rows in {:.1} s",
        events.len(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
