//! Event-time progress: per-partition watermarks (newest event time minus
//! the out-of-orderness bound) and the instance watermark, their minimum
//! over partitions that are not idle.
//!
//! Idleness is measured on the stage's *input clock* (milliseconds the
//! stage spent ready to read, [`lap_runtime::stage::Output::input_time`]),
//! not the wall clock: while the stage computes an emission or waits for
//! the producer it reads nothing, and a partition with events waiting in
//! the consumer would otherwise look quiet, stop holding the watermark
//! back, and see its events arrive after their week was final.

use std::collections::HashMap;

use lap_runtime::transport::TopicPartition;

#[derive(Clone, Copy, Debug)]
struct Partition {
    newest: i64,
    /// Input time of the partition's last event.
    last_seen_ms: i64,
}

/// Watermarks of the partitions this instance reads.
#[derive(Debug)]
pub struct Watermarks {
    parts: HashMap<TopicPartition, Partition>,
    bound_us: i64,
    idle_ms: i64,
    /// Input time of the first event.
    started_ms: Option<i64>,
}

impl Watermarks {
    /// Watermarks trailing the newest event by `bound_us`; a partition
    /// silent for `idle_ms` of input time stops holding others back.
    pub fn new(bound_us: i64, idle_ms: i64) -> Watermarks {
        Watermarks {
            parts: HashMap::new(),
            bound_us,
            idle_ms,
            started_ms: None,
        }
    }

    /// Notes an event time read from `tp` at input time `now_ms`.
    pub fn observe(&mut self, tp: &TopicPartition, event_time: i64, now_ms: i64) {
        self.started_ms.get_or_insert(now_ms);
        match self.parts.get_mut(tp) {
            Some(p) => {
                p.newest = p.newest.max(event_time);
                p.last_seen_ms = now_ms;
            }
            None => {
                self.parts.insert(
                    tp.clone(),
                    Partition {
                        newest: event_time,
                        last_seen_ms: now_ms,
                    },
                );
            }
        }
    }

    /// The partitions seen so far.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.parts.keys()
    }

    /// Each partition's newest event time and the input time it was last
    /// seen at, for the log line of a finalisation: what a reader needs to
    /// see why a week closed when it did.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .parts
            .iter()
            .map(|(tp, p)| {
                format!(
                    "{}/{}: newest event {}, last read at input time {} ms",
                    tp.topic,
                    tp.partition,
                    instant(p.newest),
                    p.last_seen_ms
                )
            })
            .collect();
        parts.sort();
        parts.join(", ")
    }

    /// The instance watermark at input time `now_ms`: the minimum over active
    /// partitions, or over all when every one is idle. `None` until the
    /// idle timeout has passed since the first event: a consumer that
    /// starts with a backlog gets its partitions' first batches one after
    /// another, and one partition alone must not close windows the others
    /// still have events for.
    pub fn instance(&self, now_ms: i64) -> Option<i64> {
        if now_ms - self.started_ms? < self.idle_ms {
            return None;
        }
        let active = self
            .parts
            .values()
            .filter(|p| now_ms - p.last_seen_ms < self.idle_ms)
            .map(|p| p.newest)
            .min();
        let newest = active.or_else(|| self.parts.values().map(|p| p.newest).max())?;
        Some(newest.saturating_sub(self.bound_us))
    }
}

/// An instant in UTC microseconds as RFC 3339 text, for logs.
pub fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339())
}
