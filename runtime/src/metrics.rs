//! Prometheus metrics shared by every stage.
//!
//! Each service owns one [`Metrics`]; stage crates register their own
//! families (rejects by reason, window emissions, ...) on the same registry
//! through [`Metrics::registry`]. Names follow Prometheus conventions
//! (`_total` counters, base units) so `promtool check metrics` accepts them.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
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
}

impl Metrics {
    /// A fresh registry with the runtime's metric families and a
    /// `lap_build_info` gauge naming the service and version.
    pub fn new(service: &str) -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
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
        let batch_seconds = HistogramVec::new(
            HistogramOpts::new(
                "lap_batch_duration_seconds",
                "Time to process one input batch.",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("buckets")),
            &["stage"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(batch_seconds.clone()))
            .expect("unique metric");
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
        let info = gauge(
            "lap_build_info",
            "Service name and version; always 1.",
            &["service", "version"],
        );
        info.with_label_values(&[service, env!("CARGO_PKG_VERSION")])
            .set(1);
        Metrics {
            registry,
            records_in,
            records_out,
            batch_seconds,
            consumer_lag,
            rebalances,
            commits,
        }
    }

    /// The registry, for stage-specific metric families.
    pub fn registry(&self) -> &Registry {
        &self.registry
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
