//! The sink loop: read a batch, dead-letter what cannot be stored, hand
//! its rows to every store's writers, and acknowledge the batch only once
//! every writer has committed it, so its offsets are committed only after
//! the store commits. Each store has two writers, one for
//! indicator rows and one for event rows, and all write independently: a
//! fast store does not wait for a slow one, event rows do not wait behind
//! a large indicator upsert, and a writer that falls behind catches up
//! with one commit for what queued up. A store with a commit interval (the
//! lake) is written at most once per interval, with what arrived meanwhile,
//! unless reading has paused for the writers: then waiting would only idle.
//!
//! A failed write is retried with exponential backoff for as long as it
//! takes: the sink reports not-ready (`/readyz`, `lap_sink_store_down`) and,
//! once `sink.max_waiting_messages` messages wait, reads nothing new, so an
//! outage delays rows but never loses or skips one. On SIGTERM during an outage the
//! unwritten batches stay unacknowledged and are read again after the
//! restart.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lap_runtime::config::SinkConfig;
use lap_runtime::health::Health;
use lap_runtime::metrics::observe_since;
use lap_runtime::transport::{Batch, CloseReport, OutRecord, RecordSink, Source, TransportError};
use lap_schemas::{CodecError, DeadLetter, Origin, Problem, encode};
use tokio::sync::{mpsc, watch};
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
    /// Messages read but not in every store yet at most (see [`Sink::max_waiting`]).
    max_waiting: usize,
}

impl<St: Store + 'static, K: RecordSink> Sink<St, K> {
    /// A sink writing every batch to each of `stores`, dead-lettering to
    /// `dlq_topic` through `dlq`.
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
            max_waiting: SinkConfig::default().max_waiting_messages,
        }
    }

    /// Reads nothing new while `messages` read messages are not yet in
    /// every store (`sink.max_waiting_messages`).
    pub fn max_waiting(mut self, messages: usize) -> Self {
        self.max_waiting = messages.max(1);
        self
    }

    /// Connects to the stores and prepares them (migrations, tables),
    /// retrying until they work or `stop` is cancelled (then `false`).
    pub async fn prepare(&mut self, stop: &CancellationToken) -> bool {
        let retries: Vec<Retry> = self.stores.iter().map(|_| self.retry(stop)).collect();
        let empty = Rows::default();
        let writes = (self.stores.iter_mut())
            .zip(&retries)
            .map(|(s, retry)| retry.write(s, &empty));
        futures::future::join_all(writes)
            .await
            .into_iter()
            .all(|w| w.is_some())
    }

    /// Retry state for one store's writers (they share its down count).
    fn retry(&self, stop: &CancellationToken) -> Retry {
        Retry {
            backoff: self.backoff,
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            stop: stop.clone(),
            down: Arc::default(),
        }
    }

    /// Runs until the source ends or `stop` is cancelled, then waits up to
    /// `grace` for acknowledgements and commits.
    ///
    /// Each store has two writer tasks, fed in order with every batch's
    /// indicator rows and event rows, so a fast store (PostgreSQL, what
    /// teachers' dashboards read) does not wait for a slow one (the lake's
    /// commits), and a statement's row does not wait while a provisional
    /// emission's thousands of learner rows are upserted. A writer that
    /// falls behind writes what queued up in one commit, and one whose
    /// store has a [`Store::commit_interval`] waits for it to pass since
    /// its last write, gathering what arrives (a stop ends the wait at
    /// once, and so does reading pausing). A batch is acknowledged once
    /// every writer holds it, in order; once [`Sink::max_waiting`]
    /// messages wait, reading pauses.
    pub async fn run<S: Source>(
        &mut self,
        mut source: S,
        stop: &CancellationToken,
        grace: Duration,
    ) -> Result<CloseReport, SinkError> {
        let (done_tx, mut done) = mpsc::unbounded_channel();
        // True while reading waits for the writers (a backlog): no writer
        // then waits for its interval.
        let (paused_tx, paused) = watch::channel(false);
        let mut queues = Vec::new();
        let mut writers = FuturesUnordered::new();
        for store in std::mem::take(&mut self.stores) {
            let retry = self.retry(stop);
            let events = store.handle();
            // Even queues take indicator rows, odd ones event rows (as
            // `Rows::split` orders them); only the first handle is kept.
            for (handle, keep) in [(store, true), (events, false)] {
                let (tx, rx) = mpsc::unbounded_channel();
                let writer = write_loop(
                    queues.len(),
                    handle,
                    (rx, paused.clone()),
                    done_tx.clone(),
                    retry.clone(),
                );
                queues.push(tx);
                writers.push(tokio::spawn(
                    async move { Some(writer.await).filter(|_| keep) },
                ));
            }
        }
        drop(done_tx);
        let mut held = vec![0u64; queues.len()];
        let mut waiting: VecDeque<Waiting> = VecDeque::new();
        let mut waiting_messages = 0;
        let mut seq = 0;
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
                // A writer ends before its queue closes only when `stop` came
                // during an outage, or when it panicked: then the sink must
                // fail, not wait for it forever.
                Some(ended) = writers.next() => self.stores.extend(writer_store(ended)),
                Some((store, upto)) = done.recv() => {
                    held[store] = upto;
                    waiting_messages -= acknowledge(&mut waiting, &held);
                }
                next = source.next_batch(), if waiting_messages < self.max_waiting => {
                    let Some(batch) = next? else { break };
                    self.health.beat();
                    seq += 1;
                    let rows = self.dispatch(&batch).await?;
                    let stored = rows.is_some();
                    if let Some(parts) = rows {
                        for (i, q) in queues.iter().enumerate() {
                            let rows = parts[i % 2].clone();
                            // A closed queue: its writer stopped during an outage.
                            let _ = q.send(Job { seq, rows });
                        }
                    }
                    waiting_messages += batch.messages.len();
                    waiting.push_back(Waiting { seq, stored, batch });
                    waiting_messages -= acknowledge(&mut waiting, &held);
                }
            }
            paused_tx.send_if_modified(|p| {
                let now = waiting_messages >= self.max_waiting;
                std::mem::replace(p, now) != now
            });
        }
        // The writers finish what is queued (or give up once stopped during
        // an outage: those batches stay unacknowledged).
        drop(queues);
        while let Some((store, upto)) = done.recv().await {
            held[store] = upto;
            acknowledge(&mut waiting, &held);
        }
        while let Some(ended) = writers.next().await {
            self.stores.extend(writer_store(ended));
        }
        let close = source.close(grace).await?;
        info!(
            committed_partitions = close.committed.len(),
            unacknowledged = close.unacknowledged,
            "sink stopped"
        );
        Ok(close)
    }

    /// Decodes a batch and dead-letters what cannot be stored; returns the
    /// rows for the stores, if any: the indicator rows and the event rows.
    async fn dispatch(&mut self, batch: &Batch) -> Result<Option<[Arc<Rows>; 2]>, SinkError> {
        let Decoded {
            rows,
            rejected,
            tombstones,
            superseded,
        } = decode_batch(&batch.messages, &self.topics);
        self.metrics.tombstones.inc_by(tombstones as u64);
        if superseded > 0 {
            self.metrics
                .rows
                .with_label_values(&["*", "*", "superseded"])
                .inc_by(superseded as u64);
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
        if rows.is_empty() {
            return Ok(None);
        }
        let (indicators, events) = rows.split();
        Ok(Some([Arc::new(indicators), Arc::new(events)]))
    }
}

/// A read batch waiting for its stores.
struct Waiting {
    seq: u64,
    /// False when it had nothing for the stores (all dead-lettered).
    stored: bool,
    batch: Batch,
}

/// One batch's rows for a store's writer.
struct Job {
    seq: u64,
    rows: Arc<Rows>,
}

/// Acknowledges, in order, the waiting batches every store holds; returns
/// how many messages that acknowledged.
fn acknowledge(waiting: &mut VecDeque<Waiting>, held: &[u64]) -> usize {
    let all = held.iter().copied().min().unwrap_or(u64::MAX);
    let mut messages = 0;
    while let Some(front) = waiting.front() {
        if front.stored && front.seq > all {
            break;
        }
        let done = waiting.pop_front().expect("front exists");
        messages += done.batch.messages.len();
        let ids = done.batch.messages.iter().map(|m| m.id());
        done.batch.acker().ack(ids);
    }
    messages
}

/// A store writer: takes the jobs in order, writes together what queued
/// up meanwhile (and, for a store with a commit interval, what arrives
/// until the interval since its last write has passed or reading pauses),
/// and reports the last batch its store now holds (a batch with nothing
/// for it is held at once). Returns the store when the queue closes, or
/// when `stop` ends an outage.
async fn write_loop<St: Store>(
    index: usize,
    mut store: St,
    (mut jobs, mut paused): (mpsc::UnboundedReceiver<Job>, watch::Receiver<bool>),
    done: mpsc::UnboundedSender<(usize, u64)>,
    retry: Retry,
) -> St {
    let interval = store.commit_interval();
    let mut next_write = tokio::time::Instant::now();
    while let Some(first) = jobs.recv().await {
        let mut parts = vec![first];
        gather(&mut jobs, &mut paused, &mut parts, next_write).await;
        next_write = tokio::time::Instant::now() + interval;
        let upto = parts.last().map_or(0, |j| j.seq);
        let merged;
        let rows = if let [one] = parts.as_slice() {
            one.rows.as_ref()
        } else {
            let superseded;
            (merged, superseded) =
                Rows::merge(std::mem::take(&mut parts).into_iter().map(|j| j.rows));
            retry
                .metrics
                .rows
                .with_label_values(&[store.name(), "*", "superseded"])
                .inc_by(superseded as u64);
            &merged
        };
        if rows.is_empty() {
            let _ = done.send((index, upto));
            continue;
        }
        let Some(written) = retry.write(&mut store, rows).await else {
            break;
        };
        retry.count(store.name(), rows, &written);
        let _ = done.send((index, upto));
    }
    store
}

/// Adds to `parts` every job queued, and those that arrive until `until`
/// (a store's commit interval). The queue closing ends the wait (the sink
/// is stopping and writes what it holds at once), and so does reading
/// pausing for the writers: in a backlog nothing more would arrive, and
/// the batches are large anyway.
async fn gather(
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    paused: &mut watch::Receiver<bool>,
    parts: &mut Vec<Job>,
    until: tokio::time::Instant,
) {
    let wait = tokio::time::sleep_until(until);
    tokio::pin!(wait);
    loop {
        while let Ok(more) = jobs.try_recv() {
            parts.push(more);
        }
        if *paused.borrow_and_update() {
            return;
        }
        tokio::select! {
            biased;
            _ = &mut wait => return,
            more = jobs.recv() => match more {
                Some(job) => parts.push(job),
                None => return,
            },
            changed = paused.changed() => if changed.is_err() {
                return;
            },
        }
    }
}

/// The store a writer task gave back, if it is one to keep; its panic goes
/// on as the sink's.
fn writer_store<St>(ended: Result<Option<St>, tokio::task::JoinError>) -> Option<St> {
    ended.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// What a store write needs besides the store: how to wait, where to report.
#[derive(Clone)]
struct Retry {
    backoff: Backoff,
    metrics: SinkMetrics,
    health: Health,
    stop: CancellationToken,
    /// How many of the store's writers are failing: the store is reported
    /// down (not ready, `lap_sink_store_down` 1) while any is, and up again
    /// only once none is, so two writers never flip the state back and forth.
    down: Arc<AtomicUsize>,
}

impl Retry {
    /// Writes until `store` accepts, or `None` once `stop` is cancelled.
    async fn write<St: Store>(&self, store: &mut St, rows: &Rows) -> Option<Written> {
        let mut wait = self.backoff.initial;
        let name = store.name();
        let mut failing = false;
        loop {
            let started = Instant::now();
            match store.write(rows).await {
                Ok(written) => {
                    self.metrics
                        .write_seconds
                        .with_label_values(&[name])
                        .observe(started.elapsed().as_secs_f64());
                    let still_down = if failing {
                        self.down.fetch_sub(1, Ordering::SeqCst) - 1
                    } else {
                        self.down.load(Ordering::SeqCst)
                    };
                    if still_down == 0 {
                        let down = self.metrics.store_down.with_label_values(&[name]);
                        if down.get() != 0 {
                            info!(store = name, "store writable again");
                        }
                        down.set(0);
                        self.health.set_check(name, true, "last write succeeded");
                    }
                    return Some(written);
                }
                Err(e) => {
                    self.metrics.store_errors.with_label_values(&[name]).inc();
                    if !failing {
                        failing = true;
                        self.down.fetch_add(1, Ordering::SeqCst);
                    }
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

    /// Counts what a write of `rows` to store `store` changed.
    fn count(&self, store: &str, rows: &Rows, written: &Written) {
        // Event time to stored row: an indicator row's newest event, each
        // event's own time.
        let latency = self.metrics.runtime.latency_of("sink", store);
        let newest = rows
            .indicators
            .values()
            .flatten()
            .filter_map(|r| r.newest_event_time);
        for t in newest.chain(rows.events.iter().map(|e| e.event_time)) {
            observe_since(&latency, t);
        }
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
        self.metrics
            .rows
            .with_label_values(&[store, "events", "written"])
            .inc_by(written.events_inserted);
        self.metrics
            .rows
            .with_label_values(&[store, "events", "stale"])
            .inc_by(stale);
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
