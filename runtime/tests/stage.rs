//! The stage runner over the in-memory transport: an operator that splits
//! its output into parts ([`Output::resume_later`]) is resumed before any
//! new input, its parts reach the topic in order, what it holds is
//! acknowledged only by the part that releases it, and that part's
//! after-durable record follows every earlier part; and the input time
//! operators measure idleness in stops while they work.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lap_runtime::health::Health;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{Operator, Output, RunOptions, StageError, run};
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{Message, MessageId, OutRecord, RecordSink, TopicPartition};
use tokio_util::sync::CancellationToken;

/// Emits each input message in three parts: one with the batch, two more
/// when resumed; the last releases the message and writes a checkpoint.
#[derive(Default)]
struct ThreeParts {
    calls: Vec<String>,
    held: Vec<MessageId>,
    part: usize,
}

fn record(topic: &str, text: String) -> OutRecord {
    OutRecord::new(Arc::from(topic), None, Bytes::from(text))
}

impl Operator for ThreeParts {
    fn name(&self) -> &'static str {
        "three-parts"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        for m in batch {
            self.calls.push(format!("batch {}", m.offset));
            out.hold(m.id());
            self.held.push(m.id());
            out.emit(record("out", format!("{}.0", m.offset)));
        }
        self.part = 1;
        out.resume_later();
        Ok(())
    }

    fn resume(&mut self, out: &mut Output) -> Result<(), StageError> {
        let offset = self.held.last().expect("a message is held").offset;
        self.calls.push(format!("resume {offset}.{}", self.part));
        out.emit(record("out", format!("{offset}.{}", self.part)));
        if self.part == 2 {
            out.release(std::mem::take(&mut self.held));
            out.emit_after_durable(record("state", format!("{offset} done")));
        } else {
            self.part += 1;
            out.resume_later();
        }
        Ok(())
    }
}

fn texts(broker: &MemoryBroker, topic: &str) -> Vec<String> {
    broker
        .read_all(topic)
        .iter()
        .map(|m| String::from_utf8(m.payload.as_deref().unwrap().to_vec()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_one_output_run_before_new_input_and_acknowledge_at_the_end() {
    let broker = MemoryBroker::new(1);
    for t in ["in", "out", "state"] {
        broker.create_topic(t, 1);
    }
    for i in 0..3 {
        let r = OutRecord::new(Arc::from("in"), None, Bytes::from(format!("m{i}")));
        broker.sink().send(r).await.unwrap().await.unwrap();
    }
    broker.seal("in");
    let source = broker.subscribe("g", &["in"], 1);
    let (op, report) = run(
        source,
        broker.sink(),
        ThreeParts::default(),
        RunOptions::default(),
        Metrics::new("stage-test"),
        Health::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    let expected_calls: Vec<String> = (0..3)
        .flat_map(|i| {
            [
                format!("batch {i}"),
                format!("resume {i}.1"),
                format!("resume {i}.2"),
            ]
        })
        .collect();
    assert_eq!(op.calls, expected_calls, "no input between the parts");
    let expected_out: Vec<String> = (0..3)
        .flat_map(|i| (0..3).map(move |p| format!("{i}.{p}")))
        .collect();
    assert_eq!(texts(&broker, "out"), expected_out);
    assert_eq!(texts(&broker, "state"), ["0 done", "1 done", "2 done"]);
    assert!(report.end_of_input);
    assert_eq!(report.close.unacknowledged, 0);
    let tp = TopicPartition {
        topic: Arc::from("in"),
        partition: 0,
    };
    assert_eq!(broker.committed("g", &tp), Some(3));
}

/// Works `busy` on every batch and notes the input time each call saw.
struct Busy {
    busy: Duration,
    seen: Vec<Duration>,
}

impl Operator for Busy {
    fn name(&self) -> &'static str {
        "busy"
    }

    fn process_batch(&mut self, _: &[Message], out: &mut Output) -> Result<(), StageError> {
        self.seen.push(out.input_time());
        std::thread::sleep(self.busy);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_time_stops_while_the_operator_works_and_runs_while_it_waits() {
    let broker = MemoryBroker::new(1);
    broker.create_topic("in", 1);
    let send = |i: usize| {
        let sink = broker.sink();
        async move {
            let r = OutRecord::new(Arc::from("in"), None, Bytes::from(format!("m{i}")));
            sink.send(r).await.unwrap().await.unwrap();
        }
    };
    for i in 0..3 {
        send(i).await;
    }
    let source = broker.subscribe("g", &["in"], 1);
    let busy = Duration::from_millis(400);
    let stage = tokio::spawn(run(
        source,
        broker.sink(),
        Busy {
            busy,
            seen: Vec::new(),
        },
        RunOptions::default(),
        Metrics::new("stage-test"),
        Health::default(),
        CancellationToken::new(),
    ));
    // Three waiting messages take 1.2 s of work; then 2 s with nothing to read.
    tokio::time::sleep(busy * 3 + Duration::from_secs(2)).await;
    send(3).await;
    broker.seal("in");
    let (op, _) = stage.await.unwrap().unwrap();

    let steps: Vec<Duration> = op.seen.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(steps.len(), 3, "{:?}", op.seen);
    // Each of the first three was waiting while the one before was worked
    // on: wall-clock time passed (400 ms each), input time hardly did.
    for step in &steps[..2] {
        assert!(
            *step < busy,
            "input time ran while the operator worked: {steps:?}"
        );
    }
    // The last one came after 2 s of waiting for input, which counts.
    assert!(steps[2] >= Duration::from_millis(1_500), "{steps:?}");
}

/// Counts the messages of each partition it owns, holding every one (as a
/// window operator holds the events of open windows), and keeps the counts
/// in its changelog; logs what happens to it for the test to check.
struct Counter {
    name: &'static str,
    counts: std::collections::BTreeMap<i32, u64>,
    log: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Operator for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        for m in batch {
            let n = self.counts.get_mut(&m.partition).expect("assigned first");
            *n += 1;
            out.hold(m.id());
            out.emit(record("state", n.to_string()).to_partition(m.partition));
        }
        Ok(())
    }

    fn changelog(&self) -> Option<Arc<str>> {
        Some(Arc::from("state"))
    }

    fn restore(&mut self, tp: &TopicPartition, record: &Message) -> Result<(), StageError> {
        let n: u64 = std::str::from_utf8(record.payload.as_deref().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        self.counts.insert(tp.partition, n);
        Ok(())
    }

    fn on_assign(&mut self, parts: &[TopicPartition], _out: &mut Output) -> Result<(), StageError> {
        for tp in parts {
            let n = *self.counts.entry(tp.partition).or_default();
            self.log
                .lock()
                .push(format!("{} assigned {} at {n}", self.name, tp.partition));
        }
        Ok(())
    }

    fn on_revoke(&mut self, parts: &[TopicPartition]) {
        for tp in parts {
            self.counts.remove(&tp.partition);
            self.log
                .lock()
                .push(format!("{} revoked {}", self.name, tp.partition));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_with_its_state_and_its_held_messages_are_read_again() {
    let broker = MemoryBroker::new(2);
    for t in ["in", "state"] {
        broker.create_topic(t, 2);
    }
    for i in 0..10 {
        let r = OutRecord::new(Arc::from("in"), None, Bytes::from(format!("m{i}")));
        broker
            .sink()
            .send(r.to_partition(i % 2))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let start = |name: &'static str, stop: CancellationToken| {
        let op = Counter {
            name,
            counts: Default::default(),
            log: log.clone(),
        };
        let source = broker.subscribe("g", &["in"], 3);
        let sink = broker.sink();
        tokio::spawn(async move {
            run(
                source,
                sink,
                op,
                RunOptions::default(),
                Metrics::new(name),
                Health::default(),
                stop,
            )
            .await
        })
    };
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = start("a", stop_a.clone());
    let settled = |want: usize| {
        let log = log.clone();
        async move {
            for _ in 0..200 {
                if log.lock().len() >= want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("log stuck at {:?}", log.lock());
        }
    };
    settled(2).await;
    // Let a read everything before b joins.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = start("b", stop_b.clone());
    settled(4).await;
    let events = log.lock().clone();
    assert_eq!(events[..2], ["a assigned 0 at 0", "a assigned 1 at 0"]);
    // a lets partition 1 go first; b starts it from a's changelog (5
    // messages counted), then reads the 5 held messages again.
    assert_eq!(events[2..4], ["a revoked 1", "b assigned 1 at 5"]);
    for _ in 0..200 {
        let state = broker.read_all("state");
        if state.iter().filter(|m| m.partition == 1).count() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last: Vec<String> = broker
        .read_all("state")
        .iter()
        .filter(|m| m.partition == 1)
        .map(|m| String::from_utf8(m.payload.as_deref().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(last.last().map(String::as_str), Some("10"), "{last:?}");
    assert_eq!(
        broker.committed(
            "g",
            &TopicPartition {
                topic: Arc::from("in"),
                partition: 1
            }
        ),
        Some(0),
        "held messages are never committed"
    );
    stop_a.cancel();
    stop_b.cancel();
    for stage in [a, b] {
        let (_, report) = stage.await.unwrap().unwrap();
        assert_eq!(
            report.close.unacknowledged, 0,
            "held messages abandoned at stop"
        );
    }
}
