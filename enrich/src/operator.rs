//! The enrich [`Operator`]: `LearningEvent`s in, `EnrichedEvent`s out.
//!
//! An event that does not match the roster yet is *held*: its input message
//! stays unacknowledged (so a crash replays it) and it is retried whenever
//! the roster changes. After the grace period, or when the hold is full
//! (memory stays bounded), it goes to the unmatched topic with the reason.
//! Opted-out learners' events are dropped and counted. Nothing is dropped
//! silently.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lap_runtime::metrics::observe_since;
use lap_runtime::stage::{Operator, Output, StageError};
use lap_runtime::transport::{Message, MessageId, OutRecord, TopicPartition};
use lap_schemas::{DeadLetter, LearningEvent, Origin, Problem, Role, decode, encode};
use parking_lot::RwLock;
use prometheus::IntCounter;

use crate::join::{JoinOptions, Joined, Unmatched, join};
use crate::metrics::EnrichMetrics;
use crate::pseudonym::Pseudonymiser;
use crate::state::Roster;

/// Topics enrich writes.
#[derive(Clone, Debug)]
pub struct EnrichTopics {
    /// Joined, pseudonymised events.
    pub enriched: Arc<str>,
    /// Events with no roster match after the grace period.
    pub unmatched: Arc<str>,
    /// Input that is not a `LearningEvent`.
    pub dlq: Arc<str>,
}

/// How long and how many events are held for a late roster.
#[derive(Clone, Debug)]
pub struct HoldPolicy {
    /// Time an unmatched event waits for its roster records.
    pub grace: Duration,
    /// Most events held at once; beyond it the oldest is routed on.
    pub max_held: usize,
}

struct Held {
    id: MessageId,
    origin: Origin,
    payload: Bytes,
    event: LearningEvent,
    since: SystemTime,
    why: Unmatched,
}

/// The enrich stage logic.
pub struct Enrich {
    roster: Arc<RwLock<Roster>>,
    keys: Pseudonymiser,
    opts: JoinOptions,
    topics: EnrichTopics,
    policy: HoldPolicy,
    held: VecDeque<Held>,
    tried_at_version: u64,
    metrics: EnrichMetrics,
    /// `metrics.enriched` by role, resolved once rather than per event.
    enriched_by_role: Vec<IntCounter>,
}

fn now_us(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn encode_err(e: impl std::fmt::Display) -> StageError {
    StageError::Operator {
        stage: "enrich",
        message: format!("cannot encode an output record: {e}"),
    }
}

impl Enrich {
    /// An operator over the shared `roster` (kept current by the roster feed).
    pub fn new(
        roster: Arc<RwLock<Roster>>,
        keys: Pseudonymiser,
        opts: JoinOptions,
        topics: EnrichTopics,
        policy: HoldPolicy,
        metrics: EnrichMetrics,
    ) -> Self {
        Enrich {
            roster,
            keys,
            opts,
            topics,
            policy,
            held: VecDeque::new(),
            tried_at_version: 0,
            enriched_by_role: Role::ALL
                .iter()
                .map(|r| metrics.enriched.with_label_values(&[r.as_str()]))
                .collect(),
            metrics,
        }
    }

    /// Events held right now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn join(&self, event: &LearningEvent) -> Joined {
        join(&self.roster.read(), event, &self.keys, &self.opts)
    }

    /// Emits what a join produced; returns the reason when unmatched.
    fn emit(&self, joined: Joined, out: &mut Output) -> Result<Option<Unmatched>, StageError> {
        match joined {
            Joined::Enriched(e) => {
                self.enriched_by_role[e.role as usize].inc();
                observe_since(&self.metrics.latency, e.event_time);
                // Keyed by school (else class, else learner): aggregate
                // computes class and school rows from one partition's
                // events, so all of a school's must share one.
                let key = e
                    .school_id
                    .as_ref()
                    .or(e.class_id.as_ref())
                    .unwrap_or(&e.person_key);
                let key = Bytes::from(key.clone());
                let payload = encode(e.as_ref()).map_err(encode_err)?;
                out.emit(OutRecord::new(
                    self.topics.enriched.clone(),
                    Some(key),
                    Bytes::from(payload),
                ));
                Ok(None)
            }
            Joined::OptedOut => {
                let tenant = self.roster.read().tenant().to_string();
                self.metrics.opted_out.with_label_values(&[&tenant]).inc();
                Ok(None)
            }
            Joined::Unmatched(u) => Ok(Some(u)),
        }
    }

    fn dead_letter(
        &self,
        out: &mut Output,
        topic: &Arc<str>,
        origin: Origin,
        code: &str,
        message: String,
        payload: &[u8],
    ) -> Result<(), StageError> {
        let letter = DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            stage: "enrich".into(),
            received_time: now_us(SystemTime::now()),
            origin,
            format: "avro/LearningEvent".into(),
            error_code: code.into(),
            message: message.clone(),
            problems: vec![Problem {
                code: code.into(),
                path: "$".into(),
                message,
            }],
            payload: payload.to_vec(),
        };
        let bytes = encode(&letter).map_err(encode_err)?;
        out.emit(OutRecord::new(topic.clone(), None, Bytes::from(bytes)));
        Ok(())
    }

    /// Routes a held event to the unmatched topic and lets its input go.
    fn give_up(&self, h: Held, out: &mut Output) -> Result<(), StageError> {
        self.metrics
            .unmatched
            .with_label_values(&[h.why.code])
            .inc();
        let waited = h.since.elapsed().unwrap_or_default().as_secs();
        let message = format!("{} (held {waited} s)", h.why.reason);
        let topic = self.topics.unmatched.clone();
        self.dead_letter(out, &topic, h.origin, h.why.code, message, &h.payload)?;
        out.release([h.id]);
        Ok(())
    }

    /// Retries every held event if the roster changed since the last try.
    fn retry(&mut self, out: &mut Output) -> Result<(), StageError> {
        let version = self.roster.read().version();
        if version == self.tried_at_version {
            return Ok(());
        }
        self.tried_at_version = version;
        let mut still = VecDeque::with_capacity(self.held.len());
        for mut h in std::mem::take(&mut self.held) {
            match self.emit(self.join(&h.event), out)? {
                None => {
                    self.metrics
                        .rejoined
                        .with_label_values(&[self.roster.read().tenant()])
                        .inc();
                    out.release([h.id]);
                }
                Some(why) => {
                    h.why = why;
                    still.push_back(h);
                }
            }
        }
        self.held = still;
        self.metrics.held.set(self.held.len() as i64);
        Ok(())
    }
}

impl Operator for Enrich {
    fn name(&self) -> &'static str {
        "enrich"
    }

    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError> {
        self.retry(out)?;
        out.reserve(batch.len());
        let now = SystemTime::now();
        for m in batch {
            let Some(payload) = &m.payload else { continue };
            let origin = || Origin::kafka(&m.topic, m.partition, m.offset);
            let event: LearningEvent = match decode(payload) {
                Ok(e) => e,
                Err(e) => {
                    let dlq = self.topics.dlq.clone();
                    let msg =
                        format!("not a LearningEvent: {e}; only ingest should write this topic");
                    self.dead_letter(out, &dlq, origin(), "enrich.decode", msg, payload)?;
                    continue;
                }
            };
            if let Some(why) = self.emit(self.join(&event), out)? {
                if self.held.len() >= self.policy.max_held
                    && let Some(oldest) = self.held.pop_front()
                {
                    self.give_up(oldest, out)?;
                }
                out.hold(m.id());
                self.held.push_back(Held {
                    id: m.id(),
                    origin: origin(),
                    payload: payload.clone(),
                    event,
                    since: now,
                    why,
                });
            }
        }
        self.metrics.held.set(self.held.len() as i64);
        self.metrics
            .roster_records
            .set(self.roster.read().len() as i64);
        Ok(())
    }

    fn on_tick(&mut self, now: SystemTime, out: &mut Output) -> Result<(), StageError> {
        self.retry(out)?;
        while let Some(h) = self.held.front() {
            if now.duration_since(h.since).unwrap_or_default() < self.policy.grace {
                break;
            }
            let h = self.held.pop_front().expect("front exists");
            self.give_up(h, out)?;
        }
        self.metrics.held.set(self.held.len() as i64);
        self.metrics
            .roster_records
            .set(self.roster.read().len() as i64);
        Ok(())
    }

    fn on_end_of_input(&mut self, out: &mut Output) -> Result<(), StageError> {
        self.retry(out)?;
        while let Some(h) = self.held.pop_front() {
            self.give_up(h, out)?;
        }
        self.metrics.held.set(0);
        Ok(())
    }

    /// Forgets the events held of revoked partitions, without output: their
    /// new owner reads them again from the last commit and holds them itself.
    fn on_revoke(&mut self, partitions: &[TopicPartition]) {
        self.held.retain(|h| !partitions.contains(&h.id.tp));
        self.metrics.held.set(self.held.len() as i64);
    }
}
