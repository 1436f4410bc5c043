//! Consuming from Kafka with offsets stored only after acknowledgement.
//!
//! A dedicated thread owns the consumer: it polls, hands batches to the stage
//! over a bounded channel, and stores the commit points the
//! [`OffsetTracker`] computes from acknowledgements (librdkafka's auto-commit
//! then commits stored offsets; `enable.auto.offset.store=false`).
//!
//! Rebalances reach the stage as [`Rebalance`] notices in the same channel
//! as the batches, so a stage sees an assignment before the first message
//! of the partition and a revocation after the last one; what of a
//! partition still waits in the channel when it is revoked is not handed
//! out any more (its new owner reads it). On a revocation
//! the thread, inside librdkafka's rebalance callback (cooperative-sticky:
//! only the partitions that move), hands the notice over and waits until
//! every message of the revoked partitions is acknowledged or abandoned by
//! the stage, commits synchronously, and only then lets the partitions go.
//! On close it stops polling, waits for everything handed out, commits,
//! and leaves the group.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance as KafkaRebalance,
};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::{TableReader, TopicNames, client_config};
use crate::config::KafkaConfig;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::transport::{
    Acker, Batch, CloseReport, CommitPoint, Message, OffsetTracker, Rebalance, Source,
    TopicPartition, TransportError,
};

/// How often the poll thread checks that the broker answers metadata requests.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// A consumer-group member reading batches from Kafka.
pub struct KafkaSource {
    rx: Option<mpsc::Receiver<Polled>>,
    /// For reading changelog partitions on assignment.
    config: KafkaConfig,
    tracker: Arc<OffsetTracker>,
    shared: Arc<Shared>,
    /// The poll thread's closing report, sent before it drops the consumer.
    done: Option<oneshot::Receiver<Result<CloseReport, TransportError>>>,
    /// The poll thread, joined after its report for at most [`LEAVE_WAIT`].
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long closing waits, after the offsets are committed, for the
/// consumer to leave its group (a few milliseconds when the coordinator
/// answers): long enough that a stopping service's partitions go to the
/// other members at once, bounded because librdkafka's leave was seen to
/// wait forever for an unassignment during a rebalance.
const LEAVE_WAIT: Duration = Duration::from_secs(10);

/// State shared between the source handle and its poll thread.
struct Shared {
    stop: AtomicBool,
    close_deadline: Mutex<Option<Instant>>,
}

/// What the poll thread hands to the stage, in order.
enum Polled {
    Messages(Vec<Message>),
    Notice(Rebalance),
}

struct SourceContext {
    tracker: Arc<OffsetTracker>,
    health: Health,
    metrics: Metrics,
    drain: Duration,
    closing: Arc<Shared>,
    /// The stage's channel, for rebalance notices from the callbacks;
    /// taken when the poll thread finishes, so the channel can close.
    notices: Mutex<Option<mpsc::Sender<Polled>>>,
}

impl SourceContext {
    /// Hands a notice to the stage, waiting while the channel is full;
    /// false when the stage is gone (closing).
    fn notify_stage(&self, notice: Rebalance) -> bool {
        let Some(tx) = self.notices.lock().clone() else {
            return false;
        };
        tx.blocking_send(Polled::Notice(notice)).is_ok()
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &KafkaRebalance<'_>) {
        let KafkaRebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let tps = partitions_of(tpl);
        let lost = consumer.assignment_lost();
        let closing = self.closing.stop.load(Ordering::SeqCst);
        let told = !closing
            && self.notify_stage(Rebalance::Revoked {
                partitions: tps.clone(),
                lost,
            });
        if told && !lost {
            let deadline = Instant::now() + self.drain;
            if !self.tracker.wait_idle(Some(&tps), deadline) {
                warn!(
                    outstanding = self.tracker.outstanding(Some(&tps)),
                    "revoked partitions still had unacknowledged messages after the drain timeout; \
                     they will be processed again by the new owner"
                );
            }
        }
        let points = self.tracker.revoke(&tps);
        if !lost && let Err(e) = commit(consumer, &points, &self.metrics) {
            warn!(error = %e, "commit on revocation failed; the new owner replays from the last commit");
        }
        self.metrics.rebalances.with_label_values(&["revoke"]).inc();
        info!(partitions = ?tps, lost, "partitions revoked");
        self.report_assignment();
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &KafkaRebalance<'_>) {
        match rebalance {
            KafkaRebalance::Assign(tpl) => {
                let tps = partitions_of(tpl);
                info!(partitions = ?tps, "partitions assigned");
                self.tracker.assign(tps.clone());
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                self.report_assignment();
                if !self.closing.stop.load(Ordering::SeqCst) {
                    self.notify_stage(Rebalance::Assigned(tps));
                }
            }
            KafkaRebalance::Error(e) => warn!(error = %e, "rebalance failed"),
            KafkaRebalance::Revoke(_) => {}
        }
    }
}

impl SourceContext {
    fn report_assignment(&self) {
        let n = self.tracker.assigned_count();
        self.health
            .set_check("partitions", n > 0, format!("{n} partitions assigned"));
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: Arc::from(e.topic()),
            partition: e.partition(),
        })
        .collect()
}

fn to_tpl(points: &[CommitPoint]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in points {
        // Adding to a fresh list cannot fail for a non-negative offset.
        let _ = tpl.add_partition_offset(&p.tp.topic, p.tp.partition, Offset::Offset(p.offset));
    }
    tpl
}

/// Commits `points` synchronously, counting the result.
fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    points: &[CommitPoint],
    metrics: &Metrics,
) -> Result<(), rdkafka::error::KafkaError> {
    if points.is_empty() {
        return Ok(());
    }
    let result = consumer.commit(&to_tpl(points), CommitMode::Sync);
    let label = if result.is_ok() { "ok" } else { "error" };
    metrics.commits.with_label_values(&[label]).inc();
    result
}

impl KafkaSource {
    /// Joins `group` and subscribes to `topics`. Polling starts at once on a
    /// background thread; batches wait in a channel of a few batches.
    pub fn subscribe(
        cfg: &KafkaConfig,
        group: &str,
        topics: &[&str],
        health: Health,
        metrics: Metrics,
    ) -> Result<Self, TransportError> {
        let cc = &cfg.consumer;
        let mut c = client_config(cfg, group)?;
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", cc.commit_interval_ms.to_string())
            .set("auto.offset.reset", &cc.auto_offset_reset)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", cc.session_timeout_ms.to_string())
            .set("max.poll.interval.ms", cc.max_poll_interval_ms.to_string())
            .set("statistics.interval.ms", "5000");
        if !cc.group_instance_id.is_empty() {
            c.set("group.instance.id", &cc.group_instance_id);
        }
        let tracker = Arc::new(OffsetTracker::default());
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            close_deadline: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel(4);
        let context = SourceContext {
            tracker: tracker.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            drain: Duration::from_millis(cc.drain_timeout_ms),
            closing: shared.clone(),
            notices: Mutex::new(Some(tx.clone())),
        };
        let consumer: BaseConsumer<SourceContext> = c
            .create_with_context(context)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        consumer
            .subscribe(topics)
            .map_err(|e| TransportError::Setup(format!("subscribe to {topics:?}: {e}")))?;
        health.set_check("partitions", false, "waiting for partition assignment");
        let poll = PollLoop {
            consumer,
            tracker: tracker.clone(),
            shared: shared.clone(),
            health,
            metrics,
            tx,
            batch_max: cc.batch_max,
            linger: Duration::from_millis(cc.batch_linger_ms),
            drain: Duration::from_millis(cc.drain_timeout_ms),
            probe_topic: topics.first().map(|t| t.to_string()),
        };
        let (report, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("poll-{group}"))
            .spawn(move || poll.run(report))
            .map_err(|e| TransportError::Thread(e.to_string()))?;
        Ok(KafkaSource {
            rx: Some(rx),
            config: cfg.clone(),
            tracker,
            shared,
            done: Some(done),
            thread: Some(thread),
        })
    }
}

impl Source for KafkaSource {
    async fn next_batch(&mut self) -> Result<Option<Batch>, TransportError> {
        let Some(rx) = self.rx.as_mut() else {
            return Ok(None);
        };
        let acker = Acker {
            tracker: self.tracker.clone(),
        };
        // What waited in the channel while its partition was revoked (the
        // stage fell behind by more than the drain timeout) belongs to the
        // partition's new owner now: a stale assignment notice or message
        // handed out here would let this member work on, and emit for, a
        // partition another member already restored and took on.
        let held = |tp: &TopicPartition| self.tracker.holds(tp);
        loop {
            return match rx.recv().await {
                Some(Polled::Messages(mut messages)) => {
                    messages.retain(|m| held(&m.topic_partition()));
                    if messages.is_empty() {
                        continue;
                    }
                    Ok(Some(Batch {
                        messages,
                        rebalance: None,
                        acker,
                    }))
                }
                Some(Polled::Notice(mut notice)) => {
                    if let Rebalance::Assigned(tps) = &mut notice {
                        tps.retain(|tp| held(tp));
                    }
                    Ok(Some(Batch {
                        messages: Vec::new(),
                        rebalance: Some(notice),
                        acker,
                    }))
                }
                None => {
                    // The poll thread ended without being asked to: it panicked
                    // (it sends a report on every other way out).
                    let asked = self.shared.stop.load(Ordering::SeqCst);
                    if let (false, Some(done)) = (asked, self.done.as_mut())
                        && let Err(oneshot::error::TryRecvError::Closed) = done.try_recv()
                    {
                        self.done = None;
                        return Err(TransportError::Thread("poll thread panicked".into()));
                    }
                    Ok(None)
                }
            };
        }
    }

    fn acker(&self) -> Acker {
        Acker {
            tracker: self.tracker.clone(),
        }
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        record: &mut dyn FnMut(Message),
    ) -> Result<u64, TransportError> {
        let mut reader =
            TableReader::open_partition(&self.config, topic, partition, Duration::from_secs(30))?;
        reader.catch_up(record, |_, _| {})
    }

    async fn close(mut self, grace: Duration) -> Result<CloseReport, TransportError> {
        *self.shared.close_deadline.lock() = Some(Instant::now() + grace);
        self.stop();
        // Batches still in the channel were never processed: they keep the
        // commit point where it is, and the thread does not wait for them.
        if let Some(mut rx) = self.rx.take() {
            while let Some(polled) = rx.recv().await {
                if let Polled::Messages(batch) = polled {
                    self.tracker.abandon(&batch);
                }
            }
        }
        let report = match self.done.take() {
            Some(done) => done
                .await
                .map_err(|_| TransportError::Thread("poll thread panicked".into()))?,
            None => Ok(CloseReport::default()),
        };
        if let Some(thread) = self.thread.take() {
            let left = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(LEAVE_WAIT, left).await.is_err() {
                warn!(
                    wait_s = LEAVE_WAIT.as_secs(),
                    "the consumer did not leave its group in time; closing anyway \
                     (offsets are committed; the group reassigns its partitions after the session timeout)"
                );
            }
        }
        report
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

struct PollLoop {
    consumer: BaseConsumer<SourceContext>,
    tracker: Arc<OffsetTracker>,
    shared: Arc<Shared>,
    health: Health,
    metrics: Metrics,
    tx: mpsc::Sender<Polled>,
    batch_max: usize,
    linger: Duration,
    drain: Duration,
    probe_topic: Option<String>,
}

/// Where the poll thread sends its closing report.
type Report = oneshot::Sender<Result<CloseReport, TransportError>>;

impl PollLoop {
    fn run(self, report: Report) {
        let mut names = TopicNames::default();
        let mut last_probe: Option<Instant> = None;
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.health.beat();
            if last_probe.is_none_or(|t| t.elapsed() >= PROBE_INTERVAL) {
                self.probe_broker();
                last_probe = Some(Instant::now());
            }
            let batch = self.fill_batch(&mut names);
            let batch = self.tracker.deliver(batch);
            if !batch.is_empty() && self.tx.blocking_send(Polled::Messages(batch)).is_err() {
                break;
            }
            self.store_changed();
        }
        self.finish(report)
    }

    fn fill_batch(&self, names: &mut TopicNames) -> Vec<Message> {
        let mut batch = Vec::new();
        let mut wait = Duration::from_millis(100);
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.batch_max {
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => batch.push(convert(&m, names)),
                Some(Err(e)) => {
                    warn!(error = %e, "consumer error; continuing");
                    break;
                }
            }
            let d = *deadline.get_or_insert_with(|| Instant::now() + self.linger);
            wait = d.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                break;
            }
        }
        batch
    }

    fn store_changed(&self) {
        let changed = self.tracker.take_changed();
        if changed.is_empty() {
            return;
        }
        if let Err(e) = self.consumer.store_offsets(&to_tpl(&changed)) {
            // A partition revoked between acknowledgement and store: its new
            // owner resumes from the last commit, so nothing is lost.
            debug!(error = %e, "could not store offsets");
        }
    }

    fn probe_broker(&self) {
        let result = self
            .consumer
            .fetch_metadata(self.probe_topic.as_deref(), Duration::from_secs(2));
        match result {
            Ok(_) => self
                .health
                .set_check("kafka", true, "broker answers metadata requests"),
            Err(e) => self
                .health
                .set_check("kafka", false, format!("broker unreachable: {e}")),
        }
    }

    /// Stop polling, wait for outstanding acknowledgements, commit, report,
    /// leave.
    fn finish(self, report: Report) {
        // Dropping the sender ends the stage's stream once it has drained the channel.
        drop(self.tx);
        self.consumer.context().notices.lock().take();
        let deadline = self
            .shared
            .close_deadline
            .lock()
            .unwrap_or_else(|| Instant::now() + self.drain);
        let mut idle = false;
        while !idle && Instant::now() < deadline {
            self.health.beat();
            let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
            idle = self.tracker.wait_idle(None, step);
            // Keep serving the group (heartbeats are background, callbacks are not).
            let _ = self.consumer.poll(Duration::ZERO);
        }
        let unacknowledged = self.tracker.outstanding(None);
        // A commit can race a rebalance started by another member leaving;
        // serving the group (poll) lets the rebalance finish, after which the
        // commit is retried for the partitions still ours.
        let retry_until = Instant::now().max(deadline) + Duration::from_secs(5);
        let committed = loop {
            let points = self.tracker.commit_points();
            match commit(&self.consumer, &points, &self.metrics) {
                Ok(()) => break points,
                Err(e) if Instant::now() < retry_until => {
                    debug!(error = %e, "final commit failed; retrying after the group settles");
                    let _ = self.consumer.poll(Duration::from_millis(100));
                }
                Err(e) => {
                    let _ = report.send(Err(TransportError::Commit(format!(
                        "final commit failed ({e}); records after the last commit will be replayed"
                    ))));
                    return;
                }
            }
        };
        info!(
            partitions = committed.len(),
            unacknowledged, "consumer closing: offsets of acknowledged messages committed"
        );
        self.consumer.unsubscribe();
        let _ = report.send(Ok(CloseReport {
            committed,
            unacknowledged,
        }));
        // Reported before the consumer is dropped: the drop runs
        // librdkafka's group leave, which was seen to wait forever for an
        // unassignment during a rebalance (noida-db, in the transport
        // contract's rebalance test). The offsets are committed by now, so
        // closing waits for the leave only up to LEAVE_WAIT.
        drop(self.consumer);
    }
}

pub(crate) fn convert(m: &BorrowedMessage<'_>, names: &mut TopicNames) -> Message {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        Bytes::copy_from_slice(h.value.unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        topic: names.get(m.topic()),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(Bytes::copy_from_slice),
        payload: m.payload().map(Bytes::copy_from_slice),
        timestamp_ms: m.timestamp().to_millis(),
        headers,
    }
}
