//! A task's changelog: partition *n* of the compacted state topic holds
//! what the task of input partition *n* must not lose, keyed so that
//! compaction keeps the latest of each:
//!
//! - `task`: the owner's epoch, the watermark the partition's weeks were
//!   finalised at, and the input offset below which every message was
//!   read by an owner (so a replay after a crash tells a message it
//!   already counted from one it has never seen);
//! - `learner:…` and `class:…`: the history later windows look back on.
//!
//! Every value is `<epoch> <JSON>`, the epoch of the owner that wrote it.
//! A new owner writes `task` with its higher epoch before anything else,
//! so when the log is read back in order, a record with an epoch below
//! the highest seen so far comes from an owner that had already lost the
//! partition and is ignored.

use serde::{Deserialize, Serialize};

use crate::history::History;

/// Key of the task record.
pub const TASK: &str = "task";

/// The `task` record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Watermark (UTC µs) the partition's weeks were last finalised at.
    pub final_watermark: i64,
    /// Every input offset below this was read by an owner of the partition.
    pub read_below: i64,
}

impl TaskRecord {
    /// Nothing finalised, nothing read.
    pub const EMPTY: TaskRecord = TaskRecord {
        final_watermark: i64::MIN,
        read_below: 0,
    };
}

/// A changelog value: `epoch` and the JSON of `value`.
pub fn stamp<T: Serialize>(epoch: i64, value: &T) -> String {
    let json = serde_json::to_string(value).expect("changelog values serialise");
    format!("{epoch} {json}")
}

/// A task's state as read back from its changelog.
#[derive(Debug)]
pub struct Restored {
    /// The highest epoch any record had.
    pub epoch: i64,
    /// The latest `task` record of a current owner.
    pub task: TaskRecord,
    /// History.
    pub history: History,
    /// Records read.
    pub records: u64,
    /// Records of owners that had lost the partition, ignored.
    pub stale: u64,
    /// Records not understood (another version's keys), ignored.
    pub unknown: u64,
}

impl Restored {
    /// Nothing restored yet; `history` keeps that many windows.
    pub fn new(history: History) -> Restored {
        Restored {
            epoch: 0,
            task: TaskRecord::EMPTY,
            history,
            records: 0,
            stale: 0,
            unknown: 0,
        }
    }

    /// Applies the next record of the log. A tombstone (`value` `None`,
    /// published by an erasure) forgets the history it names whoever
    /// wrote it: erasure is not an owner's write and carries no epoch.
    pub fn apply(&mut self, key: &str, value: Option<&str>) {
        self.records += 1;
        let Some(value) = value else {
            self.unknown += u64::from(!self.history.restore(key, None));
            return;
        };
        let Some((epoch, json)) = value.split_once(' ') else {
            self.unknown += 1;
            return;
        };
        let Ok(epoch) = epoch.parse::<i64>() else {
            self.unknown += 1;
            return;
        };
        if epoch < self.epoch {
            self.stale += 1;
            return;
        }
        self.epoch = epoch;
        let understood = if key == TASK {
            serde_json::from_str(json).map(|t| self.task = t).is_ok()
        } else {
            self.history.restore(key, Some(json))
        };
        self.unknown += u64::from(!understood);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Past;
    use lap_schemas::WindowKind;
    use std::sync::Arc;

    #[test]
    fn records_of_an_owner_that_lost_the_partition_are_ignored() {
        let mut old = History::new(3);
        let key = (WindowKind::Weekly, Some(Arc::from("c1")), Arc::from("p1"));
        old.record_learner(
            key.clone(),
            Past {
                start: 1,
                mean_score: Some(0.5),
                wellbeing: None,
            },
        );
        let first = old.take_changes();
        let task = TaskRecord {
            final_watermark: 10,
            read_below: 4,
        };
        let mut log: Vec<(String, String)> = vec![(TASK.into(), stamp(5, &task))];
        log.extend(first.iter().map(|(k, v)| (k.clone(), format!("5 {v}"))));
        // The next owner fences, then the old one writes on regardless.
        log.push((TASK.into(), stamp(6, &task)));
        log.push((
            TASK.into(),
            stamp(
                5,
                &TaskRecord {
                    final_watermark: 99,
                    read_below: 9,
                },
            ),
        ));
        let mut r = Restored::new(History::new(3));
        for (k, v) in &log {
            r.apply(k, Some(v));
        }
        assert_eq!((r.epoch, r.task, r.stale), (6, task, 1));
        assert_eq!(r.history.learners[&key].recent[0].mean_score, Some(0.5));
        r.apply("wm:[\"lap.enriched\",0]", Some("17"));
        assert_eq!(r.unknown, 1, "another version's record");
    }
}
