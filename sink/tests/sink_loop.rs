//! The sink loop over the in-memory transport and the real PostgreSQL
//! server: dead letters with origin, acknowledgement only after the store
//! commit, a store outage (through a proxy that goes down) that delays
//! rows without losing any, and both stores written at once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Db, Proxy, event, indicator_row, rows};
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::transport::memory::{MemoryBroker, MemorySink};
use lap_runtime::transport::{OutRecord, RecordSink, TopicPartition};
use lap_schemas::{DeadLetter, decode, encode};
use lap_sink::delta::{DeltaStore, Lake, query_context};
use lap_sink::metrics::SinkMetrics;
use lap_sink::postgres::PgStore;
use lap_sink::rows::{Rows, SinkTopics};
use lap_sink::run::{Backoff, Sink};
use lap_sink::store::{AnyStore, Store, StoreError, Written};
use tokio_util::sync::CancellationToken;

const INDICATORS: &str = "lap.indicators";
const ENRICHED: &str = "lap.enriched";
const DLQ: &str = "lap.dlq";

fn topics() -> SinkTopics {
    SinkTopics {
        indicators: INDICATORS.into(),
        enriched: ENRICHED.into(),
    }
}

fn new_sink<St: Store + 'static>(
    broker: &MemoryBroker,
    stores: Vec<St>,
    health: &Health,
) -> (Sink<St, MemorySink>, SinkMetrics) {
    let metrics = SinkMetrics::register(&Metrics::new("sink"));
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    let sink = Sink::new(
        stores,
        broker.sink(),
        DLQ,
        topics(),
        backoff,
        metrics.clone(),
        health.clone(),
    );
    (sink, metrics)
}

/// An in-memory broker with the sink's topics, one partition each.
fn broker() -> MemoryBroker {
    let broker = MemoryBroker::new(1);
    for t in [INDICATORS, ENRICHED, DLQ] {
        broker.create_topic(t, 1);
    }
    broker
}

/// Runs `sink` over both input topics, at most `batch_max` messages per
/// batch, until `stop`.
fn spawn_run<St: Store + 'static>(
    mut sink: Sink<St, MemorySink>,
    broker: &MemoryBroker,
    batch_max: usize,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<Result<lap_runtime::transport::CloseReport, lap_sink::run::SinkError>>
{
    let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], batch_max);
    let stop = stop.clone();
    tokio::spawn(async move { sink.run(source, &stop, Duration::from_secs(5)).await })
}

async fn produce(broker: &MemoryBroker, topic: &str, payload: Option<Vec<u8>>) {
    let record = OutRecord {
        topic: Arc::from(topic),
        key: Some(Bytes::from_static(b"k")),
        payload: payload.map(Bytes::from),
        headers: vec![],
        partition: None,
    };
    broker.sink().send(record).await.unwrap().await.unwrap();
}

fn committed_everything(broker: &MemoryBroker, topic: &str) -> bool {
    broker
        .end_offsets(topic)
        .iter()
        .enumerate()
        .all(|(p, end)| {
            let tp = TopicPartition {
                topic: Arc::from(topic),
                partition: p as i32,
            };
            // An empty partition has nothing to commit.
            broker.committed("sink", &tp).unwrap_or(0) == *end
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_dead_lettered_with_origin_and_the_rest_is_stored() {
    let Some(db) = Db::new().await else { return };
    let broker = broker();
    produce(
        &broker,
        INDICATORS,
        Some(encode(&indicator_row("p1", 0, 1, 0.5)).unwrap()),
    )
    .await;
    produce(&broker, INDICATORS, Some(b"{\"not\": \"avro\"}".to_vec())).await;
    let mut other = indicator_row("p2", 0, 1, 0.5);
    other.table_name = "district_weekly".into();
    produce(&broker, INDICATORS, Some(encode(&other).unwrap())).await;
    let mut nul = event("e-nul", "p3", 0.5);
    nul.object_name = Some("quiz\0one".into());
    produce(&broker, ENRICHED, Some(encode(&nul).unwrap())).await;
    produce(
        &broker,
        ENRICHED,
        Some(encode(&event("e1", "p1", 0.5)).unwrap()),
    )
    .await;
    produce(&broker, ENRICHED, None).await; // a tombstone: nothing to store
    produce(
        &broker,
        INDICATORS,
        Some(encode(&indicator_row("p1", 0, 2, 0.6)).unwrap()),
    )
    .await;
    broker.seal(INDICATORS);
    broker.seal(ENRICHED);

    let health = Health::default();
    let (mut sink, metrics) = new_sink(&broker, vec![db.store()], &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 100);
    sink.run(source, &stop, Duration::from_secs(5))
        .await
        .unwrap();

    let stored: Vec<i64> = db
        .client
        .query("SELECT revision FROM learner_weekly", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, [2]);
    assert_eq!(db.count("events").await, 1);
    for table in ["learner_weekly", "events"] {
        let timed = metrics
            .table_write_seconds
            .with_label_values(&["postgres", table])
            .get_sample_count();
        assert!(timed >= 1, "{table}'s writes are timed");
    }

    let mut letters: Vec<DeadLetter> = broker
        .read_all(DLQ)
        .iter()
        .map(|m| decode(m.payload.as_deref().unwrap()).unwrap())
        .collect();
    letters.sort_by_key(|l| (l.origin.topic.clone(), l.origin.offset));
    let got: Vec<(&str, Option<&str>, Option<i64>)> = letters
        .iter()
        .map(|l| {
            (
                l.error_code.as_str(),
                l.origin.topic.as_deref(),
                l.origin.offset,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("sink.nul_character", Some(ENRICHED), Some(0)),
            ("sink.decode", Some(INDICATORS), Some(1)),
            ("sink.unknown_table", Some(INDICATORS), Some(2)),
        ]
    );
    assert_eq!(letters[0].payload, encode(&nul).unwrap());
    assert_eq!(letters[1].payload, b"{\"not\": \"avro\"}");
    assert!(
        letters[2].message.contains("school_weekly"),
        "{}",
        letters[2].message
    );
    assert_eq!(metrics.tombstones.get(), 1);
    assert!(committed_everything(&broker, INDICATORS) && committed_everything(&broker, ENRICHED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_delays_rows_and_loses_none() {
    let Some(db) = Db::new().await else { return };
    let proxy = Proxy::new(&db.config.url);
    let broker = MemoryBroker::new(1);
    for t in [INDICATORS, ENRICHED, DLQ] {
        broker.create_topic(t, 2);
    }
    let learners = |from: usize, to: usize, rev: i64| {
        (from..to).map(move |i| indicator_row(&format!("p{i}"), 0, rev, i as f64 / 100.0))
    };
    for row in learners(0, 50, 1) {
        produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    }

    // Down from the start: no connection, not ready, nothing acknowledged.
    let health = Health::default();
    let store = PgStore::new(&proxy.config(&db), None).unwrap();
    let (mut sink, metrics) = new_sink(&broker, vec![store], &health);
    let stop = CancellationToken::new();
    let run = {
        let (broker, stop) = (broker.clone(), stop.clone());
        tokio::spawn(async move {
            assert!(sink.prepare(&stop).await);
            let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 20);
            sink.run(source, &stop, Duration::from_secs(5))
                .await
                .unwrap()
        })
    };
    let errors = || metrics.store_errors.with_label_values(&["postgres"]).get();
    wait_until("the sink retries a refused connection", || errors() >= 3).await;
    assert!(health.readiness().is_err(), "ready while the store is down");
    assert_eq!(metrics.store_down.with_label_values(&["postgres"]).get(), 1);

    proxy.up().await;
    wait_until("the first rows are stored", || health.readiness().is_ok()).await;
    wait_for_rows(&db, 50).await;

    // Down mid-stream: open connections cut, new rows wait.
    proxy.down();
    let before = errors();
    for row in learners(50, 120, 1).chain(learners(0, 10, 2)) {
        produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    }
    wait_until("writes fail again", || errors() > before + 1).await;
    assert!(health.readiness().is_err());
    proxy.up().await;
    for i in 0..30 {
        produce(
            &broker,
            ENRICHED,
            Some(encode(&event(&format!("e{i}"), "p1", 0.5)).unwrap()),
        )
        .await;
    }
    broker.seal(INDICATORS);
    broker.seal(ENRICHED);
    run.await.unwrap();

    assert_eq!(db.count("learner_weekly").await, 120);
    assert_eq!(db.count("events").await, 30);
    let revised: i64 = db
        .client
        .query_one(
            "SELECT count(*) FROM learner_weekly WHERE revision = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(revised, 10);
    assert!(committed_everything(&broker, INDICATORS) && committed_everything(&broker, ENRICHED));
    assert_eq!(metrics.store_down.with_label_values(&["postgres"]).get(), 0);
    proxy.down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_an_outage_commits_nothing_unwritten() {
    let Some(db) = Db::new().await else { return };
    let proxy = Proxy::new(&db.config.url);
    let broker = broker();
    proxy.up().await;
    let health = Health::default();
    let store = PgStore::new(&proxy.config(&db), None).unwrap();
    let (mut sink, metrics) = new_sink(&broker, vec![store], &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    proxy.down();
    for i in 0..25 {
        produce(
            &broker,
            INDICATORS,
            Some(encode(&indicator_row(&format!("p{i}"), 0, 1, 0.5)).unwrap()),
        )
        .await;
    }
    broker.seal(INDICATORS);
    broker.seal(ENRICHED);
    let run = {
        let (broker, stop) = (broker.clone(), stop.clone());
        tokio::spawn(async move {
            let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 10);
            sink.run(source, &stop, Duration::from_millis(200))
                .await
                .unwrap()
        })
    };
    let errors = || metrics.store_errors.with_label_values(&["postgres"]).get();
    wait_until("writes fail", || errors() >= 2).await;
    stop.cancel(); // SIGTERM while the store is down
    let close = run.await.unwrap();
    assert!(close.unacknowledged > 0);
    assert!(
        !committed_everything(&broker, INDICATORS),
        "committed offsets of unwritten rows"
    );
    assert_eq!(db.count("learner_weekly").await, 0);

    // The restarted sink reads them again and stores every one.
    proxy.up().await;
    let store = PgStore::new(&proxy.config(&db), None).unwrap();
    let (mut sink, _) = new_sink(&broker, vec![store], &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 10);
    sink.run(source, &stop, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(db.count("learner_weekly").await, 25);
    assert!(committed_everything(&broker, INDICATORS));
    proxy.down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_store_writes_on_its_own_and_an_outage_holds_back_only_its_own() {
    let Some(db) = Db::new().await else { return };
    let proxy = Proxy::new(&db.config.url);
    let lake = tempfile::tempdir().unwrap();
    let broker = broker();
    proxy.up().await;
    let health = Health::default();
    // PostgreSQL first: written one after the other, the lake would wait.
    let stores = vec![
        AnyStore::Postgres(Box::new(PgStore::new(&proxy.config(&db), None).unwrap())),
        AnyStore::Delta(Box::new(DeltaStore::new(Lake::local(lake.path())))),
    ];
    let (mut sink, metrics) = new_sink(&broker, stores, &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    assert!(health.readiness().is_ok());

    // PostgreSQL goes down; the lake takes every batch (three of 100)
    // while PostgreSQL's write is retried, and nothing is acknowledged
    // until both hold it.
    proxy.down();
    for i in 0..250 {
        let row = indicator_row(&format!("p{i}"), 0, 1, 0.5);
        produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    }
    let run = {
        let (broker, stop) = (broker.clone(), stop.clone());
        tokio::spawn(async move {
            let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 100);
            sink.run(source, &stop, Duration::from_secs(5))
                .await
                .unwrap()
        })
    };
    let errors = || metrics.store_errors.with_label_values(&["postgres"]).get();
    wait_until("PostgreSQL writes fail", || errors() >= 2).await;
    assert_eq!(
        lake_count_reaching(lake.path(), "learner_weekly", 250).await,
        250,
        "the lake waited for PostgreSQL"
    );
    assert_eq!(db.count("learner_weekly").await, 0);
    let down = |store: &str| metrics.store_down.with_label_values(&[store]).get();
    assert_eq!((down("delta"), down("postgres")), (0, 1));
    let failing = health
        .readiness()
        .expect_err("ready while PostgreSQL is down");
    let names: Vec<&str> = failing.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["postgres"], "{failing:?}");
    assert!(!committed_everything(&broker, INDICATORS));

    proxy.up().await;
    broker.seal(INDICATORS);
    broker.seal(ENRICHED);
    run.await.unwrap();
    assert_eq!(db.count("learner_weekly").await, 250);
    assert_eq!(lake_count(lake.path(), "learner_weekly").await, 250);
    // Once back, PostgreSQL caught up with fewer writes than batches: what
    // queued up behind the failing write went in together.
    let pg_writes = metrics
        .write_seconds
        .with_label_values(&["postgres"])
        .get_sample_count();
    assert!(
        pg_writes < 1 + 3,
        "{pg_writes} writes (one of them at start)"
    );
    assert_eq!((down("delta"), down("postgres")), (0, 0));
    assert!(committed_everything(&broker, INDICATORS));
    proxy.down();
}

async fn lake_count(root: &std::path::Path, table: &str) -> i64 {
    let ctx = query_context(&Lake::local(root)).await.unwrap();
    let batches = ctx
        .sql(&format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let counts = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .expect("count(*) is Int64");
    counts.value(0)
}

async fn wait_for_rows(db: &Db, n: i64) {
    for _ in 0..300 {
        if db.count("learner_weekly").await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("learner_weekly never reached {n} rows");
}

/// The lake's row count of `table` once it reaches `n`, or after 30 s
/// what it is then (a Delta commit takes longer than PostgreSQL's failures).
async fn lake_count_reaching(root: &std::path::Path, table: &str, n: i64) -> i64 {
    let mut count = 0;
    for _ in 0..300 {
        count = lake_count(root, table).await;
        if count == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..600 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

/// What a store that fell behind writes in one commit: per indicator key
/// the highest revision of all the batches, per event its first copy.
#[test]
fn merged_batches_keep_the_highest_revision_and_the_first_copy() {
    let a = rows(
        vec![
            indicator_row("p1", 0, 2, 0.5),
            indicator_row("p2", 0, 1, 0.1),
        ],
        vec![event("e1", "p1", 0.5)],
    );
    let b = rows(
        vec![
            indicator_row("p1", 0, 1, 0.9),
            indicator_row("p2", 0, 3, 0.7),
        ],
        vec![event("e1", "p1", 0.9), event("e2", "p2", 0.1)],
    );
    let (merged, dropped) = Rows::merge([Arc::new(a), Arc::new(b)]);
    assert_eq!(dropped, 3, "p1's revision 1, p2's revision 1, e1's copy");
    let weekly: Vec<(&str, i64)> = merged.indicators["learner_weekly"]
        .iter()
        .map(|r| (r.entity_id.as_str(), r.revision))
        .collect();
    assert_eq!(weekly, [("p1", 2), ("p2", 3)]);
    let events: Vec<(&str, Option<f64>)> = merged
        .events
        .iter()
        .map(|e| (e.event_id.as_str(), e.score_scaled))
        .collect();
    assert_eq!(events, [("e1", Some(0.5)), ("e2", Some(0.1))]);
}

/// A store whose client has a bug: its writes of rows panic.
struct PanickingStore;

impl Store for PanickingStore {
    fn name(&self) -> &'static str {
        "panics"
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        assert!(rows.is_empty(), "a bug in the store client");
        Ok(Written::default())
    }

    fn handle(&self) -> Self {
        PanickingStore
    }
}

/// A store whose indicator upserts take as long as a test wants: they
/// wait until `gate` opens. Records the event ids it has written, and how
/// many indicator rows each upsert was given.
#[derive(Clone)]
struct SlowIndicatorStore {
    gate: Arc<tokio::sync::Semaphore>,
    events: Arc<std::sync::Mutex<Vec<String>>>,
    upserts: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl SlowIndicatorStore {
    fn new() -> Self {
        SlowIndicatorStore {
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            events: Arc::default(),
            upserts: Arc::default(),
        }
    }
}

impl Store for SlowIndicatorStore {
    fn name(&self) -> &'static str {
        "slow"
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        if !rows.indicators.is_empty() {
            self.upserts.lock().unwrap().push(rows.indicators.len());
            self.gate.acquire().await.expect("gate stays").forget();
        }
        let mut events = self.events.lock().unwrap();
        events.extend(rows.events.iter().map(|e| e.event_id.clone()));
        Ok(Written {
            events_inserted: rows.events.len() as u64,
            ..Written::default()
        })
    }

    fn handle(&self) -> Self {
        self.clone()
    }
}

/// Event rows are written while a long indicator upsert of the same store
/// is still running (a provisional emission's thousands of learner rows),
/// and the batches are committed only once both are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_rows_do_not_wait_behind_indicator_rows() {
    let broker = broker();
    let store = SlowIndicatorStore::new();
    let health = Health::default();
    let (mut sink, _) = new_sink(&broker, vec![store.clone()], &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let row = indicator_row("p1", 0, 1, 0.5);
    produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    let run = spawn_run(sink, &broker, 10, &stop);
    // The indicator row is being upserted (and waits); now an event comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(
        &broker,
        ENRICHED,
        Some(encode(&event("e1", "p1", 0.5)).unwrap()),
    )
    .await;
    wait_until("the event row is written while indicators wait", || {
        store.events.lock().unwrap().contains(&"e1".to_string())
    })
    .await;
    assert!(!committed_everything(&broker, INDICATORS));
    assert!(
        !committed_everything(&broker, ENRICHED),
        "committed before the indicator row"
    );
    store.gate.add_permits(1000);
    stop.cancel();
    run.await.unwrap().unwrap();
    assert!(committed_everything(&broker, INDICATORS));
    assert!(committed_everything(&broker, ENRICHED));
}

/// While one writer is stuck, the sink reads on only until
/// `max_waiting_messages` wait. An indicator upsert blocks; the events
/// after it are written by the other writer but cannot be acknowledged
/// (batches are acknowledged in order), so they wait: with a bound of 3,
/// the sink reads the indicator row and two events, then nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_pauses_once_the_bound_of_waiting_messages_is_reached() {
    let broker = broker();
    let row = indicator_row("p1", 0, 1, 0.5);
    produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    let store = SlowIndicatorStore::new();
    let health = Health::default();
    let (sink, _) = new_sink(&broker, vec![store.clone()], &health);
    let mut sink = sink.max_waiting(3);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    // One message per batch.
    let run = spawn_run(sink, &broker, 1, &stop);
    wait_until("the indicator upsert has begun", || {
        !store.upserts.lock().unwrap().is_empty()
    })
    .await;
    for i in 0..10 {
        let e = event(&format!("e{i}"), "p1", 0.5);
        produce(&broker, ENRICHED, Some(encode(&e).unwrap())).await;
    }
    let written = || store.events.lock().unwrap().len();
    wait_until("two events are written", || written() >= 2).await;
    // Time for an unbounded sink to read (and write) all ten.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        written(),
        2,
        "the sink read past its bound of 3 waiting messages"
    );
    store.gate.add_permits(1000);
    wait_until("all ten events are written", || written() == 10).await;
    stop.cancel();
    run.await.unwrap().unwrap();
    assert!(committed_everything(&broker, INDICATORS));
    assert!(committed_everything(&broker, ENRICHED));
}

/// A store writer that panics takes the sink down with it (to be
/// restarted), instead of leaving it reading on while nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_writer_that_panics_fails_the_sink() {
    let broker = broker();
    let health = Health::default();
    let (mut sink, _) = new_sink(&broker, vec![PanickingStore], &health);
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let row = indicator_row("p1", 0, 1, 0.5);
    produce(&broker, INDICATORS, Some(encode(&row).unwrap())).await;
    let run = tokio::spawn(async move {
        let source = broker.subscribe("sink", &[INDICATORS, ENRICHED], 10);
        sink.run(source, &stop, Duration::from_millis(200)).await
    });
    let ended = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the sink went on running without its store");
    assert!(ended.unwrap_err().is_panic());
}

/// A store with a commit interval (as the lake has) that records the
/// event ids of each write.
#[derive(Clone)]
struct IntervalStore {
    interval: Duration,
    writes: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
}

impl IntervalStore {
    fn new(interval: Duration) -> Self {
        IntervalStore {
            interval,
            writes: Arc::default(),
        }
    }

    fn writes(&self) -> Vec<Vec<String>> {
        self.writes.lock().unwrap().clone()
    }
}

impl Store for IntervalStore {
    fn name(&self) -> &'static str {
        "interval"
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        if !rows.events.is_empty() {
            let ids = rows.events.iter().map(|e| e.event_id.clone()).collect();
            self.writes.lock().unwrap().push(ids);
        }
        Ok(Written {
            events_inserted: rows.events.len() as u64,
            ..Written::default()
        })
    }

    fn handle(&self) -> Self {
        self.clone()
    }

    fn commit_interval(&self) -> Duration {
        self.interval
    }
}

/// A store with a commit interval (here an hour) writes the first batch
/// at once and then nothing until the interval has passed, while a store
/// without one (as PostgreSQL) is written batch by batch meanwhile. The
/// stop ends the wait: the batches held are written in one write, and
/// every message is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_interval_gathers_batches_into_one_write() {
    let broker = broker();
    let lake = IntervalStore::new(Duration::from_secs(3600));
    let postgres = IntervalStore::new(Duration::ZERO);
    let stores = vec![lake.clone(), postgres.clone()];
    let (mut sink, _) = new_sink(&broker, stores, &Health::default());
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let run = spawn_run(sink, &broker, 1, &stop);
    let ids: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    for id in &ids {
        let e = encode(&event(id, "p1", 0.5)).unwrap();
        produce(&broker, ENRICHED, Some(e)).await;
        wait_until("the store without an interval has it", || {
            postgres.writes().concat().contains(id)
        })
        .await;
        if id == "e0" {
            wait_until("the first batch is in the lake", || {
                !lake.writes().is_empty()
            })
            .await;
        }
    }
    // Every batch has been read and queued for both stores.
    assert_eq!(postgres.writes().concat(), ids);
    assert_eq!(lake.writes(), [&ids[..1]], "written within the interval");
    assert!(!committed_everything(&broker, ENRICHED));
    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(30), run).await;
    ended
        .expect("the stop waited for the interval")
        .unwrap()
        .unwrap();
    assert_eq!(lake.writes(), [&ids[..1], &ids[1..]]);
    assert!(committed_everything(&broker, ENRICHED));
}

/// In a backlog the interval does not hold a write: once
/// `max_waiting` messages wait for the stores, reading pauses, and a
/// writer waiting for its interval writes what it holds at once, so the
/// backlog drains without a stop down to what no longer pauses reading
/// (an hour's interval would otherwise hold every batch after the first
/// write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_read_ends_the_interval_wait() {
    let broker = broker();
    let lake = IntervalStore::new(Duration::from_secs(3600));
    let (sink, _) = new_sink(&broker, vec![lake.clone()], &Health::default());
    let mut sink = sink.max_waiting(3);
    let ids: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    for id in &ids {
        let e = encode(&event(id, "p1", 0.5)).unwrap();
        produce(&broker, ENRICHED, Some(e)).await;
    }
    let stop = CancellationToken::new();
    assert!(sink.prepare(&stop).await);
    let run = spawn_run(sink, &broker, 1, &stop);
    // Reading goes on while fewer than three wait: at most two are left
    // for the interval (or the stop).
    wait_until("the backlog is in the lake", || {
        lake.writes().concat().len() >= ids.len() - 2
    })
    .await;
    assert!(ids.starts_with(&lake.writes().concat()));
    stop.cancel();
    run.await.unwrap().unwrap();
    assert_eq!(lake.writes().concat(), ids);
    assert!(committed_everything(&broker, ENRICHED));
}
