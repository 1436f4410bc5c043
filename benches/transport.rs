//! Transport benchmark (not a test): what one stage hop costs in CPU per
//! record on the real broker, apart from any stage's own logic.
//!
//! Every record crosses the broker three times between the raw topics and
//! the stores (ingest, enrich and the aggregate/sink each consume; ingest
//! and enrich produce), and the pipeline harness shows all of the
//! machine's cores busy during a drain, so the transport's share of the
//! CPU is part of every events/s figure. This measures it alone:
//!
//! 1. **produce**: `LAP_BENCH_RECORDS` (default 200,000) keyed records of
//!    ~600 bytes of JSON sent through [`KafkaSink`] in batches of 2,000,
//!    each batch awaited, as a stage's deliveries are;
//! 2. **hop**: [`stage::run`] with a pass-through operator consumes them
//!    with [`KafkaSource`] and produces each to a second topic, storing
//!    offsets after delivery, as every stage does.
//!
//! CPU is the whole process's (all threads: librdkafka's, the poll thread,
//! tokio's), from `/proc/self/stat`, from the first batch to the end of the
//! run (the group join is left out). Production settings throughout
//! (`KafkaConfig::default()`); `LAP_BENCH_COMPRESSION` overrides
//! `kafka.producer.compression`. Needs the broker the tests use:
//! `bash -c 'source tests/services.sh && lap_start_services &&
//! LAP_TEST_KAFKA=$LAP_TEST_KAFKA_TANSU cargo bench --workspace --bench transport'`.

#[allow(dead_code)] // env_usize only
#[path = "support/measure.rs"]
mod measure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lap_runtime::config::KafkaConfig;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{self, Operator, Output, RunOptions, StageError};
use lap_runtime::testkit;
use lap_runtime::transport::kafka::{KafkaSink, KafkaSource};
use lap_runtime::transport::{Message, OutRecord, RecordSink};
use measure::env_usize;
use tokio_util::sync::CancellationToken;

/// Partitions of both topics (the raw topics' default is more; four keep
/// the batches as full as a stage's under load).
const PARTITIONS: i32 = 4;

/// Records per awaited batch of the producing phase.
const CHUNK: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
            return;
        };
        let mut cfg = KafkaConfig {
            bootstrap_servers: bootstrap,
            ..KafkaConfig::default()
        };
        if let Ok(c) = std::env::var("LAP_BENCH_COMPRESSION") {
            cfg.producer.compression = c;
        }
        let n = env_usize("LAP_BENCH_RECORDS", 200_000);
        let input = testkit::unique("bench-transport-in");
        let output = testkit::unique("bench-transport-out");
        for t in [&input, &output] {
            testkit::create_topic(&cfg, t, PARTITIONS).await;
        }
        println!(
            "{n} records, compression {}, {PARTITIONS} partitions",
            cfg.producer.compression
        );
        produce(&cfg, &input, n).await;
        hop(&cfg, &input, &output, n).await;
    });
}

/// CPU seconds of this process so far, all threads (utime + stime).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("tick count");
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let hz = 100.0; // USER_HZ on Linux
    (ticks(11) + ticks(12)) / hz
}

/// One record's value: JSON of about the size of an enriched event.
fn payload(i: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"event_id":"urn:uuid:{i:08x}-bench","person_key":"{:064x}","verb":"http://adlnet.gov/expapi/verbs/completed","object_id":"https://lms.example.org/course/{}/module/{}","event_time":"2026-11-{:02}T{:02}:{:02}:00Z","score_scaled":0.{},"class_id":"class-{}","school_id":"school-{}","padding":"{}"}}"#,
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
        i % 97,
        i % 13,
        1 + i % 28,
        i % 24,
        i % 60,
        i % 1000,
        i % 400,
        i % 7,
        "-".repeat(120 + i % 80),
    ))
}

fn report(phase: &str, n: usize, wall: Duration, cpu: f64) {
    println!(
        "{phase}: {n} records in {:.2} s ({:.0} records/s), CPU {cpu:.2} s = {:.2} µs per record",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu * 1e6 / n as f64
    );
}

async fn produce(cfg: &KafkaConfig, topic: &str, n: usize) {
    let sink = KafkaSink::new(cfg, "bench-transport").expect("producer");
    let topic: Arc<str> = Arc::from(topic);
    let records: Vec<OutRecord> = (0..n)
        .map(|i| {
            let key = Bytes::from(format!("learner-{}", i % 10_000));
            OutRecord::new(topic.clone(), Some(key), payload(i))
        })
        .collect();
    let (cpu, started) = (cpu_s(), Instant::now());
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let mut pending = Vec::with_capacity(CHUNK);
        for r in records.by_ref().take(CHUNK) {
            pending.push(sink.send(r).await.expect("send"));
        }
        for p in pending {
            p.await.expect("delivered");
        }
    }
    report("produce", n, started.elapsed(), cpu_s() - cpu);
}

/// Emits every input record unchanged to `topic`; stops the run once `n`
/// have been seen, and notes the CPU and time at the first batch.
struct PassThrough {
    topic: Arc<str>,
    n: usize,
    seen: usize,
    first: Option<(f64, Instant)>,
    stop: CancellationToken,
}

impl Operator for PassThrough {
    fn name(&self) -> &'static str {
        "pass-through"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        self.first.get_or_insert_with(|| (cpu_s(), Instant::now()));
        out.reserve(batch.len());
        for m in batch {
            let payload = m.payload.clone().unwrap_or_default();
            out.emit(OutRecord::new(self.topic.clone(), m.key.clone(), payload));
        }
        self.seen += batch.len();
        if self.seen >= self.n {
            self.stop.cancel();
        }
        Ok(())
    }
}

async fn hop(cfg: &KafkaConfig, input: &str, output: &str, n: usize) {
    let metrics = Metrics::new("bench-transport");
    let group = testkit::unique("bench-transport");
    let source = KafkaSource::subscribe(cfg, &group, &[input], Health::default(), metrics.clone())
        .expect("consumer");
    let sink = KafkaSink::new(cfg, "bench-transport-hop").expect("producer");
    let stop = CancellationToken::new();
    let op = PassThrough {
        topic: Arc::from(output),
        n,
        seen: 0,
        first: None,
        stop: stop.clone(),
    };
    let (op, run) = stage::run(
        source,
        sink,
        op,
        RunOptions::default(),
        metrics,
        Health::default(),
        stop,
    )
    .await
    .expect("stage run");
    let (cpu, started) = op.first.expect("at least one batch");
    assert_eq!(op.seen, n, "every produced record read once");
    assert_eq!(run.close.unacknowledged, 0, "every record delivered");
    report("hop", n, started.elapsed(), cpu_s() - cpu);
}
