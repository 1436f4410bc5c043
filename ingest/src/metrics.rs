//! Ingest's metrics, registered on the service's registry.

use lap_runtime::metrics::Metrics;
use prometheus::{Histogram, HistogramVec, IntCounterVec};

/// Counters and histograms of the ingest stage.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    /// Records accepted, by source standard and spec version.
    pub accepted: IntCounterVec,
    /// Records rejected, by source standard and error code.
    pub rejected: IntCounterVec,
    /// Records seen before with the same content, not emitted again.
    pub duplicates: IntCounterVec,
    /// Caliper entity describes received (accepted, nothing to aggregate).
    pub entities: IntCounterVec,
    /// Time to parse, validate, normalise and encode one record.
    pub record_seconds: HistogramVec,
    /// HTTP requests by route and status code.
    pub http_requests: IntCounterVec,
    /// HTTP request latency by route.
    pub http_seconds: HistogramVec,
    /// From an event's time to its canonical record.
    pub latency: Histogram,
}

impl IngestMetrics {
    /// Registers the families on `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Self {
        let counter =
            |name: &str, help: &str, labels: &[&str]| metrics.counter_vec(name, help, labels);
        let histogram = |name: &str, help: &str, labels: &[&str], start: f64| {
            metrics.histogram_vec(name, help, labels, start)
        };
        IngestMetrics {
            accepted: counter(
                "lap_ingest_accepted_total",
                "Records accepted by ingest.",
                &["source", "version"],
            ),
            rejected: counter(
                "lap_ingest_rejected_total",
                "Records rejected by ingest, by error code.",
                &["source", "code"],
            ),
            duplicates: counter(
                "lap_ingest_duplicates_total",
                "Records already seen with the same id and content.",
                &["source"],
            ),
            entities: counter(
                "lap_ingest_caliper_entities_total",
                "Caliper entity describes received.",
                &["version"],
            ),
            record_seconds: histogram(
                "lap_ingest_record_duration_seconds",
                "Time to parse, validate, normalise and encode one record.",
                &["source"],
                0.000_001,
            ),
            http_requests: counter(
                "lap_http_requests_total",
                "HTTP requests to ingest.",
                &["route", "status"],
            ),
            http_seconds: histogram(
                "lap_http_request_duration_seconds",
                "HTTP request latency, including the durable write to Kafka.",
                &["route"],
                0.000_25,
            ),
            latency: metrics.latency_of("ingest", "events"),
        }
    }
}
