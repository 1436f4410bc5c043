//! `lap demo`: generate a small school year, run the pipeline over it and
//! show what a teacher and an analyst would see.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use lap_gen::{Options, write_dir};
use lap_runtime::config;
use lap_sink::delta::Lake;

use super::generate::describe;
use super::query::{Format, execute, render};
use crate::embedded::{Inputs, activity_files};

/// Marks a folder as the demo's own, so a rerun may replace it.
const MARKER: &str = ".lap-demo";

/// Arguments of `lap demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the generated data, the key and the lake (replaced when
    /// it holds an earlier demo).
    #[arg(long, default_value = "lap-demo")]
    dir: PathBuf,
    /// Seed of the generated school.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs `lap demo`.
pub async fn run(config_file: Option<&Path>, args: DemoArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not an earlier demo; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("removing the earlier demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "written by lap demo; the folder is replaced by the next run\n",
    )?;

    let opts = Options {
        seed: args.seed,
        ..Options::default()
    };
    println!(
        "1/3 generating a school: {} cohorts of {}, {} subjects, {} days from {}",
        opts.cohorts_per_school, opts.learners_per_cohort, opts.subjects, opts.days, opts.start
    );
    let summary = write_dir(&opts, dir)?;
    print!("{}", describe(&summary));

    let mut cfg = config::load(config_file)?;
    let key_file = dir.join("pseudonym.key");
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(&key_file, key).context("writing the demo's pseudonymisation key")?;
    cfg.enrich.key_file = key_file.to_string_lossy().into_owned();
    let inputs = Inputs {
        roster: dir.join("roster"),
        activity: activity_files(&[dir.join("activity")])?,
        lake: Lake::local(dir.join("lake")),
    };
    println!("\n2/3 running ingest → enrich → aggregate → sink in one process");
    let report = super::run::pipeline(&cfg, &inputs).await?;
    println!("{report}");

    println!("\n3/3 what the tables say");
    let lake = &inputs.lake;
    let class = "cls-0-0-math";
    let shows = [
        (
            format!("Weekly progress of class {class} (final rows):"),
            format!(
                "SELECT CAST(window_start AS DATE) AS week, contributors AS learners, \
                 CAST(indicators['activity_events'] AS BIGINT) AS events, CAST(round(indicators['active_minutes']) AS BIGINT) AS minutes, \
                 round(indicators['mean_score'], 2) AS mean_score, round(indicators['attendance_rate'], 2) AS attendance, \
                 CAST(indicators['submissions_missing'] AS BIGINT) AS missing, round(indicators['curriculum_coverage'], 2) AS coverage \
                 FROM class_weekly WHERE entity_id = '{class}' AND is_final ORDER BY week"
            ),
        ),
        (
            "Well-being by class in the last week (classes under 5 learners are suppressed):".to_string(),
            "SELECT entity_id AS class, contributors AS learners, suppressed, \
             round(indicators['wellbeing_index'], 2) AS wellbeing, round(indicators['wellbeing_calm'], 2) AS calm \
             FROM class_weekly WHERE window_start = (SELECT max(window_start) FROM class_weekly) ORDER BY class"
                .to_string(),
        ),
        (
            "Open flags of the last week, two of each kind (learners are pseudonyms; a teacher's view joins names back):".to_string(),
            "SELECT class_id, learner, code AS flag, reason FROM ( \
               SELECT class_id, substr(entity_id, 1, 10) AS learner, f['code'] AS code, f['reason'] AS reason, \
                      row_number() OVER (PARTITION BY f['code'] ORDER BY class_id, entity_id) AS n \
               FROM (SELECT class_id, entity_id, unnest(flags) AS f FROM learner_weekly \
                     WHERE window_start = (SELECT max(window_start) FROM learner_weekly))) \
             WHERE n <= 2 ORDER BY flag, class_id, learner"
                .to_string(),
        ),
    ];
    for (title, sql) in shows {
        println!("\n{title}");
        print!("{}", render(&execute(lake, &sql).await?, Format::Table)?);
    }
    println!(
        "\nThe data is in {}; ask your own questions with `{} query --lake {} \"SQL\"`.",
        dir.display(),
        std::env::args().next().unwrap_or_else(|| "lap".into()),
        lake
    );
    println!(
        "\nSee what teachers, school leaders and parents see (then open http://127.0.0.1:8090/ and sign in as anyone of the demo's roster):\n  LAP_ENRICH_KEY=$(cat {}) {} views --roster {} --lake {}",
        key_file.display(),
        std::env::args().next().unwrap_or_else(|| "lap".into()),
        inputs.roster.display(),
        lake
    );
    Ok(())
}
