//! Scale-out: the aggregate run by several instances that join, leave and
//! crash while events arrive gives, in every store's view (the highest
//! revision of each row), exactly the final rows of `lap backfill`; and a
//! partition's earlier owner can never replace the rows of its new one.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use lap_aggregate::metrics::AggregateMetrics;
use lap_aggregate::{Aggregate, AggregateTopics, Engine};
use lap_runtime::config::AggregateConfig;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{RunOptions, StageError, run};
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{MessageId, OutRecord, RecordSink, TopicPartition};
use lap_schemas::Action::{self, *};
use lap_schemas::{EnrichedEvent, IndicatorRow, decode, encode};
use proptest::prelude::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const HOUR: i64 = 3_600_000_000;
const PARTITIONS: i32 = 3;

/// A row's key in a store: table, window, entity, class.
type Key = (String, i64, String, Option<String>);

/// What the stores keep: the highest revision of every row.
fn store_view(rows: impl IntoIterator<Item = IndicatorRow>) -> BTreeMap<Key, IndicatorRow> {
    let mut view: BTreeMap<Key, IndicatorRow> = BTreeMap::new();
    for r in rows {
        let key = (
            r.table_name.clone(),
            r.window_start,
            r.entity_id.clone(),
            r.class_id.clone(),
        );
        match view.get(&key) {
            Some(kept) if kept.revision >= r.revision => {}
            _ => {
                view.insert(key, r);
            }
        }
    }
    view
}

/// A row's content: everything but its revision and emission time.
fn content(r: &IndicatorRow) -> String {
    let values: Vec<String> = r
        .indicators
        .iter()
        .map(|(k, v)| format!("{k}={:?}", v.map(|x| (x * 1e9).round() / 1e9)))
        .collect();
    let flags: Vec<&str> = r.flags.iter().map(|f| f.code.as_str()).collect();
    format!(
        "final={} {} {} {values:?} {flags:?}",
        r.is_final, r.contributors, r.suppressed
    )
}

fn differences(got: &BTreeMap<Key, IndicatorRow>, want: &BTreeMap<Key, IndicatorRow>) -> String {
    let mut out = Vec::new();
    for (k, r) in got {
        match want.get(k) {
            Some(w) if content(w) == content(r) => {}
            Some(w) => out.push(format!(
                "{k:?}\n  got  {}\n  want {}",
                content(r),
                content(w)
            )),
            None => out.push(format!("{k:?} only in the stream: {}", content(r))),
        }
    }
    out.extend(
        want.keys()
            .filter(|k| !got.contains_key(*k))
            .map(|k| format!("{k:?} missing from the stream")),
    );
    out.join("\n")
}

/// The keys whose newest revision is provisional, each with every
/// revision written for it (epoch, emission, final?), oldest first.
fn provisional_on_top(stored: &BTreeMap<Key, IndicatorRow>, rows: &[IndicatorRow]) -> String {
    let mut out = Vec::new();
    for (k, top) in stored.iter().filter(|(_, r)| !r.is_final) {
        let mut written: Vec<(i64, i64, bool)> = rows
            .iter()
            .filter(|r| {
                (&r.table_name, r.window_start, &r.entity_id, &r.class_id)
                    == (&k.0, k.1, &k.2, &k.3)
            })
            .map(|r| (r.revision >> 21, r.revision & ((1 << 21) - 1), r.is_final))
            .collect();
        written.sort();
        out.push(format!("{k:?} {}: {written:?}", content(top)));
    }
    out.join("\n")
}

const ACTIONS: [Action; 6] = [Viewed, Completed, Scored, Attended, Absent, Answered];

prop_compose! {
    fn event()(person in 0..6usize, school in 0..PARTITIONS, hours in 0..(17 * 24i64),
               action in 0..ACTIONS.len(), score in proptest::option::of(0..=100u8),
               answer in 1..=5u8, object in 0..3usize, second in 0..3600i64)
        -> EnrichedEvent {
        let mut e = ev("", &format!("p{person}"), "2026-03-02 00:00", ACTIONS[action], &format!("o{object}"));
        e.event_time += hours * HOUR + second * 1_000_000;
        e.school_id = Some(format!("s{school}"));
        e.class_id = Some(format!("c{school}"));
        e.score_scaled = score.map(|s| f64::from(s) / 100.0);
        if e.action == Answered {
            e.object_id = ["q1", "q2"][object % 2].into();
            e.response_value = Some(f64::from(answer));
        }
        e
    }
}

/// What happens next in a run.
#[derive(Clone, Debug)]
enum Step {
    /// The next events arrive.
    Feed(usize),
    /// A new instance joins the group.
    Join,
    /// An instance stops gracefully (SIGTERM).
    Stop(usize),
    /// An instance dies without handing anything over (SIGKILL).
    Crash(usize),
    /// Time passes.
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1..40usize).prop_map(Step::Feed),
        2 => Just(Step::Join),
        1 => (0..4usize).prop_map(Step::Stop),
        1 => (0..4usize).prop_map(Step::Crash),
        2 => (0..150u64).prop_map(Step::Wait),
    ]
}

prop_compose! {
    /// Events with unique ids, some sent twice, in arrival order (up to a
    /// day after they happened; the allowed lateness is two days).
    fn arrivals()(events in proptest::collection::vec(event(), 1..150))
        (delays in proptest::collection::vec(0..24 * HOUR, events.len()),
         dups in proptest::collection::vec(0..events.len(), 0..8),
         events in Just(events))
        -> Vec<EnrichedEvent> {
        let mut events = events;
        for (n, e) in events.iter_mut().enumerate() {
            e.event_id = format!("e{n}");
        }
        let mut timed: Vec<(i64, EnrichedEvent)> = events
            .iter()
            .zip(&delays)
            .map(|(e, d)| (e.event_time + d, e.clone()))
            .collect();
        timed.extend(dups.iter().map(|&i| (events[i].event_time + delays[i] + HOUR, events[i].clone())));
        timed.sort_by_key(|(t, _)| *t);
        timed.into_iter().map(|(_, e)| e).collect()
    }
}

fn settings() -> AggregateConfig {
    let mut cfg = config(3);
    cfg.flags.inactive_days = 2;
    cfg.idle_partition_s = 1;
    cfg.max_query_events = 40;
    cfg
}

fn topics() -> AggregateTopics {
    AggregateTopics {
        indicators: Arc::from("indicators"),
        late: Arc::from("late"),
        dlq: Arc::from("dlq"),
        state: Arc::from("state"),
    }
}

type Instance = (CancellationToken, JoinHandle<Result<(), StageError>>);

fn join(broker: &MemoryBroker, cfg: &AggregateConfig) -> Instance {
    let metrics = Metrics::new("aggregate");
    let op = Aggregate::new(
        engine(cfg),
        topics(),
        AggregateMetrics::register(&metrics),
        Duration::from_millis(50),
        None,
    );
    let source = broker.subscribe("aggregate", &["enriched"], 25);
    let stop = CancellationToken::new();
    let opts = RunOptions {
        tick: Duration::from_millis(20),
        ..RunOptions::default()
    };
    let (sink, token) = (broker.sink(), stop.clone());
    let handle = tokio::spawn(async move {
        run(source, sink, op, opts, metrics, Health::default(), token)
            .await
            .map(|_| ())
    });
    (stop, handle)
}

async fn feed(broker: &MemoryBroker, events: &[EnrichedEvent]) {
    for e in events {
        let school = e.school_id.clone().expect("a school");
        let partition: i32 = school[1..].parse().unwrap();
        let record = OutRecord::new(
            Arc::from("enriched"),
            Some(Bytes::from(school)),
            Bytes::from(encode(e).unwrap()),
        )
        .to_partition(partition);
        broker.sink().send(record).await.unwrap().await.unwrap();
    }
}

/// Plays `steps` over `events` and returns every indicator row written.
async fn play(events: &[EnrichedEvent], steps: &[Step]) -> Vec<IndicatorRow> {
    let cfg = settings();
    let broker = MemoryBroker::new(PARTITIONS);
    for t in ["enriched", "indicators", "late", "dlq", "state"] {
        broker.create_topic(t, PARTITIONS);
    }
    let mut running: Vec<Instance> = Vec::new();
    let mut sent = 0;
    for s in steps {
        match s {
            Step::Feed(n) => {
                let upto = (sent + n).min(events.len());
                feed(&broker, &events[sent..upto]).await;
                sent = upto;
            }
            Step::Join if running.len() < 4 => running.push(join(&broker, &cfg)),
            Step::Join => {}
            Step::Stop(i) if *i < running.len() => {
                let (stop, handle) = running.remove(*i);
                stop.cancel();
                handle.await.unwrap().unwrap();
            }
            Step::Crash(i) if *i < running.len() => {
                let (_, handle) = running.remove(*i);
                handle.abort();
                let _ = handle.await;
            }
            Step::Stop(_) | Step::Crash(_) => {}
            Step::Wait(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        }
    }
    if running.is_empty() {
        running.push(join(&broker, &cfg));
    }
    feed(&broker, &events[sent..]).await;
    broker.seal("enriched");
    for (_, handle) in running {
        tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("the instances finish once the input is sealed")
            .unwrap()
            .unwrap();
    }
    assert!(broker.read_all("late").is_empty(), "nothing is late");
    broker
        .read_all("indicators")
        .iter()
        .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
        .collect()
}

proptest! {
    // Each case plays a whole run; PROPTEST_CASES=200 searches longer.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_sequence_of_joins_leaves_and_crashes_stores_the_rows_of_backfill(
        events in arrivals(),
        steps in proptest::collection::vec(step(), 1..14),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let rows = rt.block_on(play(&events, &steps));
        let stored = store_view(rows.clone());
        let want = store_view(batch(&settings(), &events));
        let outranking = provisional_on_top(&stored, &rows);
        prop_assert!(
            outranking.is_empty(),
            "a provisional row outranks every final one:\n{}",
            outranking
        );
        let differ = differences(&stored, &want);
        prop_assert!(differ.is_empty(), "{}", differ);
    }
}

fn msg(partition: i32, offset: i64) -> MessageId {
    MessageId {
        tp: TopicPartition {
            topic: Arc::from("enriched"),
            partition,
        },
        offset,
    }
}

/// The changelog records an engine wrote, as its partition's log.
fn log_of(records: &[(i32, String, String)]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn a_partition_s_earlier_owner_cannot_replace_its_new_owner_s_rows() {
    let cfg = settings();
    let tp = msg(0, 0).tp;
    let events: Vec<EnrichedEvent> = (0..4)
        .map(|i| ev(&format!("e{i}"), "p1", "2026-03-02 09:00", Viewed, "A"))
        .collect();
    let now = 1_800_000_000_000;
    // A owns the partition and emits.
    let mut a: Engine = engine(&cfg);
    let mut log = vec![a.assign(&tp, now).record];
    for (i, e) in events[..2].iter().enumerate() {
        a.admit(e, Some(&msg(0, i as i64)), 0);
    }
    let mut rows = a.provisional(now).unwrap().rows;
    // B takes the partition over in the same millisecond, from A's log,
    // and counts everything.
    let mut b: Engine = engine(&cfg);
    for (k, v) in log_of(&log) {
        b.restore(&tp, &k, Some(&v));
    }
    log.push(b.assign(&tp, now).record);
    for (i, e) in events.iter().enumerate() {
        b.admit(e, Some(&msg(0, i as i64)), 0);
    }
    let from_b = b.provisional(now).unwrap().rows;
    rows.extend(from_b.iter().cloned());
    // A, not knowing it lost the partition, counts one more and emits again.
    a.admit(&events[2], Some(&msg(0, 2)), 0);
    rows.extend(a.provisional(now).unwrap().rows);
    let view = store_view(rows);
    for r in &from_b {
        let key = (
            r.table_name.clone(),
            r.window_start,
            r.entity_id.clone(),
            r.class_id.clone(),
        );
        assert_eq!(view[&key].revision, r.revision, "{key:?}: A's row won");
    }
    assert_eq!(
        view[&(
            "learner_daily".into(),
            day("2026-03-02"),
            "p1".into(),
            Some("c1".into())
        )]
            .indicators["activity_events"],
        Some(4.0)
    );
}

#[test]
fn a_restore_ignores_what_an_earlier_owner_wrote_after_losing_the_partition() {
    let mut cfg = settings();
    cfg.flags.falling_windows = 1;
    let tp = msg(0, 0).tp;
    let now = 1_800_000_000_000;
    let week = |w: i64, score: f64, id: &str| {
        let mut e = ev(id, "p1", "2026-03-02 09:00", Scored, "quiz");
        e.event_time += w * 7 * 24 * HOUR;
        e.score_scaled = Some(score);
        e
    };
    let mut a: Engine = engine(&cfg);
    let mut log = vec![a.assign(&tp, now).record];
    a.admit(&week(0, 0.8, "w0"), Some(&msg(0, 0)), 0);
    a.admit(&week(2, 0.5, "w2"), Some(&msg(0, 1)), 0);
    log.extend(a.finalise_due(0).unwrap().checkpoint);
    // B takes over; then A finalises a week it no longer owns.
    let mut b: Engine = engine(&cfg);
    for (k, v) in log_of(&log) {
        b.restore(&tp, &k, Some(&v));
    }
    log.push(b.assign(&tp, now).record);
    a.admit(&week(4, 0.1, "w4"), Some(&msg(0, 2)), 0);
    let stale = a.finalise_due(0).unwrap().checkpoint;
    assert!(!stale.is_empty());
    log.extend(stale);
    // C restores the whole log: A's late records are ignored.
    let mut c: Engine = engine(&cfg);
    for (k, v) in log_of(&log) {
        c.restore(&tp, &k, Some(&v));
    }
    let assigned = c.assign(&tp, now);
    assert!(assigned.stale > 0, "{assigned:?}");
    // Week 2 is still open for C: its replayed event counts, and its
    // growth is against week 0, not against A's week 2.
    c.admit(&week(2, 0.5, "w2"), Some(&msg(0, 1)), 0);
    let rows = c.finalise_all(now).unwrap().rows;
    let w2 = row(
        &rows,
        "learner_weekly",
        "p1",
        day("2026-03-02") + 14 * 24 * HOUR,
    );
    close(value(w2, "growth_mean_score"), 0.5 - 0.8);
}
