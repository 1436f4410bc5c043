//! `lap-aggregate`: the aggregate service. Restores its checkpoint and the
//! curriculum/questionnaire from their topics (not ready until then), keeps
//! following the roster topic, and turns `lap.enriched` into `lap.indicators`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::metrics::AggregateMetrics;
use lap_aggregate::reference::Reference;
use lap_aggregate::{Aggregate, AggregateTopics, SharedReference};
use lap_runtime::service::Service;
use lap_runtime::transport::Message;
use lap_runtime::transport::kafka::TableReader;
use lap_schemas::{RosterRecord, decode};
use parking_lot::RwLock;
use tracing::{info, warn};

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
    svc.health.set_check(
        "state",
        false,
        "restoring the checkpoint and reference data",
    );

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
    let mut engine = build_engine(&cfg.aggregate, &reference)
        .context("check the [aggregate] section of the config")?;
    let shared: SharedReference = Arc::new(RwLock::new((0, reference)));

    // Checkpoint: history and the watermark each partition was final under.
    let state_topic = cfg.topics.aggregate_state.name.clone();
    let mut state = TableReader::open(&cfg.kafka, &state_topic, Duration::from_secs(30))
        .with_context(|| format!("opening the checkpoint topic {state_topic}"))?;
    let mut skipped = 0u64;
    let n = state.catch_up(
        |m| {
            let key = m
                .key
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let value = m
                .payload
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            if !engine.restore(&key, &value) {
                skipped += 1;
            }
        },
        |n, behind| {
            info!(
                records = n,
                partitions_behind = behind,
                "restoring the checkpoint"
            )
        },
    )?;
    if skipped > 0 {
        warn!(skipped, "checkpoint records not understood were ignored");
    }
    info!(records = n, "checkpoint restored");
    svc.health
        .set_check("state", true, format!("{n} checkpoint records restored"));

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
