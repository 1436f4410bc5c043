//! Sink throughput into both stores: Avro-decode indicator rows, keep one
//! per key, and write them one batch at a time, as `lap-sink` does —
//! PostgreSQL with one upsert transaction per batch of 2,000 (the
//! consumer's default `batch_max`), Delta Lake with one MERGE commit per
//! table per batch, at 2,000 and at 20,000 (what `lap run` reads). Three
//! figures per store: new rows, a replay of the same rows (every row stale:
//! nothing changes), and new event-level rows. Then `lap query`'s path
//! over a large event table: `LAP_BENCH_QUERY_EVENTS` (default 10,000,000)
//! event rows written to a lake and compacted, and a weekly class summary
//! timed over them.
//!
//! PostgreSQL: `LAP_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); writes into a schema of
//! its own and drops it at the end. Set it to `skip` to bench the lake only.
//! Run: `cargo bench --bench sink_stores`.

#[path = "support/learning.rs"]
mod learning;
#[path = "support/measure.rs"]
mod measure;
#[path = "support/postgres.rs"]
mod postgres;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use lap_runtime::config::PostgresConfig;
use lap_runtime::transport::Message;
use lap_schemas::{EntityKind, Flag, IndicatorRow, WindowKind, encode};
use lap_sink::delta::maintain::compact;
use lap_sink::delta::{DeltaStore, Lake, query_context};
use lap_sink::postgres::PgStore;
use lap_sink::rows::{SinkTopics, decode_batch};
use lap_sink::store::Store;
use measure::{env_usize, status_mib};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 2_000;
/// Monday 2026-03-02 00:00 UTC, µs.
const MONDAY: i64 = 1_772_409_600_000_000;

/// A learner's daily row as aggregate writes it: a dozen indicators, and
/// a flag on every tenth.
fn row(learner: usize, day: i64) -> IndicatorRow {
    let names = [
        "activity_events",
        "active_minutes",
        "resources_viewed",
        "attempts",
        "mean_score",
        "pass_rate",
        "objectives_mastered",
        "submissions_on_time",
        "submissions_late",
        "submissions_missing",
        "attendance_rate",
        "wellbeing_index",
    ];
    let indicators: BTreeMap<String, Option<f64>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                (i % 5 != 4).then(|| (learner * 7 + i) as f64 / 13.0),
            )
        })
        .collect();
    let flags = if learner.is_multiple_of(10) {
        vec![Flag {
            code: "low_wellbeing".into(),
            reason: "well-being index 0.31 is below 0.40".into(),
            evidence: BTreeMap::from([("wellbeing_index".into(), 0.31), ("threshold".into(), 0.4)]),
        }]
    } else {
        vec![]
    };
    IndicatorRow {
        table_name: "learner_daily".into(),
        window_kind: WindowKind::Daily,
        window_start: MONDAY + day * 86_400_000_000,
        window_end: MONDAY + (day + 1) * 86_400_000_000,
        time_zone: "Europe/Berlin".into(),
        entity_kind: EntityKind::Learner,
        entity_id: format!("{learner:064x}"),
        class_id: Some(format!("class-{}", learner / 25)),
        school_id: Some(format!("school-{}", learner / 1000)),
        revision: 1_772_409_600_000_000 + day,
        is_final: true,
        emitted_time: MONDAY,
        contributors: 1,
        suppressed: false,
        indicators,
        flags,
        cleared_flags: vec![],
        newest_event_time: Some(MONDAY + day * 86_400_000_000 + 36_000_000_000),
    }
}

fn message(topic: &Arc<str>, offset: usize, payload: Vec<u8>) -> Message {
    Message {
        topic: topic.clone(),
        partition: 0,
        offset: offset as i64,
        key: None,
        payload: Some(Bytes::from(payload)),
        timestamp_ms: None,
        headers: vec![],
    }
}

/// Writes `messages` to `store` in batches of `batch`; prints rows/s.
async fn write_all(store: &mut impl Store, what: &str, messages: &[Message], batch: usize) {
    let topics = SinkTopics {
        indicators: "lap.indicators".into(),
        enriched: "lap.enriched".into(),
    };
    let started = Instant::now();
    let mut changed = 0;
    for chunk in messages.chunks(batch) {
        let decoded = decode_batch(chunk, &topics);
        assert!(decoded.rejected.is_empty());
        let w = store.write(&decoded.rows).await.unwrap();
        changed += w.indicators_changed.values().sum::<u64>() + w.events_inserted;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} {what}: {} rows in {secs:.1} s = {:.0} rows/s ({changed} changed), batches of {batch}",
        store.name(),
        messages.len(),
        messages.len() as f64 / secs
    );
}

#[tokio::main]
async fn main() {
    let url = std::env::var("LAP_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n = env_usize("LAP_BENCH_ROWS", 200_000);
    let indicators: Arc<str> = Arc::from("lap.indicators");
    let enriched: Arc<str> = Arc::from("lap.enriched");
    let rows: Vec<Message> = (0..n)
        .map(|i| {
            message(
                &indicators,
                i,
                encode(&row(i % 100_000, (i / 100_000) as i64)).unwrap(),
            )
        })
        .collect();
    let events: Vec<Message> = learning::events(10_000, 4, 5)
        .take(n)
        .enumerate()
        .map(|(i, e)| message(&enriched, i, encode(&e).unwrap()))
        .collect();
    let figures = [
        ("indicator rows, new", &rows),
        ("indicator rows, replayed (all stale)", &rows),
        ("event rows, new", &events),
    ];

    if url != "skip" {
        let schema = format!("lap_bench_{}", std::process::id());
        let cfg = PostgresConfig {
            enabled: true,
            url: url.clone(),
            schema: schema.clone(),
            ..PostgresConfig::default()
        };
        let mut store = PgStore::new(&cfg, None).unwrap();
        for (what, messages) in figures {
            write_all(&mut store, what, messages, BATCH).await;
        }
        postgres::execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;
    }
    for batch in [BATCH, 20_000] {
        let lake = tempfile::tempdir().unwrap();
        let mut store = DeltaStore::new(lake.path());
        for (what, messages) in figures {
            write_all(&mut store, what, messages, batch).await;
        }
    }
    println!(
        "peak resident memory so far: {:.0} MiB",
        status_mib("VmHWM")
    );
    query_large_lake().await;
}

/// Writes the event table of a large lake (batches of 500,000: the rows
/// as a backfill would write them), compacts it, and times a weekly class
/// summary over it the way `lap query` runs SQL.
async fn query_large_lake() {
    let total = env_usize("LAP_BENCH_QUERY_EVENTS", 10_000_000);
    let lake = tempfile::tempdir().unwrap();
    let mut store = DeltaStore::new(lake.path());
    let started = Instant::now();
    let mut events = learning::events(10_000, 10, total.div_ceil(100_000)).take(total);
    let mut written = 0;
    loop {
        let chunk: Vec<_> = events.by_ref().take(500_000).map(Arc::new).collect();
        if chunk.is_empty() {
            break;
        }
        written += chunk.len();
        let batch = lap_sink::rows::Rows {
            events: chunk,
            ..Default::default()
        };
        store.write(&batch).await.unwrap();
        eprintln!(
            "large lake: {written} event rows written, {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let wrote = started.elapsed().as_secs_f64();
    let started = Instant::now();
    compact(
        &Lake::local(lake.path()),
        128 * 1024 * 1024,
        chrono::Duration::zero(),
    )
    .await
    .unwrap();
    let compacted = started.elapsed().as_secs_f64();
    let sql = "SELECT class_id, date_trunc('week', event_time) AS week, count(*) AS events, \
               count(DISTINCT person_key) AS learners, avg(score_scaled) AS mean_score \
               FROM events GROUP BY 1, 2 ORDER BY 1, 2";
    for run in ["cold", "warm"] {
        let started = Instant::now();
        let ctx = query_context(&Lake::local(lake.path())).await.unwrap();
        let result = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let out_rows: usize = result.iter().map(|b| b.num_rows()).sum();
        println!(
            "lap query, weekly class summary over {written} event rows ({run}): {out_rows} rows in {:.2} s \
             (lake written in {wrote:.0} s = {:.0} rows/s in batches of 500,000, compacted in {compacted:.0} s)",
            started.elapsed().as_secs_f64(),
            written as f64 / wrote
        );
    }
    println!("peak resident memory: {:.0} MiB", status_mib("VmHWM"));
}
