//! Aggregate at scale, two figures:
//! 1. memory of window state for `LAP_BENCH_LEARNERS` (default 100,000)
//!    active learners in one class each, `LAP_BENCH_PER_DAY` (default 4)
//!    events per learner per school day over a full open week (5 days), and
//!    the time of one provisional emission over all of it;
//! 2. a backfill of `LAP_BENCH_BACKFILL` (default 10,000,000) events: 10,000
//!    learners, 10 events each per school day, admitted as `lap backfill`
//!    does and then finalised week by week with the built-in SQL.
//!
//! `LAP_BENCH_QUERY_EVENTS` overrides `aggregate.max_query_events`.
//!
//! Run: `cargo bench --bench aggregate_scale`.

#[path = "support/learning.rs"]
mod learning;
#[path = "support/measure.rs"]
mod measure;

use std::time::Instant;

use lap_aggregate::backfill::{build_batch_engine, build_engine};
use lap_aggregate::reference::Reference;
use lap_runtime::config::AggregateConfig;
use measure::{env_usize, status_mib};

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut cfg = AggregateConfig::default();
    cfg.max_query_events = env_usize("LAP_BENCH_QUERY_EVENTS", cfg.max_query_events);
    let learners = env_usize("LAP_BENCH_LEARNERS", 100_000);
    let per_day = env_usize("LAP_BENCH_PER_DAY", 4);
    let before = status_mib("VmRSS");
    let mut engine = build_engine(&cfg, &Reference::default()).unwrap();
    let started = Instant::now();
    let mut n = 0usize;
    for e in learning::events(learners, per_day, 5) {
        engine.admit(&e, None, 0);
        n += 1;
    }
    let admitted = started.elapsed();
    let state = status_mib("VmRSS") - before;
    println!(
        "state: {learners} learners, {n} events in one open week: {state:.0} MiB resident for the window state \
         ({:.0} bytes/event), admitted in {:.1} s",
        state * 1024.0 * 1024.0 / n as f64,
        admitted.as_secs_f64()
    );
    // As the service emits: a chunk of classes per step, each row encoded
    // at once; a step's records are handed to the producer before the next
    // step runs, so only one step's encoded records are held at a time.
    let started = Instant::now();
    let (mut rows, mut bytes, mut steps, mut largest) = (0usize, 0usize, 0usize, 0usize);
    engine.begin_provisional(0);
    while engine.emitting() {
        let mut encoded = Vec::new();
        engine
            .step(&mut |row| encoded.push(lap_schemas::encode(&row).expect("rows encode")))
            .unwrap();
        rows += encoded.len();
        bytes += encoded.iter().map(Vec::len).sum::<usize>();
        largest = largest.max(encoded.len());
        steps += 1;
    }
    println!(
        "provisional emission of every open window: {rows} rows ({:.0} MiB encoded) in {steps} steps \
         (at most {largest} rows held) in {:.1} s, peak {:.0} MiB",
        bytes as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64(),
        status_mib("VmHWM")
    );
    drop(engine);

    let total = env_usize("LAP_BENCH_BACKFILL", 10_000_000);
    let learners = 10_000;
    let per_day = 10;
    let days = total.div_ceil(learners * per_day);
    let mut engine = build_batch_engine(&cfg, &Reference::default()).unwrap();
    let started = Instant::now();
    let mut n = 0usize;
    for e in learning::events(learners, per_day, days).take(total) {
        engine.admit(&e, None, 0);
        n += 1;
        if n.is_multiple_of(1_000_000) {
            eprintln!(
                "backfill: {n} events admitted, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let admitted = started.elapsed();
    let rows = engine.finalise_all(0).unwrap().rows.len();
    println!(
        "backfill: {n} events → {rows} rows in {:.1} s (admitting {:.1} s, SQL and rows the rest; {:.0} events/s), peak {:.0} MiB",
        started.elapsed().as_secs_f64(),
        admitted.as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64(),
        status_mib("VmHWM")
    );
}
