//! Enrich's metrics, registered on the service's registry.

use lap_runtime::metrics::Metrics;
use prometheus::{Histogram, IntCounterVec, IntGauge};

/// Counters and gauges of the enrich stage.
#[derive(Clone, Debug)]
pub struct EnrichMetrics {
    /// Events joined and produced, by role.
    pub enriched: IntCounterVec,
    /// Events of opted-out learners, dropped.
    pub opted_out: IntCounterVec,
    /// Events routed to the unmatched topic, by reason code.
    pub unmatched: IntCounterVec,
    /// Events joined on a retry after being held.
    pub rejoined: IntCounterVec,
    /// Events held now, waiting for the roster.
    pub held: IntGauge,
    /// Roster records held in memory.
    pub roster_records: IntGauge,
    /// Roster-topic messages that could not be applied, by reason
    /// (`no_key`, `decode`): each one is a roster record enrich does not
    /// know, so events may go unmatched; alert on any increase.
    pub roster_skipped: IntCounterVec,
    /// From an event's time to its enriched record.
    pub latency: Histogram,
}

impl EnrichMetrics {
    /// Registers the families on `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Self {
        let counter =
            |name: &str, help: &str, labels: &[&str]| metrics.counter_vec(name, help, labels);
        let gauge = |name: &str, help: &str| metrics.gauge(name, help);
        EnrichMetrics {
            enriched: counter(
                "lap_enrich_enriched_total",
                "Events joined and produced.",
                &["role"],
            ),
            opted_out: counter(
                "lap_enrich_opted_out_total",
                "Events of opted-out learners, dropped.",
                &["tenant"],
            ),
            unmatched: counter(
                "lap_enrich_unmatched_total",
                "Events routed to the unmatched topic after the grace period.",
                &["code"],
            ),
            rejoined: counter(
                "lap_enrich_rejoined_total",
                "Held events joined once the roster caught up.",
                &["tenant"],
            ),
            held: gauge(
                "lap_enrich_held_events",
                "Events held, waiting for roster records.",
            ),
            roster_records: gauge("lap_enrich_roster_records", "Roster records in memory."),
            roster_skipped: counter(
                "lap_enrich_roster_skipped_total",
                "Roster-topic messages that could not be applied.",
                &["reason"],
            ),
            latency: metrics.latency_of("enrich", "enriched"),
        }
    }
}
