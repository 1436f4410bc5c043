//! Aggregate's metrics, registered on the service's registry.

use lap_runtime::metrics::Metrics;
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

/// Counters and gauges of the aggregate stage.
#[derive(Clone, Debug)]
pub struct AggregateMetrics {
    /// Events by what happened to them (`counted`, `late`, `duplicate`, ...).
    pub events: IntCounterVec,
    /// Indicator rows emitted, by `final` / `provisional`.
    pub rows: IntCounterVec,
    /// Provisional rows not emitted: equal to the last row sent for their key.
    pub unchanged_rows: IntCounter,
    /// Events held in window state.
    pub state_events: IntGauge,
    /// Each owned partition's watermark, seconds since the epoch.
    pub watermark_seconds: IntGaugeVec,
    /// Enriched-topic records that are not `EnrichedEvent`s (dead-lettered).
    pub undecodable: IntCounter,
    /// Group rows emitted suppressed (fewer than k learners), by table.
    pub suppressed_rows: IntCounterVec,
    /// Flags raised on a row that did not have them, and cleared from one
    /// that did, by code and change.
    pub flags: IntCounterVec,
    /// From the newest event behind a row to the row.
    pub latency: Histogram,
}

impl AggregateMetrics {
    /// Registers the families on `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Self {
        let counter =
            |name: &str, help: &str, labels: &[&str]| metrics.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str| metrics.gauge(name, help);
        let undecodable = metrics.counter(
            "lap_aggregate_undecodable_total",
            "Enriched-topic records that are not EnrichedEvents, dead-lettered.",
        );
        AggregateMetrics {
            events: counter(
                "lap_aggregate_events_total",
                "Events by outcome: counted, voiding, duplicate, already_voided, late, already_final, not_learner.",
                &["outcome"],
            ),
            rows: counter(
                "lap_aggregate_rows_total",
                "Indicator rows emitted.",
                &["emission"],
            ),
            unchanged_rows: metrics.counter(
                "lap_aggregate_rows_unchanged_total",
                "Provisional indicator rows not emitted because they equal the last row sent for their key.",
            ),
            state_events: gauge("lap_aggregate_state_events", "Events held in open windows."),
            watermark_seconds: metrics.gauge_vec(
                "lap_aggregate_watermark_seconds",
                "Event-time watermark of each input partition this instance owns (seconds since the epoch).",
                &["partition"],
            ),
            undecodable,
            suppressed_rows: counter(
                "lap_aggregate_rows_suppressed_total",
                "Group rows emitted with their values suppressed (fewer than k contributing learners), by table.",
                &["table"],
            ),
            flags: counter(
                "lap_aggregate_flags_total",
                "Early-warning flags raised on a row that did not have them, or cleared from one that did, by code and change.",
                &["code", "change"],
            ),
            latency: metrics.latency_of("aggregate", "indicators"),
        }
    }
}
