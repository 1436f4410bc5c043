//! `lap-enrich`: the enrich service. Catches up with the roster topic
//! (not ready until then), keeps following it, and joins `lap.events` into
//! `lap.enriched`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lap_enrich::join::JoinOptions;
use lap_enrich::metrics::EnrichMetrics;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_enrich::state::Roster;
use lap_enrich::{Enrich, EnrichTopics, HoldPolicy, KEY_ENV, feed};
use lap_runtime::config::Secret;
use lap_runtime::service::Service;
use lap_runtime::transport::kafka::TableReader;
use parking_lot::RwLock;
use tracing::{info, warn};

/// mimalloc: the services allocate a few small strings per event, and it
/// measured 1.5x the throughput of the system allocator in `cargo bench
/// --bench enrich`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let svc = Service::start("enrich").await?;
    let cfg = &svc.config;
    let key = Secret::resolve(KEY_ENV, &cfg.enrich.key_file)?.with_context(|| {
        format!("no pseudonymisation key: set {KEY_ENV} or enrich.key_file (e.g. a file from `openssl rand -hex 32`)")
    })?;
    let keys = Pseudonymiser::new(&key)?;
    let roster = Arc::new(RwLock::new(Roster::new(
        cfg.enrich.tenant.clone(),
        cfg.enrich.identity.clone(),
    )));

    let metrics = EnrichMetrics::register(&svc.metrics);
    svc.health
        .set_check("roster", false, "catching up with the roster topic");
    let roster_topic = cfg.topics.roster.name.clone();
    let mut reader = TableReader::open(&cfg.kafka, &roster_topic, Duration::from_secs(30))
        .with_context(|| format!("opening the roster topic {roster_topic}"))?;
    let (feed_roster, health, stop) = (roster.clone(), svc.health.clone(), svc.stop.clone());
    let skipped = metrics.roster_skipped.clone();
    let (caught_up_tx, caught_up_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("roster-feed".into())
        .spawn(move || {
            let apply = |m: lap_runtime::transport::Message| {
                if let Err(e) = feed::apply(&mut feed_roster.write(), &m) {
                    skipped.with_label_values(&[e.reason()]).inc();
                    warn!(error = %e, "roster record skipped");
                }
            };
            let started = std::time::Instant::now();
            let read = reader.catch_up(apply, |n, behind| {
                info!(
                    records = n,
                    partitions_behind = behind,
                    "catching up with the roster"
                );
            });
            match read {
                Ok(n) => {
                    info!(
                        records = n,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "roster caught up"
                    );
                    health.set_check("roster", true, format!("{n} records read at start"));
                    let _ = caught_up_tx.send(());
                }
                Err(e) => {
                    health.set_check("roster", false, e.to_string());
                    return;
                }
            }
            while !stop.is_cancelled() {
                match reader.poll(Duration::from_millis(500)) {
                    Ok(Some(m)) => apply(m),
                    Ok(None) => {}
                    Err(e) => {
                        warn!(error = %e, "roster topic read failed; retrying");
                        health.set_check("roster", false, e.to_string());
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
                health.set_check("roster", true, "following the roster topic");
            }
        })
        .context("starting the roster feed thread")?;
    tokio::select! {
        r = caught_up_rx => r.context("the roster feed stopped before catching up; see the log above")?,
        _ = svc.stop.cancelled() => return Ok(()),
    }

    let topics = EnrichTopics {
        enriched: Arc::from(cfg.topics.enriched.name.as_str()),
        unmatched: Arc::from(cfg.topics.unmatched.name.as_str()),
        dlq: Arc::from(cfg.topics.dlq.name.as_str()),
    };
    let operator = Enrich::new(
        roster,
        keys,
        JoinOptions {
            keep_free_text: cfg.enrich.keep_free_text,
        },
        topics,
        HoldPolicy {
            grace: Duration::from_secs(cfg.enrich.unmatched_grace_s),
            max_held: cfg.enrich.max_held,
        },
        metrics,
    );
    svc.run_kafka(&[&cfg.topics.events.name], operator).await?;
    Ok(())
}
