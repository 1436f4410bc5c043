//! The in-memory adapter, for `lap run`: all stages in one process.
//!
//! [`MemoryBroker`] keeps each topic as partitioned, append-only logs and each
//! consumer group's committed offsets, so the embedded pipeline has the same
//! delivery semantics as Kafka: keyed partitioning, consumer groups that split
//! partitions, at-least-once redelivery from committed offsets. A topic can be
//! *sealed* when its producers are done; a source whose topics are all sealed
//! and fully read ends, which is how a file-driven run finishes. It then
//! stops counting when its group deals partitions out, so members still
//! reading take its partitions over once it has left.
//!
//! Rebalances follow Kafka's cooperative protocol: a member hands a
//! [`Rebalance`] notice to its stage before it reads a newly assigned
//! partition, and a partition taken away is first revoked (a notice, then
//! the commit of what was acknowledged) and only then given to its new
//! owner, so two members never read a partition at once. Tests start,
//! stop and drop members to play any sequence of scale-ups, scale-downs
//! and crashes without a broker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::{
    Acker, Batch, CloseReport, Delivered, Message, OffsetTracker, OutRecord, Pending, Rebalance,
    RecordSink, Source, TopicPartition, TransportError, partition_for_key,
};

/// Shared in-process log store. Cheap to clone; clones share the same topics.
#[derive(Clone, Debug)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    round_robin: AtomicU64,
}

#[derive(Debug)]
struct State {
    default_partitions: i32,
    topics: HashMap<Arc<str>, TopicLog>,
    groups: HashMap<String, Group>,
    next_member: u64,
}

#[derive(Debug, Default)]
struct TopicLog {
    partitions: Vec<Vec<Stored>>,
    sealed: bool,
}

#[derive(Debug, Clone)]
struct Stored {
    key: Option<Bytes>,
    payload: Option<Bytes>,
    headers: Vec<(String, Bytes)>,
    timestamp_ms: i64,
}

#[derive(Debug, Default)]
struct Group {
    members: BTreeMap<u64, Vec<Arc<str>>>,
    committed: HashMap<TopicPartition, i64>,
    /// Which member reads each partition now: a partition is given to its
    /// next owner only once the last one has let it go.
    owners: HashMap<TopicPartition, u64>,
}

impl Group {
    /// Moves commit points forward (a member that has not yet noticed a
    /// revocation may report late, so offsets never move back).
    fn commit(&mut self, points: Vec<super::CommitPoint>) {
        for p in points {
            let c = self.committed.entry(p.tp).or_insert(p.offset);
            *c = (*c).max(p.offset);
        }
    }
}

impl State {
    fn topic_mut(&mut self, name: &Arc<str>) -> &mut TopicLog {
        let partitions = self.default_partitions;
        self.topics.entry(name.clone()).or_insert_with(|| TopicLog {
            partitions: vec![Vec::new(); partitions.max(1) as usize],
            sealed: false,
        })
    }

    /// Partitions of `member`: each topic's partitions dealt round-robin over
    /// the members subscribed to it, ordered by member id.
    fn assignment(&self, group: &str, member: u64) -> HashSet<TopicPartition> {
        let Some(g) = self.groups.get(group) else {
            return HashSet::new();
        };
        let Some(my_topics) = g.members.get(&member) else {
            return HashSet::new();
        };
        let mut out = HashSet::new();
        for topic in my_topics {
            let subscribers: Vec<u64> = g
                .members
                .iter()
                .filter(|(_, ts)| ts.contains(topic))
                .map(|(id, _)| *id)
                .collect();
            let Some(log) = self.topics.get(topic) else {
                continue;
            };
            for p in 0..log.partitions.len() {
                if subscribers[p % subscribers.len()] == member {
                    out.insert(TopicPartition {
                        topic: topic.clone(),
                        partition: p as i32,
                    });
                }
            }
        }
        out
    }
}

impl MemoryBroker {
    /// A broker whose auto-created topics get `default_partitions` partitions.
    pub fn new(default_partitions: i32) -> Self {
        let (changed, _) = watch::channel(0);
        MemoryBroker {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    default_partitions,
                    topics: HashMap::new(),
                    groups: HashMap::new(),
                    next_member: 0,
                }),
                changed,
                round_robin: AtomicU64::new(0),
            }),
        }
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Creates a topic with `partitions` partitions; returns false if it existed.
    pub fn create_topic(&self, name: &str, partitions: i32) -> bool {
        let mut st = self.inner.state.lock();
        if st.topics.contains_key(name) {
            return false;
        }
        st.topics.insert(
            Arc::from(name),
            TopicLog {
                partitions: vec![Vec::new(); partitions.max(1) as usize],
                sealed: false,
            },
        );
        drop(st);
        self.notify();
        true
    }

    /// Marks a topic as complete: consumers that have read all of it end.
    pub fn seal(&self, topic: &str) {
        let name: Arc<str> = Arc::from(topic);
        self.inner.state.lock().topic_mut(&name).sealed = true;
        self.notify();
    }

    /// Number of records in each partition of a topic (the log end offsets).
    pub fn end_offsets(&self, topic: &str) -> Vec<i64> {
        let st = self.inner.state.lock();
        st.topics
            .get(topic)
            .map(|t| t.partitions.iter().map(|p| p.len() as i64).collect())
            .unwrap_or_default()
    }

    /// Every record of a topic as a [`Message`], partition by partition.
    /// For inspecting outputs (tests, the embedded run's summary).
    pub fn read_all(&self, topic: &str) -> Vec<Message> {
        let st = self.inner.state.lock();
        let Some((name, log)) = st.topics.get_key_value(topic) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (p, records) in log.partitions.iter().enumerate() {
            for (offset, r) in records.iter().enumerate() {
                out.push(to_message(name, p as i32, offset as i64, r));
            }
        }
        out
    }

    /// The committed offset of a group on a partition, if any.
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<i64> {
        let st = self.inner.state.lock();
        st.groups.get(group)?.committed.get(tp).copied()
    }

    /// A sink appending to this broker's topics.
    pub fn sink(&self) -> MemorySink {
        MemorySink {
            broker: self.clone(),
        }
    }

    /// Joins consumer group `group` for `topics`; batches hold at most
    /// `batch_max` messages. Joining triggers a rebalance of the group.
    pub fn subscribe(&self, group: &str, topics: &[&str], batch_max: usize) -> MemorySource {
        let topics: Vec<Arc<str>> = topics.iter().map(|t| Arc::from(*t)).collect();
        let member = {
            let mut st = self.inner.state.lock();
            for t in &topics {
                st.topic_mut(t);
            }
            st.next_member += 1;
            let member = st.next_member;
            let g = st.groups.entry(group.to_string()).or_default();
            g.members.insert(member, topics.clone());
            member
        };
        self.notify();
        MemorySource {
            broker: self.clone(),
            group: group.to_string(),
            member,
            topics,
            batch_max: batch_max.max(1),
            tracker: Arc::new(OffsetTracker::default()),
            positions: HashMap::new(),
            revoking: Vec::new(),
            stopped: Arc::new(AtomicBool::new(false)),
            changes: self.inner.changed.subscribe(),
            finished: false,
            left: false,
        }
    }

    /// Records `0..end` of one partition, `end` being its length now.
    fn partition_records(&self, topic: &str, partition: i32) -> Vec<Message> {
        let st = self.inner.state.lock();
        let Some((name, log)) = st.topics.get_key_value(topic) else {
            return Vec::new();
        };
        let Some(records) = log.partitions.get(partition as usize) else {
            return Vec::new();
        };
        records
            .iter()
            .enumerate()
            .map(|(offset, r)| to_message(name, partition, offset as i64, r))
            .collect()
    }
}

fn to_message(topic: &Arc<str>, partition: i32, offset: i64, r: &Stored) -> Message {
    Message {
        topic: topic.clone(),
        partition,
        offset,
        key: r.key.clone(),
        payload: r.payload.clone(),
        timestamp_ms: Some(r.timestamp_ms),
        headers: r.headers.clone(),
    }
}

/// Appends records to a [`MemoryBroker`]; delivery is immediate.
#[derive(Clone, Debug)]
pub struct MemorySink {
    broker: MemoryBroker,
}

impl MemorySink {
    fn append(&self, record: OutRecord) -> Result<Delivered, TransportError> {
        let inner = &self.broker.inner;
        let mut st = inner.state.lock();
        let log = st.topic_mut(&record.topic);
        if log.sealed {
            return Err(TransportError::Memory(format!(
                "topic {} is sealed; nothing may be appended after its producers finished",
                record.topic
            )));
        }
        let n = log.partitions.len() as i32;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if (0..n).contains(&p) => p,
            (Some(p), _) => {
                return Err(TransportError::Memory(format!(
                    "topic {} has {n} partitions, a record was meant for partition {p}",
                    record.topic
                )));
            }
            (None, Some(k)) => partition_for_key(k, n),
            (None, None) => (inner.round_robin.fetch_add(1, Ordering::Relaxed) % n as u64) as i32,
        };
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let records = &mut log.partitions[partition as usize];
        records.push(Stored {
            key: record.key,
            payload: record.payload,
            headers: record.headers,
            timestamp_ms,
        });
        let offset = records.len() as i64 - 1;
        drop(st);
        self.broker.notify();
        Ok(Delivered { partition, offset })
    }
}

impl RecordSink for MemorySink {
    async fn send(&self, record: OutRecord) -> Result<Pending, TransportError> {
        Ok(Pending::ready(self.append(record)?))
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A consumer-group member reading from a [`MemoryBroker`].
#[derive(Debug)]
pub struct MemorySource {
    broker: MemoryBroker,
    group: String,
    member: u64,
    topics: Vec<Arc<str>>,
    batch_max: usize,
    tracker: Arc<OffsetTracker>,
    /// Partitions this member owns, with the next offset to read.
    positions: HashMap<TopicPartition, i64>,
    /// Partitions whose revocation was handed to the stage; let go on the
    /// next call, by which time the stage has dealt with it.
    revoking: Vec<TopicPartition>,
    stopped: Arc<AtomicBool>,
    changes: watch::Receiver<u64>,
    /// Read everything and stopped reading (see `finish_reading`).
    finished: bool,
    left: bool,
}

impl MemorySource {
    /// Writes moved commit points into the group.
    fn sync_commits(&self, st: &mut State) {
        let points = self.tracker.take_changed();
        if let Some(g) = st.groups.get_mut(&self.group) {
            g.commit(points);
        }
    }

    /// Lets the partitions whose revocation the stage has seen go: commits
    /// what was acknowledged and gives up ownership.
    fn release_revoked(&mut self, st: &mut State) {
        if self.revoking.is_empty() {
            return;
        }
        let revoked = std::mem::take(&mut self.revoking);
        let points = self.tracker.revoke(&revoked);
        if let Some(g) = st.groups.get_mut(&self.group) {
            g.commit(points);
            for tp in &revoked {
                if g.owners.get(tp) == Some(&self.member) {
                    g.owners.remove(tp);
                }
            }
        }
        for tp in &revoked {
            self.positions.remove(tp);
        }
        self.broker.notify();
    }

    /// The next rebalance notice, if the group's assignment moved: first
    /// revocations (the partitions are let go on the next call), then the
    /// partitions whose previous owner has let them go.
    fn rebalance(&mut self, st: &mut State) -> Option<Rebalance> {
        let target = st.assignment(&self.group, self.member);
        let mut revoked: Vec<TopicPartition> = self
            .positions
            .keys()
            .filter(|tp| !target.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            revoked.sort();
            self.revoking.clone_from(&revoked);
            return Some(Rebalance::Revoked {
                partitions: revoked,
                lost: false,
            });
        }
        let g = st.groups.get_mut(&self.group)?;
        let mut added: Vec<TopicPartition> = target
            .into_iter()
            .filter(|tp| !self.positions.contains_key(tp) && !g.owners.contains_key(tp))
            .collect();
        if added.is_empty() {
            return None;
        }
        added.sort();
        for tp in &added {
            g.owners.insert(tp.clone(), self.member);
            let start = g.committed.get(tp).copied().unwrap_or(0);
            self.positions.insert(tp.clone(), start);
        }
        self.tracker.assign(added.clone());
        Some(Rebalance::Assigned(added))
    }

    fn fetch(&mut self, st: &State) -> Vec<Message> {
        let mut out = Vec::new();
        let mut tps: Vec<&TopicPartition> = self.positions.keys().collect();
        tps.sort();
        let mut advanced = Vec::new();
        for tp in tps {
            let Some(log) = st.topics.get(&tp.topic) else {
                continue;
            };
            let records = &log.partitions[tp.partition as usize];
            let start = self.positions[tp] as usize;
            let take = (self.batch_max - out.len()).min(records.len().saturating_sub(start));
            for (i, r) in records[start..start + take].iter().enumerate() {
                out.push(to_message(&tp.topic, tp.partition, (start + i) as i64, r));
            }
            if take > 0 {
                advanced.push((tp.clone(), (start + take) as i64));
            }
            if out.len() >= self.batch_max {
                break;
            }
        }
        for (tp, pos) in advanced {
            self.positions.insert(tp, pos);
        }
        out
    }

    /// Every subscribed topic is sealed and this member owns and has read
    /// every partition the group gives it.
    fn fully_read_and_sealed(&self, st: &State) -> bool {
        self.topics
            .iter()
            .all(|t| st.topics.get(t).is_some_and(|log| log.sealed))
            && st.assignment(&self.group, self.member).len() == self.positions.len()
            && self.positions.iter().all(|(tp, pos)| {
                st.topics[&tp.topic].partitions[tp.partition as usize].len() as i64 <= *pos
            })
    }

    /// This member has read its partitions to their sealed ends and stops
    /// reading: it no longer counts when the group deals partitions out,
    /// but keeps the ones it owns until it leaves (after its stage made its
    /// results durable). So members still reading take them over from
    /// there, and a partition is never dealt to a member that has stopped
    /// reading, where nobody would read it to its end.
    fn finish_reading(&mut self, st: &mut State) {
        self.finished = true;
        if let Some(g) = st.groups.get_mut(&self.group) {
            g.members.remove(&self.member);
        }
        self.broker.notify();
    }

    fn leave(&mut self) {
        if self.left {
            return;
        }
        self.left = true;
        let mut st = self.broker.inner.state.lock();
        if let Some(g) = st.groups.get_mut(&self.group) {
            g.members.remove(&self.member);
            g.owners.retain(|_, m| *m != self.member);
        }
        drop(st);
        self.broker.notify();
    }

    fn batch(&self, messages: Vec<Message>, rebalance: Option<Rebalance>) -> Batch {
        Batch {
            messages,
            rebalance,
            acker: Acker {
                tracker: self.tracker.clone(),
            },
        }
    }
}

impl Source for MemorySource {
    async fn next_batch(&mut self) -> Result<Option<Batch>, TransportError> {
        loop {
            self.changes.borrow_and_update();
            {
                let broker = self.broker.clone();
                let mut st = broker.inner.state.lock();
                self.sync_commits(&mut st);
                self.release_revoked(&mut st);
                if self.finished || self.stopped.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                if let Some(notice) = self.rebalance(&mut st) {
                    return Ok(Some(self.batch(Vec::new(), Some(notice))));
                }
                let fetched = self.fetch(&st);
                if !fetched.is_empty() {
                    let messages = self.tracker.deliver(fetched);
                    return Ok(Some(self.batch(messages, None)));
                }
                if self.fully_read_and_sealed(&st) {
                    self.finish_reading(&mut st);
                    return Ok(None);
                }
            }
            if self.changes.changed().await.is_err() {
                return Err(TransportError::Memory("broker dropped".into()));
            }
        }
    }

    fn acker(&self) -> Acker {
        Acker {
            tracker: self.tracker.clone(),
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.broker.notify();
    }

    fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        record: &mut dyn FnMut(Message),
    ) -> Result<u64, TransportError> {
        let records = self.broker.partition_records(topic, partition);
        let n = records.len() as u64;
        records.into_iter().for_each(record);
        Ok(n)
    }

    async fn close(mut self, grace: Duration) -> Result<CloseReport, TransportError> {
        self.stop();
        let deadline = Instant::now() + grace;
        while self.tracker.outstanding(None) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let unacknowledged = self.tracker.outstanding(None);
        let committed = self.tracker.commit_points();
        {
            let mut st = self.broker.inner.state.lock();
            self.sync_commits(&mut st);
        }
        self.leave();
        Ok(CloseReport {
            committed,
            unacknowledged,
        })
    }
}

impl Drop for MemorySource {
    /// A dropped source (a crashed stage) leaves its group without committing
    /// anything new, so its partitions are redelivered from the last commit.
    fn drop(&mut self) {
        self.leave();
    }
}
