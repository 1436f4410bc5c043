//! Pipeline configuration: one file for all stages.
//!
//! Values come from three layers, later ones winning: built-in defaults, the
//! TOML file given with `--config FILE`, and `LAP__SECTION__KEY` environment
//! variables (e.g. `LAP__KAFKA__BOOTSTRAP_SERVERS`). One file serves every
//! stage so that a Kubernetes ConfigMap and a laptop run are the same
//! document. Unknown keys are errors naming the key and where it was set, so a
//! typo never silently falls back to a default.
//!
//! Secrets (Kafka passwords, later the pseudonymisation key and HTTP client
//! credentials) are never values in this file: only the *path* of a secret
//! file, or an environment variable, see [`Secret`].

mod load;
mod secret;
mod sink;
mod views;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use load::{ConfigError, load, load_from};
pub use secret::Secret;
pub use sink::{LakeConfig, PostgresConfig, RetentionConfig, SinkConfig};
pub use views::{DigestConfig, OidcConfig, ViewsConfig};

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Broker connection and client tuning.
    pub kafka: KafkaConfig,
    /// Topic names, partitions and retention.
    pub topics: TopicsConfig,
    /// Metrics/health HTTP server and shutdown behaviour of each service.
    pub service: ServiceConfig,
    /// Log level and format.
    pub log: LogConfig,
    /// The ingest stage: validation limits and the HTTP front door.
    pub ingest: IngestConfig,
    /// The enrich stage: tenant, pseudonymisation key, identity rules, holding.
    pub enrich: EnrichConfig,
    /// The aggregate stage: windows, time, indicator SQL, flags, suppression.
    pub aggregate: AggregateConfig,
    /// The sink stage: which analytics stores to write and how to retry.
    pub sink: SinkConfig,
    /// The pages for teachers, school leaders and parents.
    pub views: ViewsConfig,
}

/// How to reach Kafka and how the clients behave.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers.
    pub bootstrap_servers: String,
    /// Prefix of the client id reported to the broker (the stage name is appended).
    pub client_id: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// SASL mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`); empty for none.
    pub sasl_mechanism: String,
    /// SASL user name; the password comes from `LAP_KAFKA_SASL_PASSWORD` or
    /// the file named by `sasl_password_file`.
    pub sasl_username: String,
    /// Path of a file holding the SASL password (e.g. a mounted Kubernetes Secret).
    pub sasl_password_file: String,
    /// CA certificate bundle for TLS; empty uses the system store.
    pub ssl_ca_location: String,
    /// Further librdkafka properties passed through unchanged
    /// (e.g. `"ssl.endpoint.identification.algorithm" = "none"`).
    pub properties: std::collections::BTreeMap<String, String>,
    /// Consumer group settings.
    pub consumer: ConsumerConfig,
    /// Producer settings.
    pub producer: ProducerConfig,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client_id: "lap".into(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: String::new(),
            sasl_username: String::new(),
            sasl_password_file: String::new(),
            ssl_ca_location: String::new(),
            properties: Default::default(),
            consumer: ConsumerConfig::default(),
            producer: ProducerConfig::default(),
        }
    }
}

/// Consumer group behaviour.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Group id prefix; each stage joins `<prefix>.<stage>`.
    pub group_prefix: String,
    /// Static membership id (Kubernetes: the pod name) so a restarting pod
    /// gets its partitions back without a rebalance; empty for dynamic.
    pub group_instance_id: String,
    /// Broker session timeout.
    pub session_timeout_ms: u32,
    /// Maximum time between polls before the member is considered stuck.
    pub max_poll_interval_ms: u32,
    /// Maximum messages per batch handed to a stage.
    pub batch_max: usize,
    /// How long to wait to fill a batch before handing over a partial one.
    pub batch_linger_ms: u64,
    /// On partition revocation, how long to wait for in-flight messages of
    /// the revoked partitions to be acknowledged before committing.
    pub drain_timeout_ms: u64,
    /// How often acknowledged offsets are committed.
    pub commit_interval_ms: u64,
    /// Where a group without committed offsets starts: `earliest` or `latest`.
    pub auto_offset_reset: String,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_prefix: "lap".into(),
            group_instance_id: String::new(),
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 300_000,
            batch_max: 2_000,
            batch_linger_ms: 20,
            drain_timeout_ms: 10_000,
            commit_interval_ms: 1_000,
            auto_offset_reset: "earliest".into(),
        }
    }
}

/// Producer behaviour. Idempotence and `acks=all` are always on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProducerConfig {
    /// How long to wait to fill a produce request.
    pub linger_ms: u32,
    /// `none`, `gzip`, `snappy` or `lz4`.
    pub compression: String,
    /// Total time a record may spend being retried before delivery fails.
    pub delivery_timeout_ms: u32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            linger_ms: 5,
            compression: "lz4".into(),
            delivery_timeout_ms: 120_000,
        }
    }
}

/// One topic's name and settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSpec {
    /// Topic name on the broker.
    pub name: String,
    /// Partitions; 0 uses `topics.partitions`.
    pub partitions: i32,
    /// Retention in milliseconds; -1 keeps records forever.
    pub retention_ms: i64,
    /// Log compaction (keyed latest-value topics such as the roster).
    pub compact: bool,
    /// What the topic carries, for `lap topics create` output and the catalogue.
    pub description: String,
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            name: String::new(),
            partitions: 0,
            retention_ms: 7 * DAY_MS,
            compact: false,
            description: String::new(),
        }
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

fn topic(name: &str, retention_days: i64, compact: bool, description: &str) -> TopicSpec {
    TopicSpec {
        name: name.into(),
        partitions: 0,
        retention_ms: if retention_days < 0 {
            -1
        } else {
            retention_days * DAY_MS
        },
        compact,
        description: description.into(),
    }
}

/// The topics of the pipeline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    /// Default partition count; scaling a stage beyond it adds idle replicas.
    pub partitions: i32,
    /// Replication factor for created topics (3 in production clusters).
    pub replication_factor: i32,
    /// Raw xAPI statements from LMSs (JSON).
    pub raw_xapi: TopicSpec,
    /// Raw Caliper envelopes from LMSs (JSON).
    pub raw_caliper: TopicSpec,
    /// Validated canonical learning events (Avro).
    pub events: TopicSpec,
    /// Rejected inputs with original bytes and reasons (Avro).
    pub dlq: TopicSpec,
    /// OneRoster records keyed by type and sourcedId (Avro, compacted).
    pub roster: TopicSpec,
    /// Enriched, pseudonymised events keyed by school (Avro).
    pub enriched: TopicSpec,
    /// Events with no roster match after the grace period (Avro).
    pub unmatched: TopicSpec,
    /// Events later than the allowed lateness (Avro).
    pub late: TopicSpec,
    /// Indicator rows with revisions (Avro).
    pub indicators: TopicSpec,
    /// The aggregate's changelog: partition n holds the state of the task
    /// of `enriched` partition n (epoch, finalised watermark, history for
    /// growth and flags; JSON, compacted). Its partition count follows
    /// `enriched`'s unless set.
    pub aggregate_state: TopicSpec,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            partitions: 4,
            replication_factor: 1,
            raw_xapi: topic(
                "lap.raw.xapi",
                7,
                false,
                "raw xAPI statements as sent by LMSs (JSON)",
            ),
            raw_caliper: topic(
                "lap.raw.caliper",
                7,
                false,
                "raw Caliper envelopes as sent by LMSs (JSON)",
            ),
            events: topic(
                "lap.events",
                7,
                false,
                "validated canonical LearningEvents (Avro)",
            ),
            dlq: topic(
                "lap.dlq",
                30,
                false,
                "rejected inputs: original bytes, origin and reasons (Avro)",
            ),
            roster: topic(
                "lap.roster",
                -1,
                true,
                "OneRoster records keyed by type and sourcedId (Avro, compacted)",
            ),
            enriched: topic(
                "lap.enriched",
                30,
                false,
                "pseudonymised EnrichedEvents keyed by school, else class, else learner (Avro)",
            ),
            unmatched: topic(
                "lap.unmatched",
                30,
                false,
                "events with no roster match after the grace period (Avro)",
            ),
            late: topic(
                "lap.late",
                30,
                false,
                "events later than the allowed lateness, for backfill (Avro)",
            ),
            indicators: topic(
                "lap.indicators",
                7,
                false,
                "indicator rows with revisions (Avro)",
            ),
            aggregate_state: topic(
                "lap.aggregate.state",
                -1,
                true,
                "aggregate changelog, partition n for lap.enriched partition n: owner epoch, finalised watermark, history (JSON, compacted)",
            ),
        }
    }
}

impl TopicsConfig {
    /// Every topic with its effective partition count, in pipeline order.
    pub fn all(&self) -> Vec<TopicSpec> {
        [
            &self.raw_xapi,
            &self.raw_caliper,
            &self.events,
            &self.dlq,
            &self.roster,
            &self.enriched,
            &self.unmatched,
            &self.late,
            &self.indicators,
            &self.aggregate_state,
        ]
        .into_iter()
        .map(|t| TopicSpec {
            partitions: self.partitions_of(t),
            ..t.clone()
        })
        .collect()
    }

    /// The partition count `t` is created with: its own, else (for the
    /// aggregate's changelog, which must match its input) `enriched`'s,
    /// else the default.
    pub fn partitions_of(&self, t: &TopicSpec) -> i32 {
        if t.partitions > 0 {
            t.partitions
        } else if std::ptr::eq(t, &self.aggregate_state) {
            self.partitions_of(&self.enriched)
        } else {
            self.partitions
        }
    }
}

/// Per-service HTTP endpoint and lifecycle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address of the `/metrics`, `/healthz` and `/readyz` server.
    pub metrics_addr: SocketAddr,
    /// After SIGTERM: how long to drain in-flight work and commit before exiting.
    /// Keep below the pod's `terminationGracePeriodSeconds`.
    pub shutdown_grace_ms: u64,
    /// `/healthz` fails when the poll loop has not moved for this long.
    pub stall_timeout_ms: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], 9464)),
            shutdown_grace_ms: 20_000,
            stall_timeout_ms: 60_000,
        }
    }
}

/// Logging.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. `info` or `lap_ingest=debug,info`.
    /// `RUST_LOG` overrides it.
    pub level: String,
    /// `auto` (human on a terminal, JSON otherwise), `human` or `json`.
    /// `LAP_LOG_FORMAT` overrides it.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "auto".into(),
        }
    }
}

/// The ingest stage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// xAPI version applied when neither the `X-Experience-API-Version`
    /// header nor the statement's `version` says (one of 1.0.0–1.0.3, 2.0.0).
    pub default_xapi_version: String,
    /// Largest raw message (Kafka record or HTTP body) accepted, in bytes.
    pub max_message_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_depth: usize,
    /// Most statements in one message (an xAPI array).
    pub max_statements_per_message: usize,
    /// Statement ids remembered for duplicate and conflict detection.
    pub dedupe_capacity: usize,
    /// The HTTP front door for LMSs that cannot write to Kafka.
    pub http: IngestHttpConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            default_xapi_version: "1.0.3".into(),
            max_message_bytes: 1024 * 1024,
            max_depth: 32,
            max_statements_per_message: 2_000,
            dedupe_capacity: 1_000_000,
            http: IngestHttpConfig::default(),
        }
    }
}

/// The ingest HTTP endpoints (`/xapi/statements`, `/xapi/about`, `/caliper`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestHttpConfig {
    /// Serve the HTTP endpoints at all.
    pub enabled: bool,
    /// Listen address.
    pub addr: SocketAddr,
    /// Clients allowed to send, by client id. The secret itself is never in
    /// config: only its SHA-256 (hex), so the file can be shared safely.
    pub clients: std::collections::BTreeMap<String, HttpClient>,
}

impl Default for IngestHttpConfig {
    fn default() -> Self {
        IngestHttpConfig {
            enabled: true,
            addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            clients: Default::default(),
        }
    }
}

/// One HTTP client's credential: HTTP Basic (client id + secret) for xAPI,
/// `Authorization: Bearer <secret>` for Caliper.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HttpClient {
    /// Hex SHA-256 of the client's secret (`printf %s "$SECRET" | sha256sum`).
    pub secret_sha256: String,
    /// What the client may send: `xapi`, `caliper` or both.
    pub scopes: Vec<String>,
}

/// The enrich stage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichConfig {
    /// School authority whose roster this deployment joins with; part of
    /// every pseudonym and roster key. No `/`.
    pub tenant: String,
    /// File holding the pseudonymisation (HMAC) key, e.g. a mounted
    /// Kubernetes Secret. The environment variable `LAP_ENRICH_KEY` wins.
    pub key_file: String,
    /// Seconds an event without a roster match waits for late roster records
    /// before it goes to the unmatched topic.
    pub unmatched_grace_s: u64,
    /// Most events held at once (bounds memory); beyond it the oldest goes on.
    pub max_held: usize,
    /// Keep free-text responses. Off: free text can hold names.
    pub keep_free_text: bool,
    /// Which roster fields identify an actor.
    pub identity: IdentityConfig,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            tenant: "default".into(),
            key_file: String::new(),
            unmatched_grace_s: 600,
            max_held: 100_000,
            keep_free_text: false,
            identity: IdentityConfig::default(),
        }
    }
}

/// Roster fields compared with actor identifiers. `mbox` and
/// `mbox_sha1sum` always compare with the user's `email`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Fields an xAPI `account.name` may equal.
    pub account_fields: Vec<String>,
    /// Fields the last path segment of a Caliper actor IRI may equal.
    pub iri_fields: Vec<String>,
}

/// User fields usable in identity rules.
pub const IDENTITY_FIELDS: &[&str] = &[
    "sourcedId",
    "username",
    "identifier",
    "userIds",
    "userMasterIdentifier",
    "email",
];

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            account_fields: ["username", "identifier", "userIds", "sourcedId"]
                .map(String::from)
                .to_vec(),
            iri_fields: ["sourcedId", "identifier", "username"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// The aggregate stage: windows, time, indicator SQL, flags, suppression.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AggregateConfig {
    /// IANA time zone of the schools: where days and ISO weeks begin.
    pub time_zone: String,
    /// How long after a window's end its events are still counted. LMSs
    /// sync offline devices late, so the default is two days.
    pub allowed_lateness_s: u64,
    /// A partition's watermark trails its newest event time by this much.
    pub max_out_of_orderness_s: u64,
    /// A partition without messages for this long (of the stage's input
    /// time) is quiet: its watermark then follows the input clock, so its
    /// last week still becomes final without a newer event.
    pub idle_partition_s: u64,
    /// How often open windows with new events are emitted provisionally.
    pub provisional_interval_s: u64,
    /// k: group rows with fewer contributing learners carry no values.
    pub min_group_size: u32,
    /// Cap of one gap between events when estimating active time.
    pub session_gap_cap_s: u64,
    /// Most events one run of the indicator SQL sees; a larger emission
    /// runs in chunks of whole schools. Bounds the memory of an emission
    /// (docs/benchmarks.md: the aggregate at scale).
    pub max_query_events: usize,
    /// Folder of indicator SQL files; empty uses the built-in ones.
    pub sql_dir: String,
    /// Indicator SQL files to run (names without `.sql`), in that order.
    pub indicators: Vec<String>,
    /// Early-warning thresholds.
    pub flags: FlagConfig,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        AggregateConfig {
            time_zone: "UTC".into(),
            allowed_lateness_s: 2 * 24 * 3600,
            max_out_of_orderness_s: 60,
            idle_partition_s: 30,
            provisional_interval_s: 5,
            min_group_size: 5,
            session_gap_cap_s: 15 * 60,
            max_query_events: 50_000,
            sql_dir: String::new(),
            indicators: [
                "activity",
                "assessment",
                "objectives",
                "submissions",
                "attendance",
                "wellbeing",
            ]
            .map(String::from)
            .to_vec(),
            flags: FlagConfig::default(),
        }
    }
}

/// Thresholds of the early-warning flags. Flags describe; they never rank.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FlagConfig {
    /// `inactive`: this many class days (days the class had activity) in a
    /// row without any activity of the learner.
    pub inactive_days: u32,
    /// `chronic_absence`: share of school days absent above this, over the
    /// look-back (10 % is the common chronic-absence line).
    pub absence_rate: f64,
    /// `chronic_absence` looks back over the learner's last this many
    /// school days in the class (days the class took attendance of them);
    /// 20 is about a month, 200 a school year.
    pub absence_lookback_days: u32,
    /// `chronic_absence` needs at least this many school days in the
    /// look-back: one absence in a short stretch is never chronic.
    pub absence_min_days: u32,
    /// `low_wellbeing`: well-being index (0..1) below this.
    pub wellbeing_below: f64,
    /// `wellbeing_drop`: well-being fell by more than this since the
    /// learner's previous window.
    pub wellbeing_drop: f64,
    /// `falling_scores`: mean score fell in each of this many windows in a row.
    pub falling_windows: u32,
    /// `missing_submissions`: at least this many submissions missing.
    pub missing_submissions: u32,
}

impl Default for FlagConfig {
    fn default() -> Self {
        FlagConfig {
            inactive_days: 5,
            absence_rate: 0.10,
            absence_lookback_days: 20,
            absence_min_days: 10,
            wellbeing_below: 0.4,
            wellbeing_drop: 0.15,
            falling_windows: 3,
            missing_submissions: 2,
        }
    }
}
