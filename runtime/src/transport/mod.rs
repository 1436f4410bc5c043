//! Moving records between stages.
//!
//! A stage reads [`Batch`]es from a [`Source`] and writes [`OutRecord`]s to a
//! [`RecordSink`]. Two adapters implement the pair: [`kafka`] for the
//! distributed deployment and [`memory`] for `lap run`, where all four stages
//! share one process. Stage code is generic over the traits, so it cannot tell
//! which adapter it runs on.
//!
//! Delivery is at-least-once. A source hands out messages and tracks which of
//! them are still unacknowledged; it only ever commits an offset below the
//! first unacknowledged message of a partition, so a crash replays everything
//! whose effects were not yet durable downstream. Stages acknowledge a message
//! only after every record it produced has been confirmed by the sink.

pub mod kafka;
pub mod memory;
mod tracker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

pub use tracker::CommitPoint;
use tracker::OffsetTracker;

/// A topic name and partition number: the unit of ordering and of assignment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name as the broker knows it.
    pub topic: Arc<str>,
    /// Partition number within the topic.
    pub partition: i32,
}

/// Identifies one consumed message for acknowledgement; small enough for a
/// stage to keep many of them while it holds messages back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId {
    /// The partition the message was read from.
    pub tp: TopicPartition,
    /// Its offset.
    pub offset: i64,
}

/// One record read from a topic, with enough origin to dead-letter it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Topic the record was read from.
    pub topic: Arc<str>,
    /// Partition within that topic.
    pub partition: i32,
    /// Offset within the partition; acknowledgements refer to it.
    pub offset: i64,
    /// Record key, if the producer set one.
    pub key: Option<Bytes>,
    /// Record value; `None` is a tombstone on a compacted topic.
    pub payload: Option<Bytes>,
    /// Broker or producer timestamp in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Record headers in their original order.
    pub headers: Vec<(String, Bytes)>,
}

impl Message {
    /// The partition this message belongs to.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }

    /// The id used to acknowledge this message.
    pub fn id(&self) -> MessageId {
        MessageId {
            tp: self.topic_partition(),
            offset: self.offset,
        }
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A record to be written to a topic.
#[derive(Clone, Debug, PartialEq)]
pub struct OutRecord {
    /// Destination topic name.
    pub topic: Arc<str>,
    /// Partitioning key; records with the same key keep their order.
    pub key: Option<Bytes>,
    /// Value; `None` writes a tombstone (used for erasure on compacted topics).
    pub payload: Option<Bytes>,
    /// Headers to attach.
    pub headers: Vec<(String, Bytes)>,
    /// The partition to write to; `None` leaves it to the key (or spreads
    /// keyless records). A stage's changelog names it: a task's state goes
    /// to the partition numbered like the input partition it belongs to.
    pub partition: Option<i32>,
}

impl OutRecord {
    /// A keyed record with a value and no headers, the common case.
    pub fn new(topic: Arc<str>, key: Option<Bytes>, payload: Bytes) -> Self {
        OutRecord {
            topic,
            key,
            payload: Some(payload),
            headers: Vec::new(),
            partition: None,
        }
    }

    /// The same record, written to partition `partition` whatever its key.
    pub fn to_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// Errors of the transport layer. Each says what failed and, where it can,
/// what the operator should check.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The Kafka client could not be created or refused a setting.
    #[error("kafka client setup failed: {0} (check the [kafka] section of the config)")]
    Setup(String),
    /// A produce was rejected or not acknowledged by all in-sync replicas.
    #[error("delivery to topic {topic} failed: {reason}")]
    Delivery {
        /// Topic the record was meant for.
        topic: String,
        /// Broker or client reason.
        reason: String,
    },
    /// Committing consumer offsets failed; the records will be replayed.
    #[error("offset commit failed: {0}")]
    Commit(String),
    /// An administrative request (topic creation, metadata) failed.
    #[error(
        "kafka admin request failed: {0} (is the broker at kafka.bootstrap_servers reachable?)"
    )]
    Admin(String),
    /// The in-memory transport was used after it was closed, or a topic is unknown.
    #[error("in-memory transport: {0}")]
    Memory(String),
    /// The background poll thread died.
    #[error("consumer thread failed: {0}")]
    Thread(String),
}

/// A batch of messages from a [`Source`] and the handle that acknowledges them.
#[derive(Debug)]
pub struct Batch {
    /// The messages, in partition order (messages of one partition keep their order).
    pub messages: Vec<Message>,
    /// A change of the partitions this member reads, which takes effect
    /// before `messages` (a batch carrying one has no messages). Stages
    /// whose state belongs to partitions restore it on assignment and drop
    /// it on revocation; stateless ones ignore it.
    pub rebalance: Option<Rebalance>,
    acker: Acker,
}

/// Partitions moving to or from this member of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebalance {
    /// The member now reads these partitions, from their committed offsets.
    Assigned(Vec<TopicPartition>),
    /// The member no longer reads these partitions. When not `lost`, the
    /// source waits (up to `kafka.consumer.drain_timeout_ms`) until every
    /// handed-out message of them is acknowledged or
    /// [abandoned](Acker::abandon_partitions), commits, and only then lets
    /// the partitions go to their new owner. `lost` means the group already
    /// gave them away (this member missed its session timeout): nothing is
    /// committed, and whatever the member still emits for them is stale.
    Revoked {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// Taken away without this member's cooperation.
        lost: bool,
    },
}

impl Batch {
    /// The acknowledger for this batch; it can be cloned and moved to wherever
    /// the downstream confirmation arrives.
    pub fn acker(&self) -> Acker {
        self.acker.clone()
    }
}

/// Acknowledges messages back to the [`Source`] they came from.
///
/// Acknowledging says "everything this message caused is durable downstream";
/// only then may its offset be committed.
#[derive(Clone, Debug)]
pub struct Acker {
    tracker: Arc<OffsetTracker>,
}

impl Acker {
    /// Acknowledges the given messages; others in the same batch stay pending.
    pub fn ack(&self, ids: impl IntoIterator<Item = MessageId>) {
        self.tracker.ack(ids);
    }

    /// Gives up every message of `partitions` still unacknowledged (a stage
    /// dropped the ones it held when the partitions were revoked): their
    /// offsets are not committed, so the new owner reads them again, and
    /// the revocation no longer waits for them.
    pub fn abandon_partitions(&self, partitions: &[TopicPartition]) {
        self.tracker.abandon_partitions(partitions);
    }

    /// [`Acker::abandon_partitions`] for every partition: a stopping stage
    /// gives up what it still holds.
    pub fn abandon_outstanding(&self) {
        self.tracker.abandon_partitions(&self.tracker.assigned());
    }
}

/// A source of message batches with acknowledgement.
pub trait Source: Send {
    /// The next batch. `Ok(None)` means the source has ended: it was stopped
    /// and everything fetched before the stop has been handed out, or (in
    /// memory) every subscribed topic is sealed and fully read.
    fn next_batch(&mut self) -> impl Future<Output = Result<Option<Batch>, TransportError>> + Send;

    /// The acknowledger for every message this source hands out, including
    /// messages a stage held back from earlier batches.
    fn acker(&self) -> Acker;

    /// Stops fetching. Batches already fetched are still returned by
    /// [`Source::next_batch`], which then returns `None`. Idempotent.
    fn stop(&self);

    /// Reads partition `partition` of `topic` from its start up to its end
    /// at the time of the call, handing each record to `record` in offset
    /// order; returns how many it read. Blocks the calling thread. For
    /// restoring the state of a newly assigned input partition from its
    /// changelog.
    fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        record: &mut dyn FnMut(Message),
    ) -> Result<u64, TransportError>;

    /// Waits up to `grace` for outstanding messages to be acknowledged,
    /// commits the offsets of everything acknowledged, and leaves the group.
    fn close(
        self,
        grace: Duration,
    ) -> impl Future<Output = Result<CloseReport, TransportError>> + Send;
}

/// What a source did when it closed: the basis for the shutdown log line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloseReport {
    /// Offsets committed at close, per partition (next offset to read).
    pub committed: Vec<CommitPoint>,
    /// Messages handed out but never acknowledged; they will be read again.
    pub unacknowledged: usize,
}

/// A sink that writes records and reports when each is durable.
pub trait RecordSink: Clone + Send + Sync + 'static {
    /// Enqueues a record, waiting while the producer's queue is full. Records
    /// enqueued in order keep that order within a partition. The returned
    /// [`Pending`] resolves when the record is durable.
    fn send(
        &self,
        record: OutRecord,
    ) -> impl Future<Output = Result<Pending, TransportError>> + Send;

    /// Waits until every enqueued record is delivered or `timeout` passes.
    fn flush(&self, timeout: Duration) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// Where a record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Partition the record landed in.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
}

/// A delivery in flight; resolves to where the record landed once it is durable.
#[must_use = "a record is only durable once its Pending resolves"]
pub struct Pending(PendingInner);

enum PendingInner {
    Ready(Option<Result<Delivered, TransportError>>),
    Kafka {
        topic: Arc<str>,
        future: rdkafka::producer::DeliveryFuture,
    },
}

impl Pending {
    fn ready(delivered: Delivered) -> Self {
        Pending(PendingInner::Ready(Some(Ok(delivered))))
    }
}

impl Future for Pending {
    type Output = Result<Delivered, TransportError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            PendingInner::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(TransportError::Memory(
                    "delivery polled after completion".into(),
                ))
            })),
            PendingInner::Kafka { topic, future } => match Pin::new(future).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(Ok(d))) => Poll::Ready(Ok(Delivered {
                    partition: d.partition,
                    offset: d.offset,
                })),
                Poll::Ready(Ok(Err((err, _)))) => Poll::Ready(Err(TransportError::Delivery {
                    topic: topic.to_string(),
                    reason: err.to_string(),
                })),
                Poll::Ready(Err(_)) => Poll::Ready(Err(TransportError::Delivery {
                    topic: topic.to_string(),
                    reason: "producer was dropped before delivery".into(),
                })),
            },
        }
    }
}

/// Kafka's default partitioner (murmur2 of the key, positive, modulo the
/// partition count). The in-memory adapter uses it too, so a key lands in the
/// same partition number in both modes and per-partition behaviour matches.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions.max(1)
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_reference_values() {
        // Values from the Java client's partitioner test (Utils.murmur2).
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        for n in 1..10 {
            let p = partition_for_key(b"learner-42", n);
            assert!((0..n).contains(&p));
            assert_eq!(p, partition_for_key(b"learner-42", n));
        }
    }
}
