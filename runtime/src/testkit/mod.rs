//! Helpers for tests that run against real services (feature `testkit`).
//!
//! The test script (`tests/run.sh`) starts the brokers and PostgreSQL and
//! exports their addresses; these helpers find them, make unique names, and
//! read topics back. They are compiled only into test builds.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use crate::config::{KafkaConfig, TopicSpec};
use crate::transport::Message;
use crate::transport::kafka::ensure_topics;

mod browser;
mod smtpd;

pub use browser::{Chromium, Driver};
pub use smtpd::Smtpd;

/// Environment variable naming the main test broker (noida-db).
pub const KAFKA_ENV: &str = "LAP_TEST_KAFKA";
/// Environment variable naming the second test broker (tansu).
pub const KAFKA_TANSU_ENV: &str = "LAP_TEST_KAFKA_TANSU";
/// Environment variable holding a PostgreSQL URL.
pub const POSTGRES_ENV: &str = "LAP_TEST_POSTGRES";
/// Environment variable naming a Python with the `deltalake` and `pyarrow`
/// packages: an independent reader of the lake tables.
pub const DELTA_PYTHON_ENV: &str = "LAP_TEST_DELTA_PYTHON";
/// Environment variable holding the URL of an Azurite blob service (the
/// Azure Blob Storage emulator): the object store of the lake tests.
pub const AZURITE_ENV: &str = "LAP_TEST_AZURITE";
/// Environment variable holding the path of `chromedriver` (Debian's
/// chromium-driver), which drives a real Chromium over WebDriver.
pub const CHROMEDRIVER_ENV: &str = "LAP_TEST_CHROMEDRIVER";
/// Environment variable holding the path of `axe.min.js` (the axe-core
/// accessibility checker, from npm).
pub const AXE_ENV: &str = "LAP_TEST_AXE";

/// Environment variable holding the path of the oidc-provider module
/// (from npm) that `views/tests/oidc-provider.mjs` runs.
pub const OIDC_PROVIDER_ENV: &str = "LAP_TEST_OIDC_PROVIDER";

/// Environment variable holding the URL of an S3 server (moto), which
/// honours conditional writes as Amazon S3 does.
pub const S3_ENV: &str = "LAP_TEST_S3";

/// Environment variable holding a Python with `aiosmtpd` (an SMTP server
/// the test starts with `-m aiosmtpd`), for the views' e-mailed digests.
pub const SMTPD_ENV: &str = "LAP_TEST_SMTPD";

/// The value of `var`, or `None` with a printed reason. With
/// `LAP_REQUIRE_SERVICES=1` (set by the test script) a missing service is a
/// failure instead, so CI can never pass by skipping.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("LAP_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "{var} is not set but LAP_REQUIRE_SERVICES=1: the test script must start it"
                );
            }
            eprintln!(
                "SKIPPED: {var} is not set; run the suite with `bash tests/run.sh`, which starts it"
            );
            None
        }
    }
}

/// A name unique to this process and call, for topics and groups.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kafka client settings for `bootstrap`, tuned for quick tests.
pub fn kafka_config(bootstrap: &str) -> KafkaConfig {
    let mut cfg = KafkaConfig {
        bootstrap_servers: bootstrap.to_string(),
        ..KafkaConfig::default()
    };
    cfg.consumer.batch_linger_ms = 5;
    cfg.consumer.session_timeout_ms = 6_000;
    cfg.consumer.commit_interval_ms = 200;
    cfg
}

/// Creates a topic with `partitions` partitions.
pub async fn create_topic(cfg: &KafkaConfig, name: &str, partitions: i32) {
    let spec = TopicSpec {
        name: name.to_string(),
        partitions,
        ..TopicSpec::default()
    };
    ensure_topics(cfg, &[spec], 1).await.expect("create topic");
}

/// Everything currently in `topic` (up to each partition's high watermark
/// at call time), partition by partition in offset order.
pub async fn read_topic(bootstrap: &str, topic: &str) -> Vec<Message> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || read_topic_blocking(&bootstrap, &topic))
        .await
        .expect("reader thread")
}

fn read_topic_blocking(bootstrap: &str, topic: &str) -> Vec<Message> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    let mut ends = std::collections::HashMap::new();
    for p in metadata.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("tpl");
        ends.insert(p.id(), high);
    }
    consumer.assign(&tpl).expect("assign");
    // A partition is read once past the end offset the broker reported and
    // at its end (tansu's end offsets count record batches, so they are
    // only a floor: the end-of-partition event says when nothing is left).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next: std::collections::HashMap<i32, i64> = ends.keys().map(|p| (*p, 0)).collect();
    let mut done = std::collections::HashSet::new();
    let mut out = Vec::new();
    while done.len() < ends.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p)))
                if next.get(&p) >= ends.get(&p) =>
            {
                done.insert(p);
            }
            Some(Ok(m)) => {
                next.insert(m.partition(), m.offset() + 1);
                done.remove(&m.partition());
                out.push(Message {
                    topic: topic.into(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(Bytes::copy_from_slice),
                    payload: m.payload().map(Bytes::copy_from_slice),
                    timestamp_ms: m.timestamp().to_millis(),
                    headers: Vec::new(),
                });
            }
            _ => {}
        }
    }
    out.sort_by_key(|m| (m.partition, m.offset));
    out
}

/// Reads `topic` until it holds at least `n` records or `timeout` passes.
pub async fn wait_for_records(
    bootstrap: &str,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Vec<Message> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = read_topic(bootstrap, topic).await;
        if got.len() >= n || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The committed offsets of `group` on each partition of `topic` (`None`
/// where nothing is committed).
pub async fn committed(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<Option<i64>> {
    let (bootstrap, group, topic) = (bootstrap.to_string(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(
                |p| match got.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                },
            )
            .collect()
    })
    .await
    .expect("committed thread")
}
