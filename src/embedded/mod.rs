//! `lap run`: the four stages in one process over the in-memory broker.
//!
//! The same operators as the services, wired the way Kafka wires them:
//! files → raw topics → ingest → `lap.events` → enrich → `lap.enriched` →
//! aggregate → `lap.indicators` → sink → the lake. Each stage is the
//! runtime's [`run`] loop (the sink its own loop) over a [`MemoryBroker`]
//! consumer group, so offsets, acknowledgements and keyed partitioning
//! behave as in production. When the input files are read the raw topics
//! are sealed; each stage ends once its inputs are sealed and read, flushes
//! (aggregate finalises every window) and seals its outputs, so the run
//! ends by itself with every window final.
//!
//! Files are a finite, complete input, so `lap run` treats them as
//! `lap backfill` does: no event is late (the allowed lateness is
//! [`FILE_LATENESS_S`]) and every week is finalised when the input ends.
//! Its final rows therefore equal backfill's over the same events, and do
//! not depend on how fast each partition happened to be read; provisional
//! rows are still emitted while it runs.
//!
//! The broker keeps every topic in memory and windows stay open until the
//! input ends: about 8 KB per record in all (docs/getting-started.md), which
//! suits files of a few hundred thousand records; larger volumes belong on
//! Kafka and the services.

mod input;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::metrics::AggregateMetrics;
use lap_aggregate::reference::Reference;
use lap_aggregate::{Aggregate, AggregateTopics};
use lap_enrich::join::JoinOptions;
use lap_enrich::members::class_members;
use lap_enrich::metrics::EnrichMetrics;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_enrich::roster::{self, Change, Published};
use lap_enrich::state::Roster;
use lap_enrich::{Enrich, EnrichTopics, HoldPolicy};
use lap_ingest::dedupe::StatementLog;
use lap_ingest::metrics::IngestMetrics;
use lap_ingest::{Ingest, IngestTopics};
use lap_runtime::config::Config;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{Operator, RunOptions, run};
use lap_runtime::transport::memory::MemoryBroker;
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::metrics::SinkMetrics;
use lap_sink::rows::SinkTopics;
use lap_sink::run::{Backoff, Sink};
use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use input::activity_files;
pub use report::{Counts, Report, thousands};

/// What `lap run` reads and where it writes.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// OneRoster export folder or zip (with lap's own files).
    pub roster: PathBuf,
    /// Activity files in the order they arrived: a name containing
    /// `caliper` holds Caliper envelopes, any other xAPI statements.
    pub activity: Vec<PathBuf>,
    /// Where the tables are written.
    pub lake: Lake,
}

/// Allowed lateness over files: a century, i.e. nothing is late.
pub const FILE_LATENESS_S: u64 = 100 * 365 * 86_400;

/// Messages each stage reads per batch.
const BATCH: usize = 1000;

/// Runs the pipeline over `inputs` with `cfg`'s settings and pseudonymisation
/// `key`; `progress` is called about five times a second with the counts so far.
pub async fn run_pipeline(
    cfg: &Config,
    inputs: &Inputs,
    key: &Pseudonymiser,
    progress: &mut dyn FnMut(&Counts),
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let tenant = cfg.enrich.tenant.clone();
    let export = roster::load(&inputs.roster, &tenant, &mut |_| {})
        .with_context(|| format!("loading the roster export {}", inputs.roster.display()))?;
    let roster_size = (export.records.len(), export.issues.len());
    let mut state = Roster::new(tenant.clone(), cfg.enrich.identity.clone());
    let mut reference = Reference::default();
    for change in roster::plan(&Published::new(tenant.clone()), &export)? {
        let Change::Upsert(r) = change else { continue };
        reference.apply(&tenant, &r);
        state.apply(r);
    }
    for member in class_members(&state, key) {
        reference.apply(&tenant, &member);
    }

    let t = &cfg.topics;
    let broker = MemoryBroker::new(t.partitions);
    let metrics = Metrics::new("lap");
    let stop = CancellationToken::new();
    let opts = RunOptions::default();
    let name = |n: &str| -> Arc<str> { Arc::from(n) };

    let ingest = {
        let topics = IngestTopics {
            raw_xapi: name(&t.raw_xapi.name),
            raw_caliper: name(&t.raw_caliper.name),
            events: name(&t.events.name),
            dlq: name(&t.dlq.name),
        };
        let log = Arc::new(Mutex::new(StatementLog::new(cfg.ingest.dedupe_capacity)));
        let op = Ingest::new(
            topics,
            cfg.ingest.clone(),
            log,
            IngestMetrics::register(&metrics),
        );
        stage(
            &broker,
            op,
            &[&t.raw_xapi.name, &t.raw_caliper.name],
            &[&t.events.name],
            &opts,
            &metrics,
            &stop,
        )
    };
    let enrich = {
        let topics = EnrichTopics {
            enriched: name(&t.enriched.name),
            unmatched: name(&t.unmatched.name),
            dlq: name(&t.dlq.name),
        };
        let hold = HoldPolicy {
            grace: Duration::from_secs(cfg.enrich.unmatched_grace_s),
            max_held: cfg.enrich.max_held,
        };
        let join = JoinOptions {
            keep_free_text: cfg.enrich.keep_free_text,
        };
        let op = Enrich::new(
            Arc::new(RwLock::new(state)),
            key.clone(),
            join,
            topics,
            hold,
            EnrichMetrics::register(&metrics),
        );
        stage(
            &broker,
            op,
            &[&t.events.name],
            &[&t.enriched.name, &t.unmatched.name],
            &opts,
            &metrics,
            &stop,
        )
    };
    let aggregate = {
        let mut settings = cfg.aggregate.clone();
        settings.allowed_lateness_s = FILE_LATENESS_S;
        let engine = build_engine(&settings, &reference)
            .context("check the [aggregate] section of the config")?;
        let topics = AggregateTopics {
            indicators: name(&t.indicators.name),
            late: name(&t.late.name),
            dlq: name(&t.dlq.name),
            state: name(&t.aggregate_state.name),
        };
        let op = Aggregate::new(
            engine,
            topics,
            AggregateMetrics::register(&metrics),
            Duration::from_secs(cfg.aggregate.provisional_interval_s),
            None,
        );
        stage(
            &broker,
            op,
            &[&t.enriched.name],
            &[&t.indicators.name, &t.late.name],
            &opts,
            &metrics,
            &stop,
        )
    };
    let sink = {
        let topics = SinkTopics {
            indicators: t.indicators.name.clone(),
            enriched: t.enriched.name.clone(),
        };
        let backoff = Backoff {
            initial: Duration::from_millis(cfg.sink.retry_initial_ms),
            max: Duration::from_millis(cfg.sink.retry_max_ms),
        };
        let mut sink = Sink::new(
            vec![DeltaStore::new(inputs.lake.clone()).configured(&cfg.sink.lake)],
            broker.sink(),
            &t.dlq.name,
            topics.clone(),
            backoff,
            SinkMetrics::register(&metrics),
            Health::default(),
        )
        .max_waiting(cfg.sink.max_waiting_messages);
        let mut subscribed = vec![topics.indicators.as_str()];
        if cfg.sink.events {
            subscribed.push(topics.enriched.as_str());
        }
        let source = broker.subscribe("sink", &subscribed, cfg.sink.batch_max);
        let (stop, grace) = (stop.clone(), opts.grace);
        tokio::spawn(async move {
            if sink.prepare(&stop).await {
                sink.run(source, &stop, grace).await?;
            }
            anyhow::Ok(())
        })
    };

    let (feeder, lines) = input::feed(&broker, cfg, &inputs.activity);
    let read = || lines.load(std::sync::atomic::Ordering::Relaxed);
    let mut stages = vec![
        ("ingest", ingest),
        ("enrich", enrich),
        ("aggregate", aggregate),
        ("sink", sink),
    ];
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut feeder = Some(feeder);
    loop {
        ticker.tick().await;
        progress(&Counts::read(&broker, cfg, read()));
        if feeder.as_ref().is_some_and(JoinHandle::is_finished) {
            let read = feeder.take().expect("checked above").await;
            if let Err(e) = read.context("the file reader panicked").and_then(|r| r) {
                stop.cancel();
                return Err(e);
            }
        }
        // A stage that failed stops the run; the others are cancelled.
        while let Some(i) = stages.iter().position(|(_, h)| h.is_finished()) {
            let (stage, handle) = stages.remove(i);
            let result = handle
                .await
                .with_context(|| format!("the {stage} stage panicked"));
            if let Err(e) = result.and_then(|r| r) {
                stop.cancel();
                return Err(e.context(format!("the {stage} stage failed")));
            }
        }
        if stages.is_empty() && feeder.is_none() {
            break;
        }
    }
    let counts = Counts::read(&broker, cfg, read());
    progress(&counts);
    Ok(Report::new(
        counts,
        &broker,
        cfg,
        &metrics,
        inputs,
        roster_size,
        started.elapsed(),
    ))
}

/// Runs `op` reading `inputs`; when the input ends, seals `outputs` so the
/// next stage ends too.
fn stage<O: Operator + 'static>(
    broker: &MemoryBroker,
    op: O,
    inputs: &[&str],
    outputs: &[&str],
    opts: &RunOptions,
    metrics: &Metrics,
    stop: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let name = op.name();
    let source = broker.subscribe(name, inputs, BATCH);
    let (broker, outputs) = (
        broker.clone(),
        outputs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    let (opts, metrics, stop) = (opts.clone(), metrics.clone(), stop.clone());
    tokio::spawn(async move {
        run(
            source,
            broker.sink(),
            op,
            opts,
            metrics,
            Health::default(),
            stop,
        )
        .await?;
        for t in &outputs {
            broker.seal(t);
        }
        Ok(())
    })
}
