//! Aggregate throughput into window state on one core: Avro-decode an
//! enriched event and admit it (deduplicate, bin by day and class, hold).
//! Run: `cargo bench --bench aggregate`.

#[path = "support/learning.rs"]
mod learning;

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lap_aggregate::backfill::build_engine;
use lap_aggregate::reference::Reference;
use lap_runtime::config::AggregateConfig;
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::{EnrichedEvent, decode, encode};

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 20_000;

fn admit(c: &mut Criterion) {
    // 2,000 learners × 10 events on one day: 20,000 distinct events.
    let encoded: Vec<Vec<u8>> = learning::events(2_000, 10, 1)
        .map(|e| encode(&e).unwrap())
        .collect();
    let tp = TopicPartition {
        topic: Arc::from("lap.enriched"),
        partition: 0,
    };
    let cfg = AggregateConfig::default();
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_and_admit", |b| {
        b.iter_batched(
            || build_engine(&cfg, &Reference::default()).unwrap(),
            |mut engine| {
                for (offset, bytes) in encoded.iter().enumerate() {
                    let e: EnrichedEvent = decode(bytes).unwrap();
                    let id = MessageId {
                        tp: tp.clone(),
                        offset: offset as i64,
                    };
                    engine.admit(&e, Some(&id), 0);
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, admit);
criterion_main!(benches);
