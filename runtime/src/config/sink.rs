//! The `[sink]` section: analytics stores and the retry policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The sink stage: where indicator and event rows go.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SinkConfig {
    /// Also write the event-level table from `lap.enriched` (analysts join
    /// it with the indicators; erasure and retention cover it too).
    pub events: bool,
    /// Messages read per store write, instead of `kafka.consumer.batch_max`.
    /// Every write is one transaction per table, and a Delta Lake commit
    /// costs about the same whatever its size, so the sink takes larger
    /// batches than the stages before it. A batch is handed over as soon
    /// as the consumer has nothing more within `batch_linger_ms`, so a
    /// large maximum only applies to a backlog and costs no latency.
    pub batch_max: usize,
    /// First wait after a failed store write, in milliseconds. Waits double
    /// up to `retry_max_ms`; the sink never skips a batch, it waits.
    pub retry_initial_ms: u64,
    /// Longest wait between two attempts of the same write.
    pub retry_max_ms: u64,
    /// Messages read but not yet in every store at most; then the sink
    /// reads nothing new until the slowest store catches up. Bounds the
    /// sink's memory during an outage or a backlog, and is what lets
    /// PostgreSQL run ahead of a lake commit: live batches are small
    /// (a few hundred messages every `batch_linger_ms`), so a bound in
    /// batches stopped every store while the lake merged (seconds).
    pub max_waiting_messages: usize,
    /// The Delta Lake store (the default).
    pub lake: LakeConfig,
    /// The PostgreSQL store.
    pub postgres: PostgresConfig,
    /// How long each table keeps its rows (`lap retention apply`).
    pub retention: RetentionConfig,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            events: true,
            batch_max: 20_000,
            retry_initial_ms: 200,
            retry_max_ms: 30_000,
            max_waiting_messages: 100_000,
            lake: LakeConfig::default(),
            postgres: PostgresConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// Days each table of both stores keeps a row, counted from the end of the
/// row's window (indicator tables) or from its `event_time` (`events`);
/// -1 keeps rows until they are erased. `lap retention apply` deletes
/// what is older. The defaults follow data minimisation: event-level rows
/// and daily learner rows live one school year, weekly learner rows two,
/// class rows (no person in them) five. Agree the figures with the data
/// protection officer; `lap catalog` publishes them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// The event-level table.
    pub events_days: i64,
    /// Daily indicators per learner.
    pub learner_daily_days: i64,
    /// ISO-weekly indicators per learner.
    pub learner_weekly_days: i64,
    /// Daily indicators per class.
    pub class_daily_days: i64,
    /// ISO-weekly indicators per class.
    pub class_weekly_days: i64,
    /// Daily indicators per school.
    pub school_daily_days: i64,
    /// ISO-weekly indicators per school.
    pub school_weekly_days: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            events_days: 365,
            learner_daily_days: 365,
            learner_weekly_days: 730,
            class_daily_days: 1825,
            class_weekly_days: 1825,
            school_daily_days: 1825,
            school_weekly_days: 1825,
        }
    }
}

impl RetentionConfig {
    /// Retention of `table` in days; `None` keeps its rows (a setting of
    /// -1, or a table this section does not name).
    pub fn days(&self, table: &str) -> Option<i64> {
        let days = match table {
            "events" => self.events_days,
            "learner_daily" => self.learner_daily_days,
            "learner_weekly" => self.learner_weekly_days,
            "class_daily" => self.class_daily_days,
            "class_weekly" => self.class_weekly_days,
            "school_daily" => self.school_daily_days,
            "school_weekly" => self.school_weekly_days,
            _ => -1,
        };
        (days >= 0).then_some(days)
    }
}

/// Delta Lake tables in a directory (no server to run) or an object store,
/// readable by DataFusion (`lap query`), DuckDB, Spark and pandas.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Write the lake at all.
    pub enabled: bool,
    /// Where the tables live, one folder each: a directory (created when
    /// missing) or an object-store URL (`s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix`,
    /// `abfss://lake@account.dfs.core.windows.net/lap`), so replicas on
    /// several nodes share it.
    pub path: String,
    /// Object-store settings passed to delta-rs, e.g. `aws_region`,
    /// `aws_endpoint_url` or `azure_storage_account_name`. Secrets do not
    /// belong here: delta-rs reads `AWS_SECRET_ACCESS_KEY`,
    /// `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY` and the like
    /// from the environment (a Kubernetes Secret).
    pub storage_options: BTreeMap<String, String>,
    /// Write to an object store that ignores conditional writes, so that
    /// concurrent commits could overwrite each other. Writers refuse such
    /// a store unless this is on; turn it on only when a single writer
    /// (one sink replica, no `lap erase` or retention while it runs)
    /// commits at a time.
    pub allow_unsafe_commits: bool,
    /// Shortest time in milliseconds from the start of one lake write to
    /// the start of the next, per writer (the sink has one for indicator
    /// rows, one for event rows). What arrives meanwhile is written in one
    /// commit: a Delta commit costs about the same whatever its size (a
    /// new file per table and partition, a log entry, and for indicators a
    /// MERGE that reads the partitions it touches), so on a live day,
    /// when a batch arrives every few hundred milliseconds, this bounds
    /// the lake's CPU and its count of small files. PostgreSQL, which
    /// dashboards read, is not held back; lake rows arrive up to this much
    /// later. 0 writes each batch as soon as the previous write ends. At
    /// most half of `kafka.consumer.drain_timeout_ms`, so a revoked
    /// partition's rows are committed within the drain.
    pub commit_interval_ms: u64,
    /// Most event keys (hashes of tenant and event id, 20-40 bytes each in
    /// memory) the sink keeps for the newest date partitions of the
    /// `events` table, so an append does not read back the keys stored
    /// there: nearly every append goes to today's partition, but offline
    /// devices sync days late, and each older date not kept is read back
    /// from its files. The default, about 40-80 MB, holds some six school
    /// days of a district of 20,000 learners (~340,000 events a day) and a
    /// 1,200-learner school's whole term; keeping four dates instead, the
    /// lake's event writes took 19.2-24.9 s instead of 13.1-15.3 s while
    /// draining a backlog of 1.3 million events (the end-to-end
    /// benchmark). The newest date is kept whatever its size.
    pub cached_event_keys: usize,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            enabled: true,
            path: "lake".into(),
            storage_options: BTreeMap::new(),
            allow_unsafe_commits: false,
            commit_interval_ms: 2_000,
            cached_event_keys: 2_000_000,
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
    /// PEM file of the CA certificate(s) to trust for the server's
    /// certificate; empty trusts the system's roots. Used when the URL says
    /// `sslmode=require`, which turns TLS on and verifies the server's
    /// certificate and host name.
    pub ssl_root_cert: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            enabled: false,
            url: "postgres://lap@127.0.0.1:5432/lap".into(),
            schema: "lap".into(),
            password_file: String::new(),
            connect_timeout_ms: 5_000,
            ssl_root_cert: String::new(),
        }
    }
}
