//! The sink loop: read a batch, write it to the store in one transaction,
//! dead-letter what cannot be stored, and only then acknowledge the batch,
//! so its offsets are committed only after the store commit (DESIGN.md §7).
//!
//! A failed write is retried with exponential backoff for as long as it
//! takes: the sink reports not-ready (`/readyz`, `lap_sink_store_down`) and
//! reads nothing new meanwhile, so an outage delays rows but never loses or
//! skips one. On SIGTERM during an outage the unwritten batch stays
//! unacknowledged and is read again after the restart.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lap_runtime::health::Health;
use lap_runtime::transport::{Batch, CloseReport, OutRecord, RecordSink, Source, TransportError};
use lap_schemas::{CodecError, DeadLetter, Origin, Problem, encode};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::SinkMetrics;
use crate::rows::{Decoded, Rejected, Rows, SinkTopics, decode_batch};
use crate::store::{Store, Written};

/// Waits between attempts of one failed write: `initial`, doubling up to `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

/// Failures that stop the sink: the transport, never the data or the store.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Reading, dead-lettering or committing failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A dead letter could not be encoded.
    #[error("cannot encode a dead letter: {0}")]
    Encode(#[from] CodecError),
}

/// The sink stage: the stores, the dead-letter producer and the bookkeeping.
pub struct Sink<St, K> {
    stores: Vec<St>,
    dlq: K,
    dlq_topic: Arc<str>,
    topics: SinkTopics,
    backoff: Backoff,
    metrics: SinkMetrics,
    health: Health,
}

impl<St: Store, K: RecordSink> Sink<St, K> {
    /// A sink writing every batch to each of `stores` in turn,
    /// dead-lettering to `dlq_topic` through `dlq`.
    pub fn new(
        stores: Vec<St>,
        dlq: K,
        dlq_topic: &str,
        topics: SinkTopics,
        backoff: Backoff,
        metrics: SinkMetrics,
        health: Health,
    ) -> Self {
        for store in &stores {
            health.set_check(store.name(), false, "not connected yet");
        }
        Sink {
            stores,
            dlq,
            dlq_topic: dlq_topic.into(),
            topics,
            backoff,
            metrics,
            health,
        }
    }

    /// Connects to the stores and prepares them (migrations, tables),
    /// retrying until they work or `stop` is cancelled (then `false`).
    pub async fn prepare(&mut self, stop: &CancellationToken) -> bool {
        self.write_all(&Rows::default(), stop).await.is_some()
    }

    /// Runs until the source ends or `stop` is cancelled, then waits up to
    /// `grace` for acknowledgements and commits.
    pub async fn run<S: Source>(
        &mut self,
        mut source: S,
        stop: &CancellationToken,
        grace: Duration,
    ) -> Result<CloseReport, SinkError> {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled(), if !stopping => {
                    source.stop();
                    stopping = true;
                }
                _ = ticker.tick() => self.health.beat(),
                next = source.next_batch() => {
                    let Some(batch) = next? else { break };
                    self.health.beat();
                    if !self.handle(batch, stop).await? {
                        break;
                    }
                }
            }
        }
        let close = source.close(grace).await?;
        info!(
            committed_partitions = close.committed.len(),
            unacknowledged = close.unacknowledged,
            "sink stopped"
        );
        Ok(close)
    }

    /// Stores one batch and acknowledges it. `false` when stopped during a
    /// store outage: the batch stays unacknowledged.
    pub async fn handle(
        &mut self,
        batch: Batch,
        stop: &CancellationToken,
    ) -> Result<bool, SinkError> {
        let decoded = decode_batch(&batch.messages, &self.topics);
        let Decoded {
            rows,
            rejected,
            tombstones,
            superseded,
        } = decoded;
        self.metrics.tombstones.inc_by(tombstones as u64);
        if superseded > 0 {
            self.metrics
                .rows
                .with_label_values(&["*", "*", "superseded"])
                .inc_by(superseded as u64);
        }
        if !rows.is_empty() {
            let Some(written) = self.write_all(&rows, stop).await else {
                return Ok(false);
            };
            for (store, written) in self.stores.iter().zip(&written) {
                self.count(store.name(), &rows, written);
            }
        }
        let mut pending = Vec::with_capacity(rejected.len());
        for r in &rejected {
            self.metrics.rejected.with_label_values(&[r.code]).inc();
            let record = OutRecord::new(self.dlq_topic.clone(), None, dead_letter(r)?);
            pending.push(self.dlq.send(record).await?);
        }
        for p in pending {
            p.await?;
        }
        batch.acker().ack(batch.messages.iter().map(|m| m.id()));
        Ok(true)
    }

    /// Writes `rows` to every store at once, each until it accepts, so
    /// one store's commit time is not added to the other's latency. `None`
    /// once `stop` is cancelled while a store is down. The stores are
    /// idempotent, so a batch one of them already holds may be written to
    /// it again after a restart.
    async fn write_all(&mut self, rows: &Rows, stop: &CancellationToken) -> Option<Vec<Written>> {
        let retry = Retry {
            backoff: self.backoff,
            metrics: &self.metrics,
            health: &self.health,
            stop,
        };
        let writes = self.stores.iter_mut().map(|store| retry.write(store, rows));
        futures::future::join_all(writes)
            .await
            .into_iter()
            .collect()
    }

    fn count(&self, store: &str, rows: &Rows, written: &Written) {
        for (table, took) in &written.took {
            self.metrics
                .table_write_seconds
                .with_label_values(&[store, table])
                .observe(took.as_secs_f64());
        }
        for (table, batch) in &rows.indicators {
            let changed = written.indicators_changed.get(table).copied().unwrap_or(0);
            let stale = (batch.len() as u64).saturating_sub(changed);
            self.metrics
                .rows
                .with_label_values(&[store, table, "written"])
                .inc_by(changed);
            self.metrics
                .rows
                .with_label_values(&[store, table, "stale"])
                .inc_by(stale);
        }
        let stale = (rows.events.len() as u64).saturating_sub(written.events_inserted);
        let events = self
            .metrics
            .rows
            .with_label_values(&[store, "events", "written"]);
        events.inc_by(written.events_inserted);
        self.metrics
            .rows
            .with_label_values(&[store, "events", "stale"])
            .inc_by(stale);
    }
}

/// What a store write needs besides the store: how to wait, where to report.
struct Retry<'a> {
    backoff: Backoff,
    metrics: &'a SinkMetrics,
    health: &'a Health,
    stop: &'a CancellationToken,
}

impl Retry<'_> {
    /// Writes until `store` accepts, or `None` once `stop` is cancelled.
    async fn write<St: Store>(&self, store: &mut St, rows: &Rows) -> Option<Written> {
        let mut wait = self.backoff.initial;
        let name = store.name();
        loop {
            let started = Instant::now();
            match store.write(rows).await {
                Ok(written) => {
                    self.metrics
                        .write_seconds
                        .with_label_values(&[name])
                        .observe(started.elapsed().as_secs_f64());
                    let down = self.metrics.store_down.with_label_values(&[name]);
                    if down.get() != 0 {
                        info!(store = name, "store writable again");
                    }
                    down.set(0);
                    self.health.set_check(name, true, "last write succeeded");
                    return Some(written);
                }
                Err(e) => {
                    self.metrics.store_errors.with_label_values(&[name]).inc();
                    self.metrics.store_down.with_label_values(&[name]).set(1);
                    self.health.set_check(name, false, e.to_string());
                    warn!(error = %e, retry_in_ms = wait.as_millis() as u64, rows = rows.len(), "store write failed; retrying");
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
            // Alive, just waiting: liveness must not restart the pod for it.
            self.health.beat();
            wait = (wait * 2).min(self.backoff.max);
        }
    }
}

/// The dead letter of a rejected message: stable id (a replay writes the
/// same one), original bytes and origin.
fn dead_letter(r: &Rejected<'_>) -> Result<Bytes, CodecError> {
    let m = r.message;
    let received_time = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i64;
    let letter = DeadLetter {
        id: format!("{}/{}/{}", m.topic, m.partition, m.offset),
        stage: "sink".into(),
        received_time,
        origin: Origin::kafka(&m.topic, m.partition, m.offset),
        format: r.format.into(),
        error_code: r.code.into(),
        message: r.reason.clone(),
        problems: vec![Problem {
            code: r.code.into(),
            path: "$".into(),
            message: r.reason.clone(),
        }],
        payload: m.payload.as_deref().unwrap_or_default().to_vec(),
    };
    Ok(Bytes::from(encode(&letter)?))
}
