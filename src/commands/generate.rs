//! `lap gen`: a deterministic synthetic school year as files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::NaiveDate;
use clap::Args;
use lap_gen::{Options, Output, Standard, Summary, answer_key, generate, write_dir};
use lap_runtime::config::{self, Config};
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};

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
    /// Produce the activity to the raw topics (kafka.bootstrap_servers,
    /// topics.raw_xapi / raw_caliper) instead of writing activity files;
    /// the roster export is still written to OUT/roster for `lap roster load`.
    #[arg(long)]
    pub to_kafka: bool,
    /// With --to-kafka: messages per second at most (0 = as fast as the
    /// broker takes them).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
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
pub async fn run(config_file: Option<&Path>, args: GenArgs) -> anyhow::Result<()> {
    if args.to_kafka {
        let cfg = config::load(config_file)?;
        let opts = args.options();
        let out = args.out.clone();
        let rate = args.rate;
        let runtime = tokio::runtime::Handle::current();
        let (summary, sent, elapsed) =
            tokio::task::spawn_blocking(move || produce(&cfg, &opts, &out, rate, runtime))
                .await??;
        print!("{}", describe(&summary));
        println!(
            "produced {} messages in {:.1} s ({:.0}/s); roster in {}: load it with `lap roster load {}`",
            thousands(sent),
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64().max(1e-9),
            args.out.join("roster").display(),
            args.out.join("roster").display()
        );
        return Ok(());
    }
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

/// Generated activity straight into the raw topics, paced to a rate.
struct KafkaOutput {
    sink: KafkaSink,
    xapi: Arc<str>,
    caliper: Arc<str>,
    roster_dir: PathBuf,
    runtime: tokio::runtime::Handle,
    pending: Vec<lap_runtime::transport::Pending>,
    rate: u64,
    sent: u64,
    started: Instant,
    reported: Instant,
}

/// Deliveries awaited at once: bounds memory, keeps the producer busy.
const IN_FLIGHT: usize = 10_000;

impl KafkaOutput {
    fn settle(&mut self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.runtime
            .block_on(futures::future::try_join_all(pending))
            .map(|_| ())
            .map_err(|e| std::io::Error::other(format!("{e}; the broker did not take the records")))
    }
}

impl Output for KafkaOutput {
    fn roster(&mut self, files: &[(&'static str, String)]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.roster_dir)?;
        for (name, text) in files {
            std::fs::write(self.roster_dir.join(name), text)?;
        }
        Ok(())
    }

    fn message(
        &mut self,
        standard: Standard,
        _arrived: NaiveDate,
        json: &str,
    ) -> std::io::Result<()> {
        if self.rate > 0 {
            let due = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let topic = if standard == Standard::Xapi {
            &self.xapi
        } else {
            &self.caliper
        };
        let record = OutRecord {
            topic: topic.clone(),
            key: None,
            payload: Some(Bytes::copy_from_slice(json.as_bytes())),
            headers: Vec::new(),
            partition: None,
        };
        let pending = self
            .runtime
            .block_on(self.sink.send(record))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.pending.push(pending);
        self.sent += 1;
        if self.pending.len() >= IN_FLIGHT {
            self.settle()?;
        }
        if self.reported.elapsed() >= Duration::from_secs(10) {
            eprintln!("produced {} messages", thousands(self.sent));
            self.reported = Instant::now();
        }
        Ok(())
    }
}

/// Generates `opts` into the raw topics (roster files into `out/roster`);
/// returns the summary, the messages sent and the time taken.
fn produce(
    cfg: &Config,
    opts: &Options,
    out: &Path,
    rate: u64,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<(Summary, u64, Duration)> {
    let mut output = KafkaOutput {
        sink: KafkaSink::new(&cfg.kafka, "gen")?,
        xapi: Arc::from(cfg.topics.raw_xapi.name.as_str()),
        caliper: Arc::from(cfg.topics.raw_caliper.name.as_str()),
        roster_dir: out.join("roster"),
        runtime,
        pending: Vec::new(),
        rate,
        sent: 0,
        started: Instant::now(),
        reported: Instant::now(),
    };
    eprintln!(
        "producing to {} and {} on {}{}",
        output.xapi,
        output.caliper,
        cfg.kafka.bootstrap_servers,
        if rate > 0 {
            format!(" at {rate} messages/s")
        } else {
            String::new()
        }
    );
    let summary = generate(opts, &mut output)
        .with_context(|| format!("producing to {}", cfg.kafka.bootstrap_servers))?;
    let key = out.join("archetypes.csv");
    std::fs::write(&key, answer_key(opts)).with_context(|| format!("writing {}", key.display()))?;
    output
        .settle()
        .context("waiting for the broker to acknowledge the last records")?;
    Ok((summary, output.sent, output.started.elapsed()))
}
