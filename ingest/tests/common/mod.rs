//! Shared by the ingest tests: run raw messages through a fresh [`Ingest`]
//! operator on the in-memory transport and collect what it produced.
#![allow(dead_code)] // each test binary uses a different part

pub mod front_door;

use std::sync::Arc;

use bytes::Bytes;
use lap_ingest::dedupe::StatementLog;
use lap_ingest::metrics::IngestMetrics;
use lap_ingest::{Ingest, IngestTopics};
use lap_runtime::config::IngestConfig;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{RunOptions, run};
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{DeadLetter, LearningEvent, decode};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// What one run produced, and what it counted without producing.
pub struct Ingested {
    /// Records on the events topic.
    pub events: Vec<LearningEvent>,
    /// Records on the dead-letter topic.
    pub dead: Vec<DeadLetter>,
    /// Statements/events dropped as exact duplicates.
    pub duplicates: u64,
    /// Caliper entity describes (valid, nothing to produce).
    pub entities: u64,
}

fn topics() -> IngestTopics {
    IngestTopics {
        raw_xapi: Arc::from("raw.xapi"),
        raw_caliper: Arc::from("raw.caliper"),
        events: Arc::from("events"),
        dlq: Arc::from("dlq"),
    }
}

/// Feeds raw messages through a fresh operator until the input ends.
pub async fn ingest_counted(xapi: Vec<Vec<u8>>, caliper: Vec<Vec<u8>>) -> Ingested {
    let broker = MemoryBroker::new(1);
    let t = topics();
    let sink = broker.sink();
    for (topic, payloads) in [(&t.raw_xapi, xapi), (&t.raw_caliper, caliper)] {
        for p in payloads {
            sink.send(OutRecord::new(topic.clone(), None, Bytes::from(p)))
                .await
                .unwrap()
                .await
                .unwrap();
        }
        broker.seal(topic);
    }
    let metrics = Metrics::new("ingest-test");
    let counters = IngestMetrics::register(&metrics);
    let op = Ingest::new(
        t.clone(),
        IngestConfig::default(),
        Arc::new(Mutex::new(StatementLog::new(1000))),
        counters.clone(),
    );
    let source = broker.subscribe("ingest", &["raw.xapi", "raw.caliper"], 100);
    let (_, report) = run(
        source,
        broker.sink(),
        op,
        RunOptions::default(),
        metrics,
        Health::default(),
        CancellationToken::new(),
    )
    .await
    .expect("the stage never fails on bad input");
    assert!(report.end_of_input);
    assert_eq!(report.close.unacknowledged, 0);
    let events = broker
        .read_all("events")
        .iter()
        .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
        .collect();
    let dead = broker
        .read_all("dlq")
        .iter()
        .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
        .collect();
    let total = |c: &prometheus::IntCounterVec, labels: [&str; 2]| {
        labels
            .iter()
            .map(|l| c.with_label_values(&[*l]).get())
            .sum()
    };
    Ingested {
        events,
        dead,
        duplicates: total(&counters.duplicates, ["xapi", "caliper"]),
        entities: total(&counters.entities, ["1.1", "1.2"]),
    }
}

/// [`ingest_counted`] when only the produced records matter.
pub async fn ingest(
    xapi: Vec<Vec<u8>>,
    caliper: Vec<Vec<u8>>,
) -> (Vec<LearningEvent>, Vec<DeadLetter>) {
    let out = ingest_counted(xapi, caliper).await;
    (out.events, out.dead)
}
