//! The sink's metrics, registered on the service's registry.

use lap_runtime::metrics::Metrics;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGaugeVec};

/// Counters of the sink stage.
#[derive(Clone, Debug)]
pub struct SinkMetrics {
    /// Rows by store, table and outcome: `written` (inserted, or a higher
    /// revision replaced the stored one), `stale` (the store already held
    /// this or a higher revision), `superseded` (a higher revision or an
    /// earlier copy came in the same batch: store and table `*`; or in a
    /// batch a store's writer took together with it when catching up: that
    /// store, table `*`).
    pub rows: IntCounterVec,
    /// Messages dead-lettered, by error code.
    pub rejected: IntCounterVec,
    /// Tombstones read (nothing to write).
    pub tombstones: IntCounter,
    /// Failed store writes, by store; each is retried.
    pub store_errors: IntCounterVec,
    /// Time of one successful store write, by store.
    pub write_seconds: HistogramVec,
    /// Time of one table's part of a successful write, by store and table.
    pub table_write_seconds: HistogramVec,
    /// By store: 1 while its last write failed and the sink is retrying.
    pub store_down: IntGaugeVec,
    /// The service's runtime metrics (event-to-row latency per store).
    pub runtime: Metrics,
}

impl SinkMetrics {
    /// Registers the families on `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Self {
        SinkMetrics {
            rows: metrics.counter_vec(
                "lap_sink_rows_total",
                "Rows by store, table and outcome: written, stale, superseded.",
                &["store", "table", "outcome"],
            ),
            rejected: metrics.counter_vec(
                "lap_sink_rejected_total",
                "Messages the sink could not store, dead-lettered, by code.",
                &["code"],
            ),
            tombstones: metrics.counter(
                "lap_sink_tombstones_total",
                "Tombstones read; nothing is written for them.",
            ),
            store_errors: metrics.counter_vec(
                "lap_sink_store_errors_total",
                "Failed store writes; the sink retries them with backoff.",
                &["store"],
            ),
            write_seconds: metrics.histogram_vec(
                "lap_sink_write_duration_seconds",
                "Time of one successful store write (one batch, one transaction).",
                &["store"],
                0.0005,
            ),
            table_write_seconds: metrics.histogram_vec(
                "lap_sink_table_write_duration_seconds",
                "Time of one table's part of a successful store write (Delta: its MERGE commit; \
                 PostgreSQL: its statement in the transaction).",
                &["store", "table"],
                0.0005,
            ),
            store_down: metrics.gauge_vec(
                "lap_sink_store_down",
                "1 while writes to this store fail and the sink is retrying.",
                &["store"],
            ),
            runtime: metrics.clone(),
        }
    }
}
