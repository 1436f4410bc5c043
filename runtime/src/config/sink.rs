//! The `[sink]` section: analytics stores and the retry policy.

use serde::{Deserialize, Serialize};

/// The sink stage (DESIGN.md §2, §7): where indicator and event rows go.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SinkConfig {
    /// Also write the event-level table from `lap.enriched` (analysts join
    /// it with the indicators; erasure and retention cover it too).
    pub events: bool,
    /// First wait after a failed store write, in milliseconds. Waits double
    /// up to `retry_max_ms`; the sink never skips a batch, it waits.
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts of the same write.
    pub retry_max_ms: u64,
    /// The Delta Lake store (the default).
    pub lake: LakeConfig,
    /// The PostgreSQL store.
    pub postgres: PostgresConfig,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            events: true,
            retry_initial_ms: 200,
            retry_max_ms: 30_000,
            lake: LakeConfig::default(),
            postgres: PostgresConfig::default(),
        }
    }
}

/// Delta Lake tables in a directory: no server to run, readable by
/// DataFusion (`lap query`), DuckDB, Spark and pandas.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Write the lake at all.
    pub enabled: bool,
    /// Directory holding one Delta table per table (created when missing).
    pub path: String,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            enabled: true,
            path: "lake".into(),
        }
    }
}

/// PostgreSQL as an analytics store: tables created by versioned
/// migrations at start, rows upserted keeping the highest revision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Write to PostgreSQL at all.
    pub enabled: bool,
    /// Connection URL or key=value string *without* the password, e.g.
    /// `postgres://lap@db:5432/analytics` or `host=db user=lap dbname=analytics`.
    pub url: String,
    /// Schema holding lap's tables and views; created when missing, so
    /// several deployments (or tests) can share one database.
    pub schema: String,
    /// File holding the password (a mounted Kubernetes Secret). The
    /// environment variable `LAP_POSTGRES_PASSWORD` wins.
    pub password_file: String,
    /// Give up one connection attempt after this long (then retry).
    pub connect_timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            enabled: false,
            url: "postgres://lap@127.0.0.1:5432/lap".into(),
            schema: "lap".into(),
            password_file: String::new(),
            connect_timeout_ms: 5_000,
        }
    }
}
