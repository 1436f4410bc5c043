//! `lap gen`: a deterministic synthetic school year as files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use lap_gen::{Options, Summary, write_dir};

use crate::embedded::thousands;

/// Arguments of `lap gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Folder to write: roster/, activity/, archetypes.csv.
    #[arg(long, default_value = "lap-data")]
    pub out: PathBuf,
    /// Seed: the same arguments give the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Schools.
    #[arg(long, default_value_t = 1)]
    pub schools: usize,
    /// Cohorts (forms such as 7A) per school.
    #[arg(long, default_value_t = 3)]
    pub cohorts: usize,
    /// Learners per cohort.
    #[arg(long, default_value_t = 25)]
    pub learners: usize,
    /// Subjects (one class per cohort and subject, at most 6).
    #[arg(long, default_value_t = 4)]
    pub subjects: usize,
    /// Calendar days of activity (weekdays are school days).
    #[arg(long, default_value_t = 56)]
    pub days: usize,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2025-09-01")]
    pub start: NaiveDate,
    /// Share of records that break a rule of their specification.
    #[arg(long, default_value_t = 0.005)]
    pub invalid_share: f64,
}

impl GenArgs {
    /// The generator options these arguments describe.
    pub fn options(&self) -> Options {
        Options {
            seed: self.seed,
            schools: self.schools,
            cohorts_per_school: self.cohorts,
            learners_per_cohort: self.learners,
            subjects: self.subjects,
            start: self.start,
            days: self.days,
            invalid_share: self.invalid_share,
            ..Options::default()
        }
    }
}

/// Runs `lap gen`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let activity = args.out.join("activity");
    if activity.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} already holds generated activity; remove it or choose another --out",
            activity.display()
        );
    }
    eprintln!("generating into {} ...", args.out.display());
    let summary = write_dir(&args.options(), &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
    print!("{}", describe(&summary));
    println!(
        "next: lap run --roster {0}/roster --input {0}/activity",
        args.out.display()
    );
    Ok(())
}

/// A few lines on what was generated.
pub fn describe(s: &Summary) -> String {
    let n = thousands;
    let shapes: Vec<String> = s
        .archetypes
        .iter()
        .map(|(a, k)| format!("{} {k}", a.name()))
        .collect();
    format!(
        "{} learners in {} classes; {} records in {} xAPI messages and {} Caliper envelopes\n\
         of them: {} invalid, {} duplicates, {} voiding, {} from people not in the roster, {} of opted-out learners, {} synced a day or more late\n\
         learners by archetype: {}\n",
        n(s.learners as u64),
        s.classes,
        n(s.records),
        n(s.xapi_messages),
        n(s.caliper_messages),
        n(s.invalid),
        n(s.duplicates),
        n(s.voiding),
        n(s.unknown_actor),
        n(s.opted_out),
        n(s.synced_late),
        shapes.join(", ")
    )
}
