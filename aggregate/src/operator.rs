//! The aggregate [`Operator`]: decodes enriched events, feeds the
//! [`Engine`], and turns its emissions into records: indicator rows, late
//! events (original bytes), dead letters, and each task's changelog
//! records, written to the state topic's partition of the task's number
//! only after the rows they describe are durable. On assignment it reads a
//! task back from its changelog and fences earlier owners; on revocation
//! it drops the task.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lap_runtime::metrics::observe_since;
use lap_runtime::stage::{Operator, Output, StageError};
use lap_runtime::transport::{Message, OutRecord, TopicPartition};
use lap_schemas::{DeadLetter, EnrichedEvent, Origin, Problem, decode, encode};
use parking_lot::RwLock;
use tracing::{info, warn};

use crate::engine::{Admitted, Engine};
use crate::metrics::AggregateMetrics;
use crate::reference::Reference;

/// Topics aggregate writes.
#[derive(Clone, Debug)]
pub struct AggregateTopics {
    /// Indicator rows.
    pub indicators: Arc<str>,
    /// Events later than the allowed lateness.
    pub late: Arc<str>,
    /// Records that are not enriched events.
    pub dlq: Arc<str>,
    /// The compacted changelog topic, co-partitioned with the input.
    pub state: Arc<str>,
}

/// Reference data shared with the thread following the roster topic;
/// the version grows with every change.
pub type SharedReference = Arc<RwLock<(u64, Reference)>>;

/// The aggregate stage.
pub struct Aggregate {
    engine: Engine,
    topics: AggregateTopics,
    metrics: AggregateMetrics,
    provisional_every: Duration,
    last_provisional: SystemTime,
    reference: Option<(SharedReference, u64)>,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn engine_err(e: impl std::fmt::Display) -> StageError {
    StageError::Operator {
        stage: "aggregate",
        message: e.to_string(),
    }
}

impl Aggregate {
    /// An operator around `engine`; `reference`, when given, is re-read on
    /// ticks after it changes.
    pub fn new(
        engine: Engine,
        topics: AggregateTopics,
        metrics: AggregateMetrics,
        provisional_every: Duration,
        reference: Option<SharedReference>,
    ) -> Aggregate {
        Aggregate {
            engine,
            topics,
            metrics,
            provisional_every,
            last_provisional: SystemTime::UNIX_EPOCH,
            reference: reference.map(|r| (r, 0)),
        }
    }

    /// Runs the engine's emission in progress up to its next chunk of
    /// classes, encoding each row into `out` as the engine hands it over,
    /// and asks the runtime to call again while steps are left: the rows of
    /// one chunk go to the producer before the next is computed, so an emission
    /// over 100k learners never holds all its rows. The call that ends a
    /// finalisation queues the checkpoint (written once the rows are
    /// durable) and releases the messages of final weeks.
    fn step(&mut self, out: &mut Output) -> Result<(), StageError> {
        let topic = self.topics.indicators.clone();
        let (mut rows, mut failed) = ([0u64; 2], None);
        let metrics = &self.metrics;
        let em = self
            .engine
            .step(&mut |row| match encode(&row) {
                Ok(bytes) => {
                    if row.suppressed {
                        metrics
                            .suppressed_rows
                            .with_label_values(&[&row.table_name])
                            .inc();
                    }
                    if let Some(newest) = row.newest_event_time {
                        observe_since(&metrics.latency, newest);
                    }
                    let key = format!(
                        "{}/{}",
                        row.class_id.as_deref().unwrap_or(""),
                        row.entity_id
                    );
                    out.emit(OutRecord::new(
                        topic.clone(),
                        Some(Bytes::from(key)),
                        Bytes::from(bytes),
                    ));
                    rows[usize::from(row.is_final)] += 1;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            })
            .map_err(engine_err)?;
        if let Some(e) = failed {
            return Err(engine_err(e));
        }
        for (label, n) in ["provisional", "final"].into_iter().zip(rows) {
            self.metrics.rows.with_label_values(&[label]).inc_by(n);
        }
        self.metrics.unchanged_rows.inc_by(em.unchanged as u64);
        for (change, counts) in [("raised", &em.raised), ("cleared", &em.cleared)] {
            for (code, n) in counts {
                self.metrics
                    .flags
                    .with_label_values(&[code, change])
                    .inc_by(*n);
            }
        }
        for record in em.checkpoint {
            out.emit_after_durable(self.changelog_record(record));
        }
        out.release(em.released);
        self.metrics
            .state_events
            .set(self.engine.events_in_state() as i64);
        if self.engine.emitting() {
            out.resume_later();
        }
        Ok(())
    }

    fn dead_letter(&self, m: &Message, reason: String, out: &mut Output) -> Result<(), StageError> {
        self.metrics.undecodable.inc();
        let code = "aggregate.decode";
        let letter = DeadLetter {
            id: letter_id(m),
            stage: "aggregate".into(),
            received_time: millis(SystemTime::now()) * 1000,
            origin: Origin::kafka(&m.topic, m.partition, m.offset),
            format: "avro/EnrichedEvent".into(),
            error_code: code.into(),
            message: format!(
                "not an EnrichedEvent ({reason}); only lap-enrich should write this topic"
            ),
            problems: vec![Problem {
                code: code.into(),
                path: "$".into(),
                message: reason,
            }],
            payload: m.payload.as_deref().unwrap_or_default().to_vec(),
        };
        let bytes = encode(&letter).map_err(engine_err)?;
        out.emit(OutRecord::new(
            self.topics.dlq.clone(),
            None,
            Bytes::from(bytes),
        ));
        Ok(())
    }

    /// Begins finalising the weeks each task's watermark has passed at the
    /// input time of `out` (idleness is measured in it); `now_ms` stamps rows.
    fn begin_finalise(&mut self, out: &Output, now_ms: i64) {
        let input = input_ms(out);
        for tp in self.engine.partitions() {
            if let Some(wm) = self.engine.watermark(tp, input) {
                self.metrics
                    .watermark_seconds
                    .with_label_values(&[&tp.partition.to_string()])
                    .set(wm / 1_000_000);
            }
        }
        self.engine.begin_finalise_due(input, now_ms);
    }

    /// A changelog record as a message to the task's own partition.
    fn changelog_record(
        &self,
        (partition, key, value): crate::engine::ChangelogRecord,
    ) -> OutRecord {
        OutRecord::new(
            self.topics.state.clone(),
            Some(Bytes::from(key)),
            Bytes::from(value),
        )
        .to_partition(partition)
    }
}

/// The stage's input time, in the milliseconds the engine counts in.
fn input_ms(out: &Output) -> i64 {
    out.input_time().as_millis() as i64
}

/// A changelog key or value as text; anything else is not lap's.
fn utf8(bytes: Option<&[u8]>) -> Option<&str> {
    bytes.and_then(|b| std::str::from_utf8(b).ok())
}

/// A dead letter's id: stable for a message, so a replay writes the same one.
fn letter_id(m: &Message) -> String {
    format!("{}/{}/{}", m.topic, m.partition, m.offset)
}

impl Operator for Aggregate {
    fn name(&self) -> &'static str {
        "aggregate"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        let (now_ms, input_ms) = (millis(SystemTime::now()), input_ms(out));
        for m in batch {
            let Some(payload) = &m.payload else { continue };
            let event: EnrichedEvent = match decode(payload) {
                Ok(e) => e,
                Err(e) => {
                    self.dead_letter(m, e.to_string(), out)?;
                    continue;
                }
            };
            let admitted = self.engine.admit(&event, Some(&m.id()), input_ms);
            self.metrics
                .events
                .with_label_values(&[admitted.label()])
                .inc();
            if admitted.holds() {
                out.hold(m.id());
            } else if admitted == Admitted::Late {
                let mut late =
                    OutRecord::new(self.topics.late.clone(), m.key.clone(), payload.clone());
                late.headers = m.headers.clone();
                out.emit(late);
            }
        }
        self.begin_finalise(out, now_ms);
        self.step(out)
    }

    fn on_tick(&mut self, now: SystemTime, out: &mut Output) -> Result<(), StageError> {
        if let Some((shared, seen)) = &mut self.reference {
            let guard = shared.read();
            if guard.0 != *seen {
                *seen = guard.0;
                self.engine.set_reference(&guard.1).map_err(engine_err)?;
            }
        }
        let now_ms = millis(now);
        self.begin_finalise(out, now_ms);
        if now
            .duration_since(self.last_provisional)
            .unwrap_or_default()
            >= self.provisional_every
        {
            self.last_provisional = now;
            self.engine.begin_provisional(now_ms);
        }
        self.step(out)
    }

    fn on_end_of_input(&mut self, out: &mut Output) -> Result<(), StageError> {
        self.engine.begin_finalise_all(millis(SystemTime::now()));
        self.step(out)
    }

    fn resume(&mut self, out: &mut Output) -> Result<(), StageError> {
        self.step(out)
    }

    fn changelog(&self) -> Option<Arc<str>> {
        Some(self.topics.state.clone())
    }

    fn restore(&mut self, tp: &TopicPartition, record: &Message) -> Result<(), StageError> {
        self.engine.restore(
            tp,
            utf8(record.key.as_deref()).unwrap_or(""),
            utf8(record.payload.as_deref()),
        );
        Ok(())
    }

    fn on_assign(
        &mut self,
        partitions: &[TopicPartition],
        out: &mut Output,
    ) -> Result<(), StageError> {
        let now = millis(SystemTime::now());
        for tp in partitions {
            let assigned = self.engine.assign(tp, now);
            info!(
                partition = tp.partition,
                epoch = assigned.epoch,
                records = assigned.records,
                stale = assigned.stale,
                "task taken on"
            );
            if assigned.unknown > 0 {
                warn!(
                    partition = tp.partition,
                    unknown = assigned.unknown,
                    "changelog records not understood were ignored"
                );
            }
            out.emit(self.changelog_record(assigned.record));
        }
        Ok(())
    }

    fn on_revoke(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.engine.revoke(tp);
            self.metrics
                .watermark_seconds
                .with_label_values(&[&tp.partition.to_string()])
                .set(0);
        }
        self.metrics
            .state_events
            .set(self.engine.events_in_state() as i64);
    }
}
