//! Reading a whole compacted topic in every instance (a "global table"),
//! as enrich does with the roster and `lap roster load` does to diff
//! against what is published, or one partition of it (a task's changelog,
//! restored when its input partition is assigned). No consumer group: each
//! reader is assigned its partitions from the beginning, commits nothing,
//! and knows when it has caught up: a partition is read to its end once
//! the reader has passed the end offset it saw on opening *and* the
//! client reported reaching the end of what the broker holds (a broker
//! whose end offsets lag its log, as tansu's count record batches, would
//! otherwise cut a read short: a restore that misses a task's last
//! checkpoint is a wrong table).

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::source::convert;
use super::{TopicNames, client_config};
use crate::config::KafkaConfig;
use crate::transport::{Message, TransportError};

/// Reads every partition of one topic from its start.
pub struct TableReader {
    consumer: BaseConsumer,
    topic: String,
    /// Per partition: next offset to read, the end offset at opening, and
    /// whether the end of the partition was reached since the last record.
    progress: HashMap<i32, Progress>,
    names: TopicNames,
}

/// How far one partition has been read.
#[derive(Clone, Copy, Debug)]
struct Progress {
    next: i64,
    end: i64,
    at_end: bool,
}

impl Progress {
    fn done(&self) -> bool {
        self.at_end && self.next >= self.end
    }
}

fn admin_err(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Admin(format!("{what}: {e}"))
}

impl TableReader {
    /// Opens `topic` and notes its current end offsets. Fails when the topic
    /// does not exist (run `lap topics create` first).
    pub fn open(cfg: &KafkaConfig, topic: &str, timeout: Duration) -> Result<Self, TransportError> {
        Self::open_partitions(cfg, topic, None, timeout)
    }

    /// Opens partition `partition` of `topic` alone. Fails when the topic
    /// lacks that partition: a changelog must have as many partitions as
    /// the input it belongs to.
    pub fn open_partition(
        cfg: &KafkaConfig,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        Self::open_partitions(cfg, topic, Some(partition), timeout)
    }

    fn open_partitions(
        cfg: &KafkaConfig,
        topic: &str,
        only: Option<i32>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let mut c = client_config(cfg, "table")?;
        c.set(
            "group.id",
            format!("{}.table-reader", cfg.consumer.group_prefix),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
        let consumer: BaseConsumer = c
            .create()
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let meta = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| admin_err(&format!("metadata of {topic}"), e))?;
        let partitions: Vec<i32> = meta
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(TransportError::Admin(format!(
                "topic {topic} does not exist; create it with `lap topics create`"
            )));
        }
        let partitions: Vec<i32> = match only {
            None => partitions,
            Some(p) if partitions.contains(&p) => vec![p],
            Some(p) => {
                return Err(TransportError::Admin(format!(
                    "topic {topic} has {} partitions and no partition {p}; give it as many \
                     partitions as the topic it keeps state for",
                    partitions.len()
                )));
            }
        };
        let mut tpl = TopicPartitionList::new();
        let mut progress = HashMap::new();
        for p in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| admin_err(&format!("end offsets of {topic}/{p}"), e))?;
            progress.insert(
                p,
                Progress {
                    next: low,
                    end: high,
                    at_end: false,
                },
            );
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| TransportError::Setup(e.to_string()))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        Ok(TableReader {
            consumer,
            topic: topic.to_string(),
            progress,
            names: TopicNames::default(),
        })
    }

    /// The next record, or `None` when none arrived within `timeout`.
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<Message>, TransportError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(p) = self.progress.get_mut(&p) {
                    p.at_end = true;
                }
                Ok(None)
            }
            Some(Err(e)) => Err(admin_err(&format!("reading {}", self.topic), e)),
            Some(Ok(m)) => {
                let m = convert(&m, &mut self.names);
                if let Some(p) = self.progress.get_mut(&m.partition) {
                    p.next = p.next.max(m.offset + 1);
                    p.at_end = false;
                }
                Ok(Some(m))
            }
        }
    }

    /// Whether every partition has been read to its end.
    pub fn caught_up(&self) -> bool {
        self.progress.values().all(Progress::done)
    }

    /// Reads until caught up, handing each record to `apply`; `on_progress`
    /// gets (records read, partitions behind) about once a second.
    pub fn catch_up(
        &mut self,
        mut apply: impl FnMut(Message),
        mut on_progress: impl FnMut(u64, usize),
    ) -> Result<u64, TransportError> {
        let mut read = 0u64;
        let mut last = std::time::Instant::now();
        while !self.caught_up() {
            if let Some(m) = self.poll(Duration::from_millis(200))? {
                read += 1;
                apply(m);
            }
            if last.elapsed() >= Duration::from_secs(1) {
                let behind = self.progress.values().filter(|p| !p.done()).count();
                on_progress(read, behind);
                last = std::time::Instant::now();
            }
        }
        Ok(read)
    }
}

/// The number of partitions of `topic`; fails when it does not exist.
pub fn partition_count(
    cfg: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<i32, TransportError> {
    let consumer: BaseConsumer = client_config(cfg, "admin")?
        .create()
        .map_err(|e| TransportError::Setup(e.to_string()))?;
    let meta = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| admin_err(&format!("metadata of {topic}"), e))?;
    meta.topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            TransportError::Admin(format!(
                "topic {topic} does not exist; create it with `lap topics create`"
            ))
        })
}
