//! One contract, two adapters: the Kafka adapter against a real broker
//! process and the in-memory adapter must both deliver everything, redeliver
//! whatever was not acknowledged, never commit past an unacknowledged
//! message, and lose nothing when a second consumer joins the group.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lap_runtime::config::KafkaConfig;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::{KafkaSink, KafkaSource};
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{Message, OutRecord, Rebalance, RecordSink, Source};
use parking_lot::Mutex;

const PARTITIONS: i32 = 4;
const DEADLINE: Duration = Duration::from_secs(90);

/// What the contract needs from an adapter.
trait Harness: Send + Sync + 'static {
    type Src: Source + 'static;
    type Snk: RecordSink;
    async fn topic(&self) -> String;
    fn sink(&self) -> Self::Snk;
    fn source(&self, group: &str, topic: &str) -> Self::Src;
    async fn committed(&self, group: &str, topic: &str) -> Vec<Option<i64>>;
}

struct Memory(MemoryBroker);

impl Harness for Memory {
    type Src = lap_runtime::transport::memory::MemorySource;
    type Snk = lap_runtime::transport::memory::MemorySink;
    async fn topic(&self) -> String {
        let name = testkit::unique("contract");
        self.0.create_topic(&name, PARTITIONS);
        name
    }
    fn sink(&self) -> Self::Snk {
        self.0.sink()
    }
    fn source(&self, group: &str, topic: &str) -> Self::Src {
        self.0.subscribe(group, &[topic], 50)
    }
    async fn committed(&self, group: &str, topic: &str) -> Vec<Option<i64>> {
        (0..PARTITIONS)
            .map(|p| {
                let tp = lap_runtime::transport::TopicPartition {
                    topic: Arc::from(topic),
                    partition: p,
                };
                self.0.committed(group, &tp)
            })
            .collect()
    }
}

struct Kafka(KafkaConfig);

impl Kafka {
    fn from_env(var: &str) -> Option<Self> {
        let mut cfg = testkit::kafka_config(&testkit::service(var)?);
        cfg.consumer.batch_max = 50;
        Some(Kafka(cfg))
    }
}

impl Harness for Kafka {
    type Src = KafkaSource;
    type Snk = KafkaSink;
    async fn topic(&self) -> String {
        let name = testkit::unique("contract");
        testkit::create_topic(&self.0, &name, PARTITIONS).await;
        name
    }
    fn sink(&self) -> Self::Snk {
        KafkaSink::new(&self.0, "contract").expect("producer")
    }
    fn source(&self, group: &str, topic: &str) -> Self::Src {
        KafkaSource::subscribe(
            &self.0,
            group,
            &[topic],
            Health::default(),
            Metrics::new("contract"),
        )
        .expect("consumer")
    }
    async fn committed(&self, group: &str, topic: &str) -> Vec<Option<i64>> {
        testkit::committed(&self.0.bootstrap_servers, group, topic, PARTITIONS).await
    }
}

/// Produces `n` keyed records `evt-<i>` and returns, per partition, the
/// payloads in offset order.
async fn produce<H: Harness>(
    h: &H,
    topic: &str,
    range: std::ops::Range<usize>,
) -> BTreeMap<i32, Vec<(i64, String)>> {
    let sink = h.sink();
    let topic: Arc<str> = Arc::from(topic);
    let mut pending = Vec::new();
    for i in range.clone() {
        let mut rec = OutRecord::new(
            topic.clone(),
            Some(Bytes::from(format!("key-{}", i % 37))),
            Bytes::from(format!("evt-{i}")),
        );
        if i.is_multiple_of(5) {
            rec.headers = vec![("n".into(), Bytes::from(i.to_string()))];
        }
        pending.push((i, sink.send(rec).await.expect("enqueue")));
    }
    let mut by_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for (i, p) in pending {
        let d = p.await.expect("delivered");
        by_partition
            .entry(d.partition)
            .or_default()
            .push((d.offset, format!("evt-{i}")));
    }
    for v in by_partition.values_mut() {
        v.sort();
    }
    assert!(
        range.len() < 37 || by_partition.len() > 1,
        "keys spread over several partitions"
    );
    by_partition
}

fn payload(m: &Message) -> String {
    String::from_utf8(m.payload.as_ref().unwrap().to_vec()).unwrap()
}

/// Reads batches until `on_batch` reports done or the deadline passes;
/// `on_batch` returns the messages to acknowledge and whether it is done.
async fn consume_until<S: Source>(
    src: &mut S,
    mut on_batch: impl FnMut(&[Message]) -> (Vec<Message>, bool),
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let next = tokio::time::timeout_at(deadline, src.next_batch())
            .await
            .expect("timed out waiting for messages")
            .expect("source error")
            .expect("source ended early");
        let (to_ack, done) = on_batch(&next.messages);
        next.acker().ack(to_ack.iter().map(Message::id));
        if done {
            return;
        }
    }
}

async fn all_delivered<H: Harness>(h: H) {
    let topic = h.topic().await;
    let produced = produce(&h, &topic, 0..400).await;
    let expected: BTreeSet<String> = produced
        .values()
        .flatten()
        .map(|(_, p)| p.clone())
        .collect();
    let group = testkit::unique("g");
    let mut src = h.source(&group, &topic);
    let mut seen = BTreeSet::new();
    consume_until(&mut src, |batch| {
        for m in batch {
            // Every fifth record carries a header, the others none.
            let i: usize = payload(m)["evt-".len()..].parse().expect("index");
            let expected = i.is_multiple_of(5).then(|| i.to_string());
            let header = m
                .header("n")
                .map(|h| String::from_utf8_lossy(h).into_owned());
            assert_eq!(header, expected, "headers of evt-{i}");
        }
        seen.extend(batch.iter().map(payload));
        (batch.to_vec(), seen.len() >= expected.len())
    })
    .await;
    src.close(Duration::from_secs(10)).await.expect("close");
    assert_eq!(seen, expected);
    let committed = h.committed(&group, &topic).await;
    for (p, records) in &produced {
        let end = records.last().unwrap().0 + 1;
        assert_eq!(
            committed[*p as usize],
            Some(end),
            "partition {p} committed to its end"
        );
    }
}

async fn unacknowledged_are_redelivered<H: Harness>(h: H) {
    let topic = h.topic().await;
    let produced = produce(&h, &topic, 0..300).await;
    let total = produced.values().map(Vec::len).sum::<usize>();
    let group = testkit::unique("g");
    let mut first = h.source(&group, &topic);
    let mut seen = 0;
    let mut unacked = BTreeSet::new();
    consume_until(&mut first, |batch| {
        seen += batch.len();
        // Acknowledge roughly two thirds; the rest is "lost in a crash".
        let (ack, skip): (Vec<Message>, Vec<Message>) =
            batch.iter().cloned().partition(|m| m.offset % 3 != 1);
        unacked.extend(skip.iter().map(payload));
        (ack, seen >= total)
    })
    .await;
    first
        .close(Duration::from_millis(200))
        .await
        .expect("close");
    assert!(!unacked.is_empty());

    let mut second = h.source(&group, &topic);
    let mut redelivered = BTreeSet::new();
    consume_until(&mut second, |batch| {
        redelivered.extend(batch.iter().map(payload));
        (batch.to_vec(), unacked.is_subset(&redelivered))
    })
    .await;
    second.close(Duration::from_secs(10)).await.expect("close");
    let missing: Vec<_> = unacked.difference(&redelivered).collect();
    assert!(missing.is_empty(), "not redelivered: {missing:?}");
}

async fn commit_never_passes_unacknowledged<H: Harness>(h: H) {
    let topic = h.topic().await;
    let produced = produce(&h, &topic, 0..200).await;
    let total = produced.values().map(Vec::len).sum::<usize>();
    // Hold back the 5th message of every partition; acknowledge all others.
    let held: BTreeMap<i32, i64> = produced
        .iter()
        .filter(|(_, v)| v.len() > 5)
        .map(|(p, v)| (*p, v[4].0))
        .collect();
    let group = testkit::unique("g");
    let mut src = h.source(&group, &topic);
    let mut seen = 0;
    consume_until(&mut src, |batch| {
        seen += batch.len();
        let ack = batch
            .iter()
            .filter(|m| held.get(&m.partition) != Some(&m.offset))
            .cloned()
            .collect();
        (ack, seen >= total)
    })
    .await;
    src.close(Duration::from_millis(200)).await.expect("close");
    let committed = h.committed(&group, &topic).await;
    for (p, offset) in &held {
        assert_eq!(
            committed[*p as usize],
            Some(*offset),
            "partition {p}: commit stops exactly at the unacknowledged message"
        );
    }
}

async fn rebalance_loses_nothing<H: Harness>(h: H) {
    let h = Arc::new(h);
    let topic = h.topic().await;
    let mut expected: BTreeSet<String> = produce(&*h, &topic, 0..300)
        .await
        .values()
        .flatten()
        .map(|(_, p)| p.clone())
        .collect();
    let group = testkit::unique("g");
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let per_member: Arc<Mutex<[usize; 2]>> = Arc::default();
    // Set once production has finished: the number of distinct records.
    let target: Arc<Mutex<Option<usize>>> = Arc::default();

    let spawn_member = |idx: usize| {
        let (h, topic, group, seen, per_member, target) = (
            h.clone(),
            topic.clone(),
            group.clone(),
            seen.clone(),
            per_member.clone(),
            target.clone(),
        );
        tokio::spawn(async move {
            let mut src = h.source(&group, &topic);
            let deadline = tokio::time::Instant::now() + DEADLINE;
            let finished = || target.lock().is_some_and(|t| seen.lock().len() >= t);
            while !finished() && tokio::time::Instant::now() < deadline {
                let next = tokio::time::timeout(Duration::from_millis(500), src.next_batch()).await;
                if let Ok(batch) = next {
                    let batch = batch.expect("source error").expect("source ended");
                    // Slow consumers keep messages in flight across the rebalance.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.lock().extend(batch.messages.iter().map(payload));
                    per_member.lock()[idx] += batch.messages.len();
                    batch.acker().ack(batch.messages.iter().map(Message::id));
                }
            }
            src.close(Duration::from_secs(10)).await.expect("close");
        })
    };
    let wait_for = |idx: usize| {
        let per_member = per_member.clone();
        async move {
            while per_member.lock()[idx] == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let a = spawn_member(0);
    tokio::time::timeout(DEADLINE, wait_for(0))
        .await
        .expect("first member never received anything");
    // Join a second member and keep producing until it has taken over partitions.
    let b = spawn_member(1);
    let mut next = 300;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while per_member.lock()[1] == 0 && tokio::time::Instant::now() < deadline {
        let chunk = produce(&*h, &topic, next..next + 40).await;
        expected.extend(chunk.values().flatten().map(|(_, p)| p.clone()));
        next += 40;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    *target.lock() = Some(expected.len());
    a.await.unwrap();
    b.await.unwrap();
    let seen = seen.lock().clone();
    let missing: Vec<_> = expected.difference(&seen).take(10).collect();
    assert!(missing.is_empty(), "lost across the rebalance: {missing:?}");
    let counts = *per_member.lock();
    assert!(counts[1] > 0, "second member got partitions ({counts:?})");
}

macro_rules! contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn all_messages_delivered_with_their_headers_and_committed() {
                if let Some(h) = $make {
                    all_delivered(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unacknowledged_messages_are_redelivered_after_restart() {
                if let Some(h) = $make {
                    unacknowledged_are_redelivered(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_offset_never_passes_an_unacknowledged_message() {
                if let Some(h) = $make {
                    commit_never_passes_unacknowledged(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rebalance_between_two_consumers_loses_nothing() {
                if let Some(h) = $make {
                    rebalance_loses_nothing(h).await;
                }
            }
        }
    };
}

contract!(memory, Some(Memory(MemoryBroker::new(PARTITIONS))));
contract!(kafka, Kafka::from_env(testkit::KAFKA_ENV));
contract!(kafka_tansu, Kafka::from_env(testkit::KAFKA_TANSU_ENV));

/// Reads `source` until it ends and returns the partitions it held then
/// (assigned and not revoked since): the ones its stage finishes.
async fn held_at_end<S: Source>(source: &mut S) -> BTreeSet<i32> {
    let mut held = BTreeSet::new();
    while let Some(batch) = tokio::time::timeout(DEADLINE, source.next_batch())
        .await
        .expect("the source ends")
        .unwrap()
    {
        match batch.rebalance {
            Some(Rebalance::Assigned(tps)) => held.extend(tps.iter().map(|tp| tp.partition)),
            Some(Rebalance::Revoked { partitions, .. }) => {
                for tp in partitions {
                    held.remove(&tp.partition);
                }
            }
            None => {}
        }
    }
    held
}

/// A sealed topic read by a group whose members end one after another:
/// every partition must end up with a member that is still reading, reads
/// it to the end and then ends holding it, as that member's stage is what
/// finishes the partition's windows. A partition dealt to a member that
/// has already stopped reading would be finished by no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_every_partition_ends_with_a_member_that_read_it_to_the_end() {
    let broker = MemoryBroker::new(3);
    broker.create_topic("sealed", 3);
    for p in 0..3 {
        let record = OutRecord::new(Arc::from("sealed"), None, Bytes::from("x")).to_partition(p);
        broker.sink().send(record).await.unwrap().await.unwrap();
    }
    broker.seal("sealed");
    let mut a = broker.subscribe("g", &["sealed"], 10);
    let mut b = broker.subscribe("g", &["sealed"], 10);
    let mut c = broker.subscribe("g", &["sealed"], 10);
    // `a` reads its partition to the end first and keeps it while its
    // stage finishes; `b` ends and leaves; `c` follows.
    let held_a = held_at_end(&mut a).await;
    let b_done = tokio::spawn(async move {
        let held = held_at_end(&mut b).await;
        b.close(Duration::ZERO).await.unwrap();
        held
    });
    let c_done = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let held = held_at_end(&mut c).await;
        c.close(Duration::ZERO).await.unwrap();
        held
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.close(Duration::ZERO).await.unwrap();
    let (held_b, held_c) = (b_done.await.unwrap(), c_done.await.unwrap());
    let finished: BTreeSet<i32> = held_a
        .iter()
        .chain(&held_b)
        .chain(&held_c)
        .copied()
        .collect();
    assert_eq!(
        finished,
        BTreeSet::from([0, 1, 2]),
        "partitions held at their end by a: {held_a:?}, b: {held_b:?}, c: {held_c:?}"
    );
}

/// A member whose stage falls behind its channel by more than the drain
/// timeout while a partition moves to another member: the assignment
/// notice and the messages of that partition still waiting in its channel
/// must not be handed out any more, or the member would take on, and emit
/// for, a partition its new owner already took on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_tansu_a_late_reader_is_not_handed_what_it_lost() {
    let Some(mut h) = Kafka::from_env(testkit::KAFKA_TANSU_ENV) else {
        return;
    };
    h.0.consumer.drain_timeout_ms = 500;
    let topic = h.topic().await;
    produce(&h, &topic, 0..8).await;
    let group = testkit::unique("late");
    // `a` joins, is assigned every partition and fetches, but reads none
    // of it yet: the notice and the messages wait in its channel.
    let mut a = h.source(&group, &topic);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut b = h.source(&group, &topic);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let taken: BTreeSet<i32> = loop {
        let batch = tokio::time::timeout_at(deadline, b.next_batch())
            .await
            .expect("the second member never got a partition")
            .unwrap()
            .unwrap();
        if let Some(Rebalance::Assigned(tps)) = &batch.rebalance
            && !tps.is_empty()
        {
            break tps.iter().map(|tp| tp.partition).collect();
        }
    };
    // Now `a` reads what waited: nothing of the partitions `b` took.
    let mut handed = BTreeSet::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(3), a.next_batch()).await {
        let batch = next.unwrap().unwrap();
        if let Some(Rebalance::Assigned(tps)) = &batch.rebalance {
            handed.extend(tps.iter().map(|tp| tp.partition));
        }
        handed.extend(batch.messages.iter().map(|m| m.partition));
        batch.acker().ack(batch.messages.iter().map(Message::id));
    }
    assert!(
        handed.is_disjoint(&taken),
        "`a` was handed {handed:?} after `b` took {taken:?}"
    );
    a.close(Duration::from_secs(5)).await.unwrap();
    b.close(Duration::from_secs(5)).await.unwrap();
}
