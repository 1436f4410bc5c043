//! Restoring an aggregate task from its changelog, two figures per size:
//! 1. in one process: the changelog records of a task's history applied
//!    to a new owner (parsing and indexing alone, records/s on one core,
//!    and the resident memory the restored task takes);
//! 2. through the broker: the same records read back from a changelog
//!    partition and applied, as a service does when it is assigned the
//!    partition (records/s and seconds until the task is back).
//!
//! The history comes from the engine itself: `LAP_BENCH_LEARNERS`
//! learners (default 25,000, a district's share of one partition; and a
//! class of 30) in classes of 25 and `LAP_BENCH_WEEKS` finalised weeks
//! (default 4) of four events per learner per school day.
//!
//! Run: `bash -c 'source tests/services.sh && lap_start_services && cargo bench --workspace --bench restore'`
//! (the broker part is skipped without `LAP_TEST_KAFKA`).

#[path = "support/learning.rs"]
mod learning;
#[path = "support/measure.rs"]
mod measure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lap_aggregate::Engine;
use lap_aggregate::backfill::build_engine;
use lap_aggregate::reference::Reference;
use lap_runtime::config::AggregateConfig;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::{KafkaSink, TableReader};
use lap_runtime::transport::{MessageId, OutRecord, RecordSink, TopicPartition};
use measure::{env_usize, status_mib};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn engine() -> Engine {
    build_engine(&AggregateConfig::default(), &Reference::default()).expect("engine")
}

/// The changelog of a task that finalised `weeks` weeks of `learners`.
fn changelog(learners: usize, weeks: usize) -> Vec<(String, String)> {
    let mut e = engine();
    let tp = TopicPartition {
        topic: Arc::from("lap.enriched"),
        partition: 0,
    };
    let mut records = vec![e.assign(&tp, 0).record];
    for (offset, ev) in learning::events(learners, 4, weeks * 5).enumerate() {
        let id = MessageId {
            tp: tp.clone(),
            offset: offset as i64,
        };
        e.admit(&ev, Some(&id), 0);
    }
    records.extend(e.finalise_all(0).expect("finalise").checkpoint);
    records.into_iter().map(|(_, k, v)| (k, v)).collect()
}

fn rate(n: usize, took: Duration) -> String {
    format!(
        "{n} records in {:.3} s ({:.0} records/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    )
}

async fn through_the_broker(bootstrap: &str, log: &[(String, String)]) -> (usize, Duration) {
    let kafka = testkit::kafka_config(bootstrap);
    let topic = testkit::unique("restore-bench");
    testkit::create_topic(&kafka, &topic, 1).await;
    let sink = KafkaSink::new(&kafka, "restore-bench").expect("producer");
    let mut acks = Vec::with_capacity(log.len());
    for (k, v) in log {
        let record = OutRecord::new(
            Arc::from(topic.as_str()),
            Some(Bytes::from(k.clone())),
            Bytes::from(v.clone()),
        )
        .to_partition(0);
        acks.push(sink.send(record).await.expect("send"));
    }
    for a in acks {
        a.await.expect("delivered");
    }
    let tp = TopicPartition {
        topic: Arc::from("lap.enriched"),
        partition: 0,
    };
    tokio::task::spawn_blocking(move || {
        let mut fresh = engine();
        let started = Instant::now();
        let mut reader =
            TableReader::open_partition(&kafka, &topic, 0, Duration::from_secs(30)).expect("open");
        let n = reader
            .catch_up(
                |m| {
                    let key = m.key.as_deref().and_then(|b| std::str::from_utf8(b).ok());
                    let value = m
                        .payload
                        .as_deref()
                        .and_then(|b| std::str::from_utf8(b).ok());
                    fresh.restore(&tp, key.unwrap_or(""), value);
                },
                |_, _| {},
            )
            .expect("read");
        let assigned = fresh.assign(&tp, 0);
        assert_eq!(assigned.records, n);
        (n as usize, started.elapsed())
    })
    .await
    .expect("reader thread")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let weeks = env_usize("LAP_BENCH_WEEKS", 4);
    let district = env_usize("LAP_BENCH_LEARNERS", 25_000);
    let broker = testkit::service(testkit::KAFKA_ENV);
    for (what, learners) in [("a class of 30", 30), ("a district partition", district)] {
        let started = Instant::now();
        let log = changelog(learners, weeks);
        let bytes: usize = log.iter().map(|(k, v)| k.len() + v.len()).sum();
        eprintln!(
            "{what}: {learners} learners, {weeks} final weeks: {} changelog records, {:.1} MiB (made in {:.1} s)",
            log.len(),
            bytes as f64 / (1024.0 * 1024.0),
            started.elapsed().as_secs_f64()
        );
        let tp = TopicPartition {
            topic: Arc::from("lap.enriched"),
            partition: 0,
        };
        let mut fresh = engine();
        let rss = status_mib("VmRSS");
        let started = Instant::now();
        for (k, v) in &log {
            fresh.restore(&tp, k, Some(v));
        }
        fresh.assign(&tp, 0);
        let took = started.elapsed();
        println!(
            "{what}: in one process {}, restored state {:.0} MiB",
            rate(log.len(), took),
            status_mib("VmRSS") - rss
        );
        drop(fresh);
        match &broker {
            Some(bootstrap) => {
                let (n, took) = through_the_broker(bootstrap, &log).await;
                println!("{what}: through the broker {}", rate(n, took));
            }
            None => println!("{what}: through the broker skipped (LAP_TEST_KAFKA not set)"),
        }
    }
}
