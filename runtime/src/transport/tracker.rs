//! Which offsets are safe to commit.
//!
//! Acknowledgements arrive out of order (batches are processed concurrently
//! and deliveries complete in any order), so a partition's commit point is the
//! lowest offset still unacknowledged, or one past the highest handed out when
//! nothing is pending. The commit point therefore never passes a message
//! whose effects are not yet durable.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::{Message, MessageId, TopicPartition};

/// The next offset to read for a partition: what gets committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitPoint {
    /// The partition.
    pub tp: TopicPartition,
    /// Next offset to read, i.e. last acknowledged + 1 with no gap below it.
    pub offset: i64,
}

#[derive(Debug, Default)]
struct PartitionState {
    outstanding: BTreeSet<i64>,
    /// Handed to a channel but dropped before the stage saw them: they hold
    /// the commit point back but nobody waits for their acknowledgement.
    abandoned: BTreeSet<i64>,
    /// One past the highest offset handed out; `None` before the first message.
    end: Option<i64>,
    /// The commit point last reported by [`OffsetTracker::take_changed`].
    reported: Option<i64>,
}

impl PartitionState {
    fn commit_point(&self) -> Option<i64> {
        match (self.outstanding.first(), self.abandoned.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (Some(first), None) | (None, Some(first)) => Some(*first),
            (None, None) => self.end,
        }
    }
}

/// Per-partition bookkeeping of handed-out and acknowledged offsets.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    partitions: Mutex<HashMap<TopicPartition, PartitionState>>,
    idle: Condvar,
}

impl OffsetTracker {
    /// Starts tracking newly assigned partitions.
    pub(crate) fn assign(&self, tps: impl IntoIterator<Item = TopicPartition>) {
        let mut parts = self.partitions.lock();
        for tp in tps {
            parts.entry(tp).or_default();
        }
    }

    /// The assigned partitions.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.lock().keys().cloned().collect()
    }

    /// Whether `tp` is assigned now.
    pub(crate) fn holds(&self, tp: &TopicPartition) -> bool {
        self.partitions.lock().contains_key(tp)
    }

    /// Number of assigned partitions.
    pub(crate) fn assigned_count(&self) -> usize {
        self.partitions.lock().len()
    }

    /// Stops tracking revoked partitions and returns their final commit points.
    /// Later acknowledgements for them are ignored.
    pub(crate) fn revoke(&self, tps: &[TopicPartition]) -> Vec<CommitPoint> {
        let mut parts = self.partitions.lock();
        let points = tps
            .iter()
            .filter_map(|tp| {
                let state = parts.remove(tp)?;
                Some(CommitPoint {
                    tp: tp.clone(),
                    offset: state.commit_point()?,
                })
            })
            .collect();
        self.idle.notify_all();
        points
    }

    /// Registers messages as handed out. Messages of partitions that are not
    /// (or no longer) assigned are dropped: the partition's new owner reads
    /// them from the committed offset.
    pub(crate) fn deliver(&self, messages: Vec<Message>) -> Vec<Message> {
        let mut parts = self.partitions.lock();
        let mut kept = Vec::with_capacity(messages.len());
        for m in messages {
            let Some(state) = parts.get_mut(&m.topic_partition()) else {
                continue;
            };
            state.outstanding.insert(m.offset);
            state.end = Some(state.end.map_or(m.offset + 1, |e| e.max(m.offset + 1)));
            kept.push(m);
        }
        kept
    }

    /// Marks messages as acknowledged.
    pub(crate) fn ack(&self, ids: impl IntoIterator<Item = MessageId>) {
        let mut parts = self.partitions.lock();
        let mut emptied = false;
        for m in ids {
            if let Some(state) = parts.get_mut(&m.tp) {
                state.outstanding.remove(&m.offset);
                emptied |= state.outstanding.is_empty();
            }
        }
        if emptied {
            self.idle.notify_all();
        }
    }

    /// Marks messages that will never be processed (dropped at shutdown):
    /// their offsets are not committed, and nobody waits for them.
    pub(crate) fn abandon<'a>(&self, messages: impl IntoIterator<Item = &'a Message>) {
        let mut parts = self.partitions.lock();
        for m in messages {
            if let Some(state) = parts.get_mut(&m.topic_partition())
                && state.outstanding.remove(&m.offset)
            {
                state.abandoned.insert(m.offset);
            }
        }
        self.idle.notify_all();
    }

    /// Marks every outstanding message of `tps` as abandoned (see
    /// [`OffsetTracker::abandon`]).
    pub(crate) fn abandon_partitions(&self, tps: &[TopicPartition]) {
        let mut parts = self.partitions.lock();
        for tp in tps {
            if let Some(state) = parts.get_mut(tp) {
                let outstanding = std::mem::take(&mut state.outstanding);
                state.abandoned.extend(outstanding);
            }
        }
        self.idle.notify_all();
    }

    /// Commit points that moved since the last call.
    pub(crate) fn take_changed(&self) -> Vec<CommitPoint> {
        let mut parts = self.partitions.lock();
        let mut changed = Vec::new();
        for (tp, state) in parts.iter_mut() {
            let point = state.commit_point();
            if point.is_some() && point != state.reported {
                state.reported = point;
                changed.push(CommitPoint {
                    tp: tp.clone(),
                    offset: point.unwrap_or_default(),
                });
            }
        }
        changed
    }

    /// Current commit points of all assigned partitions that have one.
    pub(crate) fn commit_points(&self) -> Vec<CommitPoint> {
        let parts = self.partitions.lock();
        parts
            .iter()
            .filter_map(|(tp, s)| {
                Some(CommitPoint {
                    tp: tp.clone(),
                    offset: s.commit_point()?,
                })
            })
            .collect()
    }

    /// Number of handed-out messages not yet acknowledged, optionally only
    /// for the given partitions.
    pub(crate) fn outstanding(&self, only: Option<&[TopicPartition]>) -> usize {
        let parts = self.partitions.lock();
        parts
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .map(|(_, s)| s.outstanding.len())
            .sum()
    }

    /// Blocks the calling thread until nothing is outstanding on the given
    /// partitions (all when `None`) or the deadline passes. Returns whether it
    /// became idle. Only for threads that may block (the Kafka poll thread).
    pub(crate) fn wait_idle(&self, only: Option<&[TopicPartition]>, deadline: Instant) -> bool {
        let mut parts = self.partitions.lock();
        loop {
            let pending = parts
                .iter()
                .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
                .any(|(_, s)| !s.outstanding.is_empty());
            if !pending {
                return true;
            }
            if self.idle.wait_until(&mut parts, deadline).timed_out() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn msg(partition: i32, offset: i64) -> Message {
        Message {
            topic: Arc::from("t"),
            partition,
            offset,
            key: None,
            payload: None,
            timestamp_ms: None,
            headers: vec![],
        }
    }

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition {
            topic: Arc::from("t"),
            partition,
        }
    }

    #[test]
    fn commit_point_never_passes_an_unacknowledged_offset() {
        let t = OffsetTracker::default();
        t.assign([tp(0)]);
        let batch = t.deliver((10..15).map(|o| msg(0, o)).collect());
        assert_eq!(batch.len(), 5);
        // Acknowledge everything except offset 11, out of order.
        t.ack([4, 0, 2, 3].map(|i| batch[i].id()));
        assert_eq!(t.commit_points()[0].offset, 11);
        t.ack([batch[1].id()]);
        assert_eq!(t.commit_points()[0].offset, 15);
        assert_eq!(t.take_changed().len(), 1);
        assert!(
            t.take_changed().is_empty(),
            "unchanged point is not reported twice"
        );
    }

    #[test]
    fn unassigned_partitions_are_dropped_and_revoked_acks_ignored() {
        let t = OffsetTracker::default();
        t.assign([tp(0)]);
        let kept = t.deliver(vec![msg(0, 1), msg(1, 1)]);
        assert_eq!(kept, vec![msg(0, 1)]);
        let points = t.revoke(&[tp(0)]);
        assert_eq!(
            points[0].offset, 1,
            "unacknowledged message is not committed"
        );
        t.ack([kept[0].id()]);
        assert!(t.commit_points().is_empty());
    }

    #[test]
    fn abandoned_messages_hold_the_commit_point_without_blocking_waits() {
        let t = OffsetTracker::default();
        t.assign([tp(0)]);
        let batch = t.deliver(vec![msg(0, 3), msg(0, 4)]);
        t.abandon([&batch[0]]);
        t.ack([batch[1].id()]);
        assert!(t.wait_idle(None, Instant::now()));
        assert_eq!(t.commit_points()[0].offset, 3);
    }

    #[test]
    fn abandoning_a_partition_keeps_its_held_offsets_uncommitted() {
        let t = OffsetTracker::default();
        t.assign([tp(0), tp(1)]);
        let batch = t.deliver(vec![msg(0, 5), msg(0, 6), msg(1, 2)]);
        t.ack([batch[1].id()]);
        t.abandon_partitions(&[tp(0)]);
        assert!(t.wait_idle(Some(&[tp(0)]), Instant::now()));
        assert!(
            !t.wait_idle(None, Instant::now()),
            "partition 1 still waits"
        );
        let points = t.revoke(&[tp(0)]);
        assert_eq!(points[0].offset, 5, "the held message is read again");
    }

    #[test]
    fn wait_idle_returns_when_acknowledged_from_another_thread() {
        let t = Arc::new(OffsetTracker::default());
        t.assign([tp(0)]);
        let batch = t.deliver(vec![msg(0, 7)]);
        let t2 = t.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            t2.ack(batch.iter().map(Message::id));
        });
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        assert!(t.wait_idle(None, deadline));
        h.join().unwrap();
        assert_eq!(t.outstanding(None), 0);
    }
}
