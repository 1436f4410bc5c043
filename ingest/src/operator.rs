//! The ingest operator: raw messages in, events and dead letters out.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lap_runtime::config::IngestConfig;
use lap_runtime::metrics::observe_since;
use lap_runtime::stage::{Operator, Output, StageError};
use lap_runtime::transport::{Message, OutRecord};
use lap_schemas::{LearningEvent, Origin, OriginKind, encode};
use parking_lot::Mutex;

use crate::caliper::Item;
use crate::dedupe::{Seen, StatementLog, uuid_key};
use crate::metrics::IngestMetrics;
use crate::problem::{Path, Problems, dead_letter};
use crate::xapi::Statement;
use crate::{CLIENT_HEADER, XAPI_VERSION_HEADER, read};

/// The topics ingest reads and writes.
#[derive(Clone, Debug)]
pub struct IngestTopics {
    /// Raw xAPI statements (input).
    pub raw_xapi: Arc<str>,
    /// Raw Caliper envelopes (input).
    pub raw_caliper: Arc<str>,
    /// Canonical events (output).
    pub events: Arc<str>,
    /// Dead letters (output).
    pub dlq: Arc<str>,
}

/// The statement log shared by the operator and the HTTP front door.
pub type SharedLog = Arc<Mutex<StatementLog>>;

/// Validates and normalises raw records; see the crate documentation.
pub struct Ingest {
    topics: IngestTopics,
    cfg: IngestConfig,
    log: SharedLog,
    metrics: IngestMetrics,
}

/// Microseconds since the epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Namespace of the name-based ids ingest assigns to statements without one.
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c61_7000_2f1d_4b7e_9c3a_0e5d_1a2b_3c4d);

/// The id of statement `index` of a raw message: a UUID v5 of the message's
/// position, so replaying the topic assigns the same id again.
pub fn positional_id(topic: &str, partition: i32, offset: i64, index: usize) -> String {
    uuid::Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{topic}/{partition}/{offset}/{index}").as_bytes(),
    )
    .to_string()
}

/// The partitioning key of an event: its actor's canonical identifier, so
/// one actor's events stay in order on one partition.
pub fn actor_key(e: &LearningEvent) -> Bytes {
    match &e.actor.home_page {
        Some(home) => Bytes::from(format!("{home}|{}", e.actor.id)),
        None => Bytes::from(e.actor.id.clone()),
    }
}

impl Ingest {
    /// An operator writing to `topics`, sharing `log` with the HTTP front door.
    pub fn new(
        topics: IngestTopics,
        cfg: IngestConfig,
        log: SharedLog,
        metrics: IngestMetrics,
    ) -> Self {
        Ingest {
            topics,
            cfg,
            log,
            metrics,
        }
    }

    fn reject(
        &self,
        out: &mut Output,
        source: &str,
        origin: Origin,
        problems: &Problems,
        bytes: &[u8],
    ) -> Result<(), StageError> {
        for p in &problems.0 {
            self.metrics
                .rejected
                .with_label_values(&[source, p.code])
                .inc();
        }
        let letter = dead_letter(source, origin, problems, bytes, now_us());
        let payload = encode(&letter).map_err(|e| StageError::Operator {
            stage: "ingest",
            message: e.to_string(),
        })?;
        out.emit(OutRecord::new(
            self.topics.dlq.clone(),
            None,
            Bytes::from(payload),
        ));
        Ok(())
    }

    /// Emits an accepted event unless it is a duplicate, a conflict, or
    /// voids a voiding statement.
    fn accept(
        &self,
        out: &mut Output,
        source: &str,
        stmt: Statement,
        origin: Origin,
        bytes: &[u8],
    ) -> Result<(), StageError> {
        let event = &stmt.event;
        let Some(key) = uuid_key(&event.event_id) else {
            let p = Problems::one(
                "input.id",
                &Path::Root,
                format!("`{}` is not a UUID", event.event_id),
            );
            return self.reject(out, source, origin, &p, bytes);
        };
        let voids = event.voids.as_deref().and_then(uuid_key);
        let problem = {
            let mut log = self.log.lock();
            match log.check(key, stmt.fingerprint) {
                Seen::Different => Some(Problems::one(
                    "xapi.conflict",
                    &Path::Root.key("id"),
                    format!(
                        "id {} was already used for a statement with different content",
                        event.event_id
                    ),
                )),
                Seen::Same { emitted: true } => {
                    self.metrics.duplicates.with_label_values(&[source]).inc();
                    return Ok(());
                }
                Seen::Same { emitted: false } | Seen::New
                    if voids.is_some_and(|t| log.is_voiding(t)) =>
                {
                    Some(Problems::one(
                        "xapi.voiding.voiding_target",
                        &Path::Root.key("object").key("id"),
                        "a voiding statement cannot itself be voided",
                    ))
                }
                _ => {
                    log.record(key, stmt.fingerprint, voids.is_some(), true);
                    None
                }
            }
        };
        if let Some(p) = problem {
            return self.reject(out, source, origin, &p, bytes);
        }
        let payload = encode(event).map_err(|e| StageError::Operator {
            stage: "ingest",
            message: e.to_string(),
        })?;
        self.metrics
            .accepted
            .with_label_values(&[source, &event.spec_version])
            .inc();
        observe_since(&self.metrics.latency, event.event_time);
        out.emit(OutRecord::new(
            self.topics.events.clone(),
            Some(actor_key(event)),
            Bytes::from(payload),
        ));
        Ok(())
    }

    fn xapi(
        &self,
        m: &Message,
        origin: Origin,
        stored_us: i64,
        out: &mut Output,
    ) -> Result<(), StageError> {
        let payload = m.payload.as_deref().unwrap_or_default();
        let started = Instant::now();
        let header = m
            .header(XAPI_VERSION_HEADER)
            .and_then(|h| std::str::from_utf8(h).ok());
        let assign = |i: usize| positional_id(&m.topic, m.partition, m.offset, i);
        let records = match read::xapi_message(payload, header, &self.cfg, stored_us, &assign) {
            Ok(r) => r,
            Err(p) => return self.reject(out, "xapi", origin, &p, payload),
        };
        let n = records.len().max(1) as f64;
        for r in records {
            let origin = Origin {
                index: Some(r.index as i32),
                ..origin.clone()
            };
            match r.outcome {
                Ok(stmt) => self.accept(out, "xapi", stmt, origin, r.bytes)?,
                Err(p) => self.reject(out, "xapi", origin, &p, r.bytes)?,
            }
        }
        let per_record = started.elapsed().as_secs_f64() / n;
        self.metrics
            .record_seconds
            .with_label_values(&["xapi"])
            .observe(per_record);
        Ok(())
    }

    fn caliper(
        &self,
        m: &Message,
        origin: Origin,
        stored_us: i64,
        out: &mut Output,
    ) -> Result<(), StageError> {
        let payload = m.payload.as_deref().unwrap_or_default();
        let started = Instant::now();
        let envelope = match read::caliper_message(payload, &self.cfg, stored_us) {
            Ok(e) => e,
            Err(p) => return self.reject(out, "caliper", origin, &p, payload),
        };
        let n = envelope.items.len().max(1) as f64;
        for (i, item) in envelope.items.into_iter().enumerate() {
            let origin = Origin {
                index: Some(i as i32),
                ..origin.clone()
            };
            match item {
                Item::Event(e) => {
                    let stmt = Statement {
                        event: e.event,
                        fingerprint: e.fingerprint,
                        id_assigned: false,
                    };
                    self.accept(out, "caliper", stmt, origin, payload)?;
                }
                Item::Entity => self
                    .metrics
                    .entities
                    .with_label_values(&[envelope.version.label()])
                    .inc(),
                Item::Rejected {
                    bytes, problems, ..
                } => self.reject(out, "caliper", origin, &problems, bytes)?,
            }
        }
        let per_record = started.elapsed().as_secs_f64() / n;
        self.metrics
            .record_seconds
            .with_label_values(&["caliper"])
            .observe(per_record);
        Ok(())
    }
}

impl Operator for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        let now = now_us();
        for m in batch {
            let origin = Origin {
                kind: OriginKind::Kafka,
                topic: Some(m.topic.to_string()),
                partition: Some(m.partition),
                offset: Some(m.offset),
                client_id: m
                    .header(CLIENT_HEADER)
                    .map(|c| String::from_utf8_lossy(c).into_owned()),
                path: None,
                line: None,
                index: None,
            };
            let stored_us = m.timestamp_ms.map_or(now, |t| t * 1000);
            if m.topic == self.topics.raw_xapi {
                self.xapi(m, origin, stored_us, out)?;
            } else if m.topic == self.topics.raw_caliper {
                self.caliper(m, origin, stored_us, out)?;
            } else {
                let p = Problems::one(
                    "input.topic",
                    &Path::Root,
                    format!("ingest does not read topic {}", m.topic),
                );
                self.reject(
                    out,
                    "unknown",
                    origin,
                    &p,
                    m.payload.as_deref().unwrap_or_default(),
                )?;
            }
        }
        Ok(())
    }
}
