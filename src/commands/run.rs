//! `lap run`: the whole pipeline in one process over files (embedded mode).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lap_runtime::config::{self, Config, LogConfig};

use crate::embedded::{Counts, Inputs, Report, activity_files, run_pipeline, thousands};

/// Arguments of `lap run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// OneRoster export (folder or zip) with lap's curriculum,
    /// questionnaire and consent files.
    #[arg(long)]
    pub roster: PathBuf,
    /// Activity files or folders, in arrival order (folders: their .ndjson
    /// files by name). A file whose name contains `caliper` holds Caliper
    /// envelopes; others hold xAPI statements (one, or an array, per line).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Lake directory or object-store URL (default: sink.lake.path of
    /// the config).
    #[arg(long)]
    pub lake: Option<String>,
}

/// Runs `lap run`.
pub async fn run(config_file: Option<&Path>, args: RunArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    let inputs = Inputs {
        roster: args.roster,
        activity: activity_files(&args.input)?,
        lake: super::writable_lake(&cfg, args.lake.as_deref()).await?,
    };
    let report = pipeline(&cfg, &inputs).await?;
    println!("{report}");
    Ok(())
}

/// Runs the embedded pipeline with a progress display on stderr (a status
/// line on a terminal, else a line every ten seconds).
pub async fn pipeline(cfg: &Config, inputs: &Inputs) -> anyhow::Result<Report> {
    // The progress display and the summary say what happens; the stages'
    // INFO lines would bury them, so the default level here is WARN.
    let mut log = cfg.log.clone();
    if log.level == LogConfig::default().level {
        log.level = "warn".into();
    }
    lap_runtime::telemetry::init(&log);
    let key = super::pseudonymiser(cfg)?;
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
    );
    let mut last_line = Instant::now();
    let mut show = |c: &Counts| {
        let n = thousands;
        let line = format!(
            "read {} | events {} | enriched {} | indicator rows {} | dead letters {}",
            n(c.messages),
            n(c.events),
            n(c.enriched),
            n(c.indicator_rows),
            n(c.dead_letters)
        );
        if terminal {
            bar.set_message(line);
            bar.tick();
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
    };
    let report = run_pipeline(cfg, inputs, &key, &mut show).await;
    bar.finish_and_clear();
    report
}
