//! `lap-sink`: the sink service. Prepares the store (connect, migrate; not
//! ready until then), then writes `lap.indicators` and `lap.enriched` to it.

use std::time::Duration;

use anyhow::{Context, bail};
use lap_runtime::config::Secret;
use lap_runtime::service::Service;
use lap_runtime::transport::kafka::{KafkaSink, KafkaSource};
use lap_sink::delta::{Commits, DeltaStore, Lake};
use lap_sink::metrics::SinkMetrics;
use lap_sink::postgres::{PASSWORD_ENV, PgStore};
use lap_sink::rows::SinkTopics;
use lap_sink::run::{Backoff, Sink};
use lap_sink::store::AnyStore;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let svc = Service::start("sink").await?;
    let cfg = &svc.config;
    let mut stores = Vec::new();
    if cfg.sink.lake.enabled {
        let lake = Lake::new(&cfg.sink.lake.path, &cfg.sink.lake.storage_options)?;
        if lake
            .check_commits(cfg.sink.lake.allow_unsafe_commits)
            .await?
            == Commits::Unsafe
        {
            tracing::warn!(
                %lake,
                "the lake's store does not keep concurrent commits apart: run one sink replica \
                 and no lap erase or retention while it runs (sink.lake.allow_unsafe_commits)"
            );
        }
        let store = DeltaStore::new(lake).configured(&cfg.sink.lake);
        stores.push(AnyStore::Delta(Box::new(store)));
    }
    let pg = &cfg.sink.postgres;
    if pg.enabled {
        let password = Secret::resolve(PASSWORD_ENV, &pg.password_file)?;
        stores.push(AnyStore::Postgres(Box::new(PgStore::new(pg, password)?)));
    }
    if stores.is_empty() {
        bail!(
            "no analytics store is enabled: set sink.lake.enabled = true (a Delta Lake directory or object store) \
             and/or sink.postgres.enabled = true"
        );
    }
    let topics = SinkTopics {
        indicators: cfg.topics.indicators.name.clone(),
        enriched: cfg.topics.enriched.name.clone(),
    };
    let backoff = Backoff {
        initial: Duration::from_millis(cfg.sink.retry_initial_ms),
        max: Duration::from_millis(cfg.sink.retry_max_ms),
    };
    let dlq = KafkaSink::new(&cfg.kafka, svc.name)?;
    let metrics = SinkMetrics::register(&svc.metrics);
    let mut sink = Sink::new(
        stores,
        dlq,
        &cfg.topics.dlq.name,
        topics.clone(),
        backoff,
        metrics,
        svc.health.clone(),
    )
    .max_waiting(cfg.sink.max_waiting_messages);
    if !sink.prepare(&svc.stop).await {
        return Ok(());
    }
    let mut subscribed = vec![topics.indicators.as_str()];
    if cfg.sink.events {
        subscribed.push(topics.enriched.as_str());
    }
    let mut kafka = cfg.kafka.clone();
    kafka.consumer.batch_max = cfg.sink.batch_max;
    let source = KafkaSource::subscribe(
        &kafka,
        &svc.group_id(),
        &subscribed,
        svc.health.clone(),
        svc.metrics.clone(),
    )
    .context("subscribing to the sink's topics")?;
    let grace = Duration::from_millis(cfg.service.shutdown_grace_ms);
    sink.run(source, &svc.stop, grace).await?;
    Ok(())
}
