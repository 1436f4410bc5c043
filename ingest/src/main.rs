//! `lap-ingest`: the ingest service. Consumes the raw topics, serves the HTTP
//! front door, produces events and dead letters.

use std::sync::Arc;

use anyhow::Context;
use lap_ingest::http::{Clients, HttpState, router};
use lap_ingest::metrics::IngestMetrics;
use lap_ingest::{Ingest, IngestTopics, dedupe::StatementLog};
use lap_runtime::service::Service;
use lap_runtime::transport::kafka::KafkaSink;
use parking_lot::Mutex;

/// mimalloc: the services allocate a few small strings per event, and it
/// measured 1.5x the throughput of the system allocator in `cargo bench
/// --bench enrich`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let svc = Service::start("ingest").await?;
    let cfg = &svc.config;
    let topics = IngestTopics {
        raw_xapi: Arc::from(cfg.topics.raw_xapi.name.as_str()),
        raw_caliper: Arc::from(cfg.topics.raw_caliper.name.as_str()),
        events: Arc::from(cfg.topics.events.name.as_str()),
        dlq: Arc::from(cfg.topics.dlq.name.as_str()),
    };
    let metrics = IngestMetrics::register(&svc.metrics);
    let log = Arc::new(Mutex::new(StatementLog::new(cfg.ingest.dedupe_capacity)));
    if cfg.ingest.http.enabled {
        let state = HttpState {
            cfg: cfg.ingest.clone(),
            clients: Clients::from_config(&cfg.ingest.http.clients),
            sink: KafkaSink::new(&cfg.kafka, "ingest-http")?,
            raw_xapi: topics.raw_xapi.clone(),
            raw_caliper: topics.raw_caliper.clone(),
            dlq: topics.dlq.clone(),
            log: log.clone(),
            metrics: metrics.clone(),
        };
        let addr = cfg.ingest.http.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP front door to {addr} (ingest.http.addr)"))?;
        tracing::info!(addr = %listener.local_addr()?, "HTTP front door listening");
        let stop = svc.stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router(state))
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
    }
    let operator = Ingest::new(topics.clone(), cfg.ingest.clone(), log, metrics);
    svc.run_kafka(&[&topics.raw_xapi, &topics.raw_caliper], operator)
        .await?;
    Ok(())
}
