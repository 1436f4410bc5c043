//! Prometheus metrics shared by every stage.
//!
//! Each service owns one [`Metrics`]; stage crates register their own
//! families (rejects by reason, window emissions, ...) on the same registry
//! through [`Metrics::registry`]. Names follow Prometheus conventions
//! (`_total` counters, base units) so `promtool check metrics` accepts them.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The registry of one service and the metrics the runtime itself updates.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Records read, by stage and topic.
    pub records_in: IntCounterVec,
    /// Records written, by stage and topic.
    pub records_out: IntCounterVec,
    /// Time to process one batch, by stage.
    pub batch_seconds: HistogramVec,
    /// Consumer lag in records, by topic and partition (from librdkafka statistics).
    pub consumer_lag: IntGaugeVec,
    /// Partition assignments and revocations, by kind.
    pub rebalances: IntCounterVec,
    /// Offset commits, by result (`ok` or `error`).
    pub commits: IntCounterVec,
    /// Changelog records read back into tasks on assignment, by stage.
    pub restore_records: IntCounterVec,
    /// Time to restore one partition's task from its changelog, by stage.
    pub restore_seconds: HistogramVec,
    /// From an event's time to a record or row reflecting it, by stage and
    /// output (a topic's role, or a store).
    pub event_latency: HistogramVec,
}

impl Metrics {
    /// A fresh registry with the runtime's metric families and a
    /// `lap_build_info` gauge naming the service and version.
    pub fn new(service: &str) -> Self {
        let m = Families(Registry::new());
        let counter = |name: &str, help: &str, labels: &[&str]| m.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str, labels: &[&str]| m.gauge_vec(name, help, labels);
        let records_in = counter(
            "lap_records_in_total",
            "Records read by a stage.",
            &["stage", "topic"],
        );
        let records_out = counter(
            "lap_records_out_total",
            "Records written by a stage.",
            &["stage", "topic"],
        );
        let batch_seconds = m.histogram_vec(
            "lap_batch_duration_seconds",
            "Time to process one input batch.",
            &["stage"],
            0.0005,
        );
        let consumer_lag = gauge(
            "lap_consumer_lag_records",
            "Records between the committed offset and the end of the partition.",
            &["topic", "partition"],
        );
        let rebalances = counter(
            "lap_rebalances_total",
            "Partition assignments and revocations.",
            &["kind"],
        );
        let commits = counter(
            "lap_offset_commits_total",
            "Consumer offset commits.",
            &["result"],
        );
        let restore_records = counter(
            "lap_restore_records_total",
            "Changelog records read back into a partition's state on assignment.",
            &["stage"],
        );
        let restore_seconds = m.histogram_vec(
            "lap_restore_duration_seconds",
            "Time to restore one assigned partition's state from its changelog.",
            &["stage"],
            0.001,
        );
        let event_latency = m.histogram_vec(
            "lap_event_latency_seconds",
            "From an event's time to the record or row that reflects it, by stage and output \
             (for indicator rows: from the newest event behind the row).",
            &["stage", "output"],
            0.01,
        );
        let info = gauge(
            "lap_build_info",
            "Service name and version; always 1.",
            &["service", "version"],
        );
        info.with_label_values(&[service, env!("CARGO_PKG_VERSION")])
            .set(1);
        Metrics {
            registry: m.0,
            records_in,
            records_out,
            batch_seconds,
            consumer_lag,
            rebalances,
            commits,
            restore_records,
            restore_seconds,
            event_latency,
        }
    }

    /// The histogram of [`Metrics::event_latency`] for `stage` writing to
    /// `output`: resolve it once, then [`observe_since`] per record (a
    /// labelled lookup per record would cost more than the observation).
    pub fn latency_of(&self, stage: &str, output: &str) -> Histogram {
        self.event_latency.with_label_values(&[stage, output])
    }

    /// The registry, for stage-specific metric families.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a stage's counter family (`_total` name, label names).
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.families().counter_vec(name, help, labels)
    }

    /// Registers a stage's label-less counter.
    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.families()
            .add(IntCounter::new(name, help).expect("valid metric"))
    }

    /// Registers a stage's label-less gauge.
    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.families()
            .add(IntGauge::new(name, help).expect("valid metric"))
    }

    /// Registers a stage's gauge family (label names).
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.families().gauge_vec(name, help, labels)
    }

    /// Registers a stage's histogram family of durations in seconds: 16
    /// buckets doubling from `start` (e.g. 1 µs for per-record work, 0.5 ms
    /// for batches and requests).
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        start: f64,
    ) -> HistogramVec {
        self.families().histogram_vec(name, help, labels, start)
    }

    fn families(&self) -> Families {
        Families(self.registry.clone())
    }

    /// The Prometheus text exposition of every registered family.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding never fails for valid metrics");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }
}

/// Observes on `h` the time from `event_time_us` (UTC µs) to now.
pub fn observe_since(h: &Histogram, event_time_us: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    h.observe((now - event_time_us).max(0) as f64 / 1e6);
}

/// Registration on one registry. Metric names are fixed in code, so an
/// invalid or duplicate one is a programming error and panics at start.
struct Families(Registry);

impl Families {
    fn add<C: Collector + Clone + 'static>(&self, c: C) -> C {
        self.0.register(Box::new(c.clone())).expect("unique metric");
        c
    }

    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], start: f64) -> HistogramVec {
        let buckets = prometheus::exponential_buckets(start, 2.0, 16).expect("buckets");
        let opts = HistogramOpts::new(name, help).buckets(buckets);
        self.add(HistogramVec::new(opts, labels).expect("valid metric"))
    }
}
