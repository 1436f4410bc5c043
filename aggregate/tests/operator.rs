//! The aggregate operator on the in-memory transport: final rows, a late
//! event forwarded to the late topic byte for byte, a record that is not an
//! enriched event dead-lettered with its bytes and origin, the checkpoint
//! written, and every input acknowledged at the end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use lap_aggregate::metrics::AggregateMetrics;
use lap_aggregate::{Aggregate, AggregateTopics};
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{RunOptions, run};
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::Action::Viewed;
use lap_schemas::{DeadLetter, IndicatorRow, OriginKind, decode, encode};
use tokio_util::sync::CancellationToken;

async fn send(broker: &MemoryBroker, payload: Vec<u8>) {
    let record = OutRecord::new(
        Arc::from("enriched"),
        Some(Bytes::from("c1")),
        Bytes::from(payload),
    );
    broker.sink().send(record).await.unwrap().await.unwrap();
}

fn rows(broker: &MemoryBroker) -> Vec<IndicatorRow> {
    broker
        .read_all("indicators")
        .iter()
        .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_and_junk_are_routed_and_everything_is_acknowledged() {
    let broker = MemoryBroker::new(1);
    for t in ["enriched", "indicators", "late", "dlq", "state"] {
        broker.create_topic(t, 1);
    }
    let on_time = ev("e1", "p1", "2026-03-02 09:00", Viewed, "A");
    send(&broker, encode(&on_time).unwrap()).await;
    send(
        &broker,
        encode(&ev("e2", "p1", "2026-03-18 09:00", Viewed, "A")).unwrap(),
    )
    .await;

    let mut cfg = config(5);
    cfg.idle_partition_s = 1;
    let metrics = Metrics::new("aggregate-test");
    let counters = AggregateMetrics::register(&metrics);
    let topics = AggregateTopics {
        indicators: Arc::from("indicators"),
        late: Arc::from("late"),
        dlq: Arc::from("dlq"),
        state: Arc::from("state"),
    };
    let op = Aggregate::new(
        engine(&cfg),
        topics,
        counters.clone(),
        Duration::from_secs(1),
        None,
    );
    let source = broker.subscribe("aggregate", &["enriched"], 100);
    let stage = run(
        source,
        broker.sink(),
        op,
        RunOptions::default(),
        metrics,
        Health::default(),
        CancellationToken::new(),
    );
    let straggler = encode(&ev("e3", "p1", "2026-03-03 09:00", Viewed, "B")).unwrap();
    let week1 = day("2026-03-02");
    let feed = async {
        // The first week closes once the partition's watermark passes its
        // end plus the allowed lateness: its final rows appear.
        for _ in 0..100 {
            if rows(&broker)
                .iter()
                .any(|r| r.is_final && r.window_start == week1)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let finals: Vec<_> = rows(&broker).into_iter().filter(|r| r.is_final).collect();
        close(
            value(
                row(&finals, "learner_weekly", "p1", week1),
                "activity_events",
            ),
            1.0,
        );
        send(&broker, straggler.clone()).await;
        send(&broker, b"not avro".to_vec()).await;
        broker.seal("enriched");
    };
    let (ran, ()) = tokio::join!(stage, feed);
    let (_, report) = ran.expect("bad input never stops the stage");
    assert!(report.end_of_input);
    assert_eq!(report.close.unacknowledged, 0, "every input acknowledged");

    let late = broker.read_all("late");
    assert_eq!(late.len(), 1);
    assert_eq!(
        late[0].payload.as_deref(),
        Some(&straggler[..]),
        "original bytes"
    );
    assert_eq!(late[0].key.as_deref(), Some(&b"c1"[..]));
    assert_eq!(counters.events.with_label_values(&["late"]).get(), 1);

    let dead: Vec<DeadLetter> = broker
        .read_all("dlq")
        .iter()
        .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"not avro");
    assert_eq!(dead[0].error_code, "aggregate.decode");
    assert_eq!(dead[0].origin.kind, OriginKind::Kafka);
    assert_eq!(
        (dead[0].origin.topic.as_deref(), dead[0].origin.offset),
        (Some("enriched"), Some(3))
    );

    // The first week's final row never changed; the third week was
    // finalised at the end of input; the changelog went to the task's
    // partition.
    let all = rows(&broker);
    let finals: Vec<&IndicatorRow> = all
        .iter()
        .filter(|r| r.is_final && r.table_name == "learner_weekly")
        .collect();
    assert_eq!(finals.len(), 2, "{finals:?}");
    assert!(
        finals
            .iter()
            .all(|r| r.indicators["activity_events"] == Some(1.0))
    );
    let state = broker.read_all("state");
    assert!(
        state
            .iter()
            .any(|m| m.key.as_deref() == Some(&b"task"[..]) && m.partition == 0)
    );
}
