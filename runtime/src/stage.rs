//! Running transport-free stage logic over any [`Source`] and [`RecordSink`].
//!
//! A stage is an [`Operator`]: a pure transformation from input messages to
//! output records plus whatever state it keeps. [`run`] connects it to a
//! transport: it feeds batches in, sends what the operator emits, and
//! acknowledges each input message once everything emitted for it is durable.
//! The same operator runs inside `lap run` (in-memory transport) and inside
//! a Kubernetes pod (Kafka); it never learns which.
//!
//! State that belongs to an input partition (a *task*, as Kafka Streams
//! calls it) follows the partition through rebalances: when a partition is
//! assigned, [`run`] reads the operator's changelog partition of the same
//! number into [`Operator::restore`] before the operator sees a message of
//! it, and waits until what [`Operator::on_assign`] emits is durable; when
//! it is revoked, [`Operator::on_revoke`] drops the task, [`run`] waits
//! for every delivery in flight and gives up the messages the operator
//! held, so the new owner reads them again and nothing is counted twice.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{FuturesUnordered, StreamExt};
use prometheus::IntCounterVec;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::transport::{
    Acker, CloseReport, Message, MessageId, OutRecord, Rebalance, RecordSink, Source,
    TopicPartition, TransportError,
};

/// Errors that stop a stage. Bad *input* is never one of them: operators turn
/// it into dead letters. These are failures of the machinery around it.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Reading, writing or committing failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The operator hit a condition it cannot continue from.
    #[error("{stage}: {message}")]
    Operator {
        /// Stage name.
        stage: &'static str,
        /// What went wrong and what to do about it.
        message: String,
    },
}

/// What an operator emits while handling a batch or a tick.
#[derive(Debug, Default)]
pub struct Output {
    records: Vec<OutRecord>,
    after: Vec<OutRecord>,
    held: HashSet<MessageId>,
    released: Vec<MessageId>,
    resume: bool,
    input_time: Duration,
}

impl Output {
    /// An empty output stamped with the stage's input time (see
    /// [`input_time`](Self::input_time)).
    fn at(input_time: Duration) -> Output {
        Output {
            input_time,
            ..Output::default()
        }
    }

    /// How long the stage had been ready for input when this call began:
    /// wall-clock time that stops while the operator works, its output is
    /// handed over, or deliveries in flight hold input back. Timeouts that
    /// mean "this input has gone quiet" (an idle partition) must use it,
    /// not the wall clock: a stage busy for seconds on an emission has not
    /// read anything in that time, quiet partition or not.
    pub fn input_time(&self) -> Duration {
        self.input_time
    }

    /// Emits a record.
    pub fn emit(&mut self, record: OutRecord) {
        self.records.push(record);
    }

    /// Emits a record only once every record [`emit`](Self::emit)ted in the
    /// same call is durable, and before the call's messages are acknowledged:
    /// for state checkpoints that must never be visible without the results
    /// they describe (a crash in between makes the stage redo the results).
    pub fn emit_after_durable(&mut self, record: OutRecord) {
        self.after.push(record);
    }

    /// Makes room for `n` more records, for operators that know how many a
    /// batch yields (growing the list copies it).
    pub fn reserve(&mut self, n: usize) {
        self.records.reserve(n);
    }

    /// Keeps an input message of the current batch unacknowledged after this
    /// call: the operator still needs it (e.g. an event waiting for its roster
    /// record). It must later be [`release`](Self::release)d.
    pub fn hold(&mut self, id: MessageId) {
        self.held.insert(id);
    }

    /// Acknowledges previously held messages once the records emitted in this
    /// same call are durable.
    pub fn release(&mut self, ids: impl IntoIterator<Item = MessageId>) {
        self.released.extend(ids);
    }

    /// Asks to be called again, through [`Operator::resume`], once this
    /// call's records are handed to the producer and before any new input:
    /// an operator splits a large emission this way, so only one part of
    /// it is in memory at a time, and a later part's acknowledgements and
    /// [`emit_after_durable`](Self::emit_after_durable) records wait until
    /// every earlier part is durable.
    pub fn resume_later(&mut self) {
        self.resume = true;
    }

    /// Records emitted so far (for tests and the embedded summary).
    pub fn records(&self) -> &[OutRecord] {
        &self.records
    }

    /// Records emitted with [`emit_after_durable`](Self::emit_after_durable).
    pub fn records_after_durable(&self) -> &[OutRecord] {
        &self.after
    }
}

/// Transport-free stage logic.
pub trait Operator: Send {
    /// Stage name for metrics and logs.
    fn name(&self) -> &'static str;

    /// Handles one batch of input messages. Every message is acknowledged
    /// after this call's emitted records are durable, unless held.
    fn process_batch(&mut self, batch: &[Message], out: &mut Output) -> Result<(), StageError>;

    /// Called every tick interval with the wall-clock time, for timers
    /// (grace periods, provisional window emissions, idle partitions).
    fn on_tick(&mut self, _now: SystemTime, _out: &mut Output) -> Result<(), StageError> {
        Ok(())
    }

    /// Called once when the input has ended for good (a finished embedded
    /// run), not on shutdown: flush everything that was waiting for more input.
    fn on_end_of_input(&mut self, _out: &mut Output) -> Result<(), StageError> {
        Ok(())
    }

    /// Continues the work of a call that asked for it with
    /// [`Output::resume_later`]; called until a call no longer asks.
    fn resume(&mut self, _out: &mut Output) -> Result<(), StageError> {
        Ok(())
    }

    /// The compacted topic holding the state of this stage's tasks, if it
    /// keeps any: partition *n* of it is the changelog of input partition
    /// *n* (co-partitioned), written with [`OutRecord::to_partition`] and
    /// read back into [`Operator::restore`] when the partition is assigned.
    fn changelog(&self) -> Option<Arc<str>> {
        None
    }

    /// One record of the changelog of input partition `tp`, in offset
    /// order, while `tp` is being assigned (before [`Operator::on_assign`]).
    fn restore(&mut self, _tp: &TopicPartition, _record: &Message) -> Result<(), StageError> {
        Ok(())
    }

    /// `partitions` now belong to this instance, their changelogs
    /// restored. What this call emits is durable before any message of
    /// them is processed (e.g. a record that fences earlier owners).
    fn on_assign(
        &mut self,
        _partitions: &[TopicPartition],
        _out: &mut Output,
    ) -> Result<(), StageError> {
        Ok(())
    }

    /// `partitions` no longer belong to this instance: drop their tasks'
    /// state and forget the messages held of them, without acknowledging
    /// them (their new owner reads them again). Everything already emitted
    /// becomes durable before the partitions go; nothing may be emitted for
    /// them any more.
    fn on_revoke(&mut self, _partitions: &[TopicPartition]) {}
}

/// Accumulates the time [`run`] spends ready for input (see
/// [`Output::input_time`]).
#[derive(Debug, Default)]
struct InputClock {
    before: Duration,
    since: Option<Instant>,
}

impl InputClock {
    fn now(&self) -> Duration {
        self.before + self.since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Runs the clock while `ready`, stops it otherwise.
    fn ready(&mut self, ready: bool) {
        match (ready, self.since) {
            (true, None) => self.since = Some(Instant::now()),
            (false, Some(t)) => {
                self.before += t.elapsed();
                self.since = None;
            }
            _ => {}
        }
    }
}

/// How [`run`] paces itself.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Interval of [`Operator::on_tick`].
    pub tick: Duration,
    /// How long to wait for acknowledgements when closing.
    pub grace: Duration,
    /// Batches whose deliveries may be awaited concurrently.
    pub max_in_flight: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(20),
            max_in_flight: 8,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    /// True when the input ended by itself; false when stopped by the token.
    pub end_of_input: bool,
    /// What the source committed when it closed.
    pub close: CloseReport,
}

type Delivery = Pin<Box<dyn std::future::Future<Output = Result<(), TransportError>> + Send>>;

/// Runs `op` until the source ends or `stop` is cancelled, then drains
/// deliveries, commits and closes the source.
pub async fn run<S, K, O>(
    mut source: S,
    sink: K,
    mut op: O,
    opts: RunOptions,
    metrics: Metrics,
    health: Health,
    stop: CancellationToken,
) -> Result<(O, RunReport), StageError>
where
    S: Source,
    K: RecordSink,
    O: Operator,
{
    let stage = op.name();
    let mut in_flight: FuturesUnordered<Delivery> = FuturesUnordered::new();
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    let mut clock = InputClock::default();
    let end_of_input;
    loop {
        clock.ready(in_flight.len() < opts.max_in_flight);
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !stopping => {
                source.stop();
                stopping = true;
            }
            Some(done) = in_flight.next() => done?,
            _ = ticker.tick() => {
                clock.ready(false);
                health.beat();
                let mut out = Output::at(clock.now());
                op.on_tick(SystemTime::now(), &mut out)?;
                // Awaited before `push` (which takes `&self`), so no borrow of
                // the non-Sync set spans an await and the loop can be spawned.
                let delivery = deliver(&sink, &metrics, &mut op, out, Vec::new(), source.acker()).await?;
                in_flight.push(delivery);
            }
            next = source.next_batch(), if in_flight.len() < opts.max_in_flight => {
                let Some(batch) = next? else {
                    end_of_input = !stopping;
                    break;
                };
                clock.ready(false);
                health.beat();
                match &batch.rebalance {
                    Some(Rebalance::Assigned(partitions)) => {
                        restore(&source, &mut op, partitions, &metrics, &health)?;
                        let mut out = Output::at(clock.now());
                        op.on_assign(partitions, &mut out)?;
                        deliver(&sink, &metrics, &mut op, out, Vec::new(), source.acker()).await?.await?;
                        continue;
                    }
                    Some(Rebalance::Revoked { partitions, lost }) => {
                        op.on_revoke(partitions);
                        while let Some(done) = in_flight.next().await {
                            done?;
                        }
                        source.acker().abandon_partitions(partitions);
                        info!(stage, ?partitions, lost, "partitions handed over");
                        continue;
                    }
                    None => {}
                }
                let started = Instant::now();
                count_by_topic(&metrics.records_in, stage, batch.messages.iter().map(|m| &m.topic));
                let mut out = Output::at(clock.now());
                op.process_batch(&batch.messages, &mut out)?;
                metrics.batch_seconds.with_label_values(&[stage]).observe(started.elapsed().as_secs_f64());
                let acker = batch.acker();
                let delivery = deliver(&sink, &metrics, &mut op, out, batch.messages, acker).await?;
                in_flight.push(delivery);
            }
        }
    }
    if end_of_input {
        let mut out = Output::at(clock.now());
        op.on_end_of_input(&mut out)?;
        let delivery = deliver(&sink, &metrics, &mut op, out, Vec::new(), source.acker()).await?;
        in_flight.push(delivery);
    }
    while let Some(done) = in_flight.next().await {
        done?;
    }
    // Nothing acknowledges what the operator still holds any more: its
    // partitions' next reader reads it again, and closing need not wait.
    source.acker().abandon_outstanding();
    sink.flush(opts.grace).await?;
    let close = source.close(opts.grace).await?;
    info!(
        stage,
        end_of_input,
        committed_partitions = close.committed.len(),
        unacknowledged = close.unacknowledged,
        "stage stopped"
    );
    Ok((
        op,
        RunReport {
            end_of_input,
            close,
        },
    ))
}

/// Reads the changelog partition of each of `partitions` into the
/// operator (readiness is withheld meanwhile), logging progress and
/// counting records and seconds.
fn restore<S: Source, O: Operator>(
    source: &S,
    op: &mut O,
    partitions: &[TopicPartition],
    metrics: &Metrics,
    health: &Health,
) -> Result<(), StageError> {
    let Some(topic) = op.changelog() else {
        return Ok(());
    };
    let stage = op.name();
    for tp in partitions {
        health.set_check(
            "restore",
            false,
            format!("restoring the state of {}/{}", tp.topic, tp.partition),
        );
        let started = Instant::now();
        let mut last_log = started;
        let (mut read, mut failed) = (0u64, None);
        let mut apply = |m: Message| {
            read += 1;
            if failed.is_none()
                && let Err(e) = op.restore(tp, &m)
            {
                failed = Some(e);
            }
            if read.is_multiple_of(10_000) && last_log.elapsed() >= Duration::from_secs(2) {
                last_log = Instant::now();
                info!(
                    stage,
                    partition = tp.partition,
                    records = read,
                    "restoring state"
                );
            }
        };
        let mut read_all = || source.read_partition(&topic, tp.partition, &mut apply);
        // Reading a large changelog from a broker blocks for seconds: off
        // the async worker where the runtime allows it.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let n = if multi_thread {
            tokio::task::block_in_place(read_all)?
        } else {
            read_all()?
        };
        if let Some(e) = failed {
            return Err(e);
        }
        let seconds = started.elapsed().as_secs_f64();
        metrics
            .restore_records
            .with_label_values(&[stage])
            .inc_by(n);
        metrics
            .restore_seconds
            .with_label_values(&[stage])
            .observe(seconds);
        info!(
            stage,
            partition = tp.partition,
            records = n,
            seconds,
            records_per_second = (n as f64 / seconds.max(1e-9)).round(),
            "state restored"
        );
    }
    health.set_check("restore", true, "every assigned partition's state restored");
    Ok(())
}

/// Dispatches `out` and, while the operator asks to resume, the parts it
/// emits next, each once the previous one is handed to the producer (whose
/// bounded queue makes a fast operator wait), so an emission in parts holds
/// one part in memory. Each part's delivery waits for the part before it,
/// so a later part's after-durable records and acknowledgements follow
/// every earlier part; the returned delivery is the last part's.
async fn deliver<K: RecordSink, O: Operator>(
    sink: &K,
    metrics: &Metrics,
    op: &mut O,
    out: Output,
    batch: Vec<Message>,
    acker: Acker,
) -> Result<Delivery, StageError> {
    let (mut resume, input_time) = (out.resume, out.input_time);
    let mut delivery = dispatch(sink, metrics, op.name(), out, batch, acker.clone(), None).await?;
    while resume {
        let mut out = Output::at(input_time);
        op.resume(&mut out)?;
        resume = out.resume;
        let earlier = Some(delivery);
        delivery = dispatch(
            sink,
            metrics,
            op.name(),
            out,
            Vec::new(),
            acker.clone(),
            earlier,
        )
        .await?;
    }
    Ok(delivery)
}

/// Enqueues the emitted records in order and returns a future that resolves
/// once they and the `earlier` part of the same output, if any, are
/// durable; then it writes the after-durable records and acknowledges the
/// batch's messages (minus held ones) and the released ones.
async fn dispatch<K: RecordSink>(
    sink: &K,
    metrics: &Metrics,
    stage: &'static str,
    out: Output,
    batch: Vec<Message>,
    acker: Acker,
    earlier: Option<Delivery>,
) -> Result<Delivery, TransportError> {
    let written = out.records.iter().chain(&out.after).map(|r| &r.topic);
    count_by_topic(&metrics.records_out, stage, written);
    let mut pending = Vec::with_capacity(out.records.len());
    for record in out.records {
        pending.push(sink.send(record).await?);
    }
    let (after, sink) = (out.after, sink.clone());
    let mut acks: Vec<MessageId> = batch
        .iter()
        .map(Message::id)
        .filter(|id| !out.held.contains(id))
        .collect();
    acks.extend(out.released);
    Ok(Box::pin(async move {
        if let Some(earlier) = earlier {
            earlier.await?;
        }
        for p in pending {
            p.await?;
        }
        let mut pending = Vec::with_capacity(after.len());
        for record in after {
            pending.push(sink.send(record).await?);
        }
        for p in pending {
            p.await?;
        }
        acker.ack(acks);
        Ok(())
    }))
}

/// Adds the records of each topic to `counter{stage, topic}`, one update
/// per run of records of the same topic: finding a labelled counter hashes
/// its labels and takes a lock, which done per record was part of every
/// stage hop's CPU (see `benches/transport.rs`).
fn count_by_topic<'a>(
    counter: &IntCounterVec,
    stage: &str,
    topics: impl Iterator<Item = &'a Arc<str>>,
) {
    let mut run: Option<(&Arc<str>, u64)> = None;
    for topic in topics {
        match &mut run {
            Some((t, n)) if Arc::ptr_eq(t, topic) || **t == *topic => *n += 1,
            _ => {
                if let Some((t, n)) = run.replace((topic, 1)) {
                    counter.with_label_values(&[stage, t]).inc_by(n);
                }
            }
        }
    }
    if let Some((t, n)) = run {
        counter.with_label_values(&[stage, t]).inc_by(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_by_topic_however_the_topics_interleave() {
        let metrics = Metrics::new("count-test");
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        // A second `a` that is equal but not the interned one.
        let other_a: Arc<str> = Arc::from("a");
        let topics = [&a, &a, &b, &other_a, &b, &b, &a];
        count_by_topic(&metrics.records_out, "s", topics.into_iter());
        count_by_topic(&metrics.records_out, "s", std::iter::empty());
        let count = |t: &str| metrics.records_out.with_label_values(&["s", t]).get();
        assert_eq!((count("a"), count("b")), (4, 3));
    }
}
