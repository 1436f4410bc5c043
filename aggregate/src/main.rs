//! `lap-aggregate`: the aggregate service. Reads the curriculum and
//! questionnaire from the roster topic (not ready until then) and keeps
//! following it, checks that its changelog topic is co-partitioned with
//! its input, and turns `lap.enriched` into `lap.indicators`, restoring
//! each assigned partition's task from the changelog before reading it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::metrics::AggregateMetrics;
use lap_aggregate::reference::Reference;
use lap_aggregate::{Aggregate, AggregateTopics, SharedReference};
use lap_runtime::service::Service;
use lap_runtime::transport::Message;
use lap_runtime::transport::kafka::{TableReader, partition_count};
use lap_schemas::{RosterRecord, decode};
use parking_lot::RwLock;
use tracing::{info, warn};

/// Fails unless the changelog topic has as many partitions as the input:
/// a task's state lives in the changelog partition of its own number.
fn check_co_partitioned(
    cfg: &lap_runtime::config::KafkaConfig,
    input: &str,
    changelog: &str,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(30);
    let (n_in, n_log) = (
        partition_count(cfg, input, timeout)?,
        partition_count(cfg, changelog, timeout)?,
    );
    if n_in != n_log {
        anyhow::bail!(
            "{changelog} has {n_log} partitions and {input} {n_in}: the changelog must have as \
             many as the input (partition n keeps the state of input partition n); recreate \
             {changelog} with {n_in} partitions (`lap topics create` with topics.aggregate_state.partitions = {n_in})"
        );
    }
    Ok(())
}

/// mimalloc, as in the other services.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn apply_roster(tenant: &str, reference: &mut Reference, m: &Message) -> bool {
    match (&m.payload, &m.key) {
        (Some(bytes), _) => {
            decode::<RosterRecord>(bytes).is_ok_and(|r| reference.apply(tenant, &r))
        }
        (None, Some(key)) => reference.delete_key(tenant, &String::from_utf8_lossy(key)),
        (None, None) => false,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let svc = Service::start("aggregate").await?;
    let cfg = &svc.config;
    let tenant = cfg.enrich.tenant.clone();
    svc.health
        .set_check("reference", false, "reading curriculum and questionnaire");
    let state_topic = cfg.topics.aggregate_state.name.clone();
    check_co_partitioned(&cfg.kafka, &cfg.topics.enriched.name, &state_topic)?;

    // Reference data: read the roster topic to its end, then follow it.
    let roster_topic = cfg.topics.roster.name.clone();
    let mut roster = TableReader::open(&cfg.kafka, &roster_topic, Duration::from_secs(30))
        .with_context(|| format!("opening the roster topic {roster_topic}"))?;
    let mut reference = Reference::default();
    let n = roster.catch_up(
        |m| {
            apply_roster(&tenant, &mut reference, &m);
        },
        |n, behind| {
            info!(
                records = n,
                partitions_behind = behind,
                "reading curriculum and questionnaire"
            );
        },
    )?;
    info!(
        records = n,
        objectives = reference.objectives.len(),
        items = reference.items.len(),
        "reference data read"
    );
    let engine = build_engine(&cfg.aggregate, &reference)
        .context("check the [aggregate] section of the config")?;
    let shared: SharedReference = Arc::new(RwLock::new((0, reference)));
    svc.health
        .set_check("reference", true, format!("{n} roster records read"));

    let (follow, stop) = (shared.clone(), svc.stop.clone());
    std::thread::Builder::new()
        .name("reference-feed".into())
        .spawn(move || {
            while !stop.is_cancelled() {
                match roster.poll(Duration::from_millis(500)) {
                    Ok(Some(m)) => {
                        let mut guard = follow.write();
                        if apply_roster(&tenant, &mut guard.1, &m) {
                            guard.0 += 1;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(error = %e, "roster topic read failed; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })
        .context("starting the reference feed thread")?;

    let topics = AggregateTopics {
        indicators: Arc::from(cfg.topics.indicators.name.as_str()),
        late: Arc::from(cfg.topics.late.name.as_str()),
        dlq: Arc::from(cfg.topics.dlq.name.as_str()),
        state: Arc::from(state_topic.as_str()),
    };
    let operator = Aggregate::new(
        engine,
        topics,
        AggregateMetrics::register(&svc.metrics),
        Duration::from_secs(cfg.aggregate.provisional_interval_s),
        Some(shared),
    );
    svc.run_kafka(&[&cfg.topics.enriched.name], operator)
        .await?;
    Ok(())
}
