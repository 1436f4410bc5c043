//! The Kafka adapter (rdkafka with its bundled librdkafka).
//!
//! Nothing here depends on a particular broker: plain consumer groups,
//! an idempotent producer with `acks=all`, and committed offsets. That is what
//! lets the services run unchanged on Apache Kafka, Redpanda, a managed Kafka
//! or the small brokers the test suite starts.

mod admin;
mod source;
mod table;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

pub use admin::{TopicReport, ensure_topics};
pub use source::KafkaSource;
pub use table::{TableReader, partition_count};

use super::{OutRecord, Pending, PendingInner, RecordSink, TransportError};
use crate::config::{KafkaConfig, Secret};

/// Environment variable holding the SASL password (alternative to
/// `kafka.sasl_password_file`).
pub const SASL_PASSWORD_ENV: &str = "LAP_KAFKA_SASL_PASSWORD";

/// librdkafka settings shared by every client: brokers, identity, TLS/SASL and
/// pass-through properties.
pub(crate) fn client_config(cfg: &KafkaConfig, role: &str) -> Result<ClientConfig, TransportError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers)
        .set("client.id", format!("{}-{role}", cfg.client_id))
        .set("security.protocol", &cfg.security_protocol);
    if !cfg.sasl_mechanism.is_empty() {
        let password = Secret::resolve(SASL_PASSWORD_ENV, &cfg.sasl_password_file)
            .map_err(|e| TransportError::Setup(e.to_string()))?
            .ok_or_else(|| {
                TransportError::Setup(format!(
                    "kafka.sasl_mechanism is set but no password: set {SASL_PASSWORD_ENV} or kafka.sasl_password_file"
                ))
            })?;
        c.set("sasl.mechanism", &cfg.sasl_mechanism)
            .set("sasl.username", &cfg.sasl_username)
            .set("sasl.password", password.expose());
    }
    if !cfg.ssl_ca_location.is_empty() {
        c.set("ssl.ca.location", &cfg.ssl_ca_location);
    }
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    Ok(c)
}

/// Produces records to Kafka with `acks=all` and idempotence on, so a retried
/// produce never duplicates or reorders records within a partition.
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaSink")
    }
}

impl KafkaSink {
    /// Creates the producer; `role` is appended to the client id (e.g. `ingest`).
    pub fn new(cfg: &KafkaConfig, role: &str) -> Result<Self, TransportError> {
        let mut c = client_config(cfg, role)?;
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", cfg.producer.linger_ms.to_string())
            .set("compression.type", &cfg.producer.compression)
            .set(
                "delivery.timeout.ms",
                cfg.producer.delivery_timeout_ms.to_string(),
            )
            .set("partitioner", "murmur2_random");
        let producer = c
            .create()
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        Ok(KafkaSink { producer })
    }
}

impl RecordSink for KafkaSink {
    async fn send(&self, record: OutRecord) -> Result<Pending, TransportError> {
        let mut backoff = Duration::from_millis(1);
        loop {
            let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&record.topic);
            if let Some(headers) = owned_headers(&record.headers) {
                fr = fr.headers(headers);
            }
            if let Some(k) = &record.key {
                fr = fr.key(k.as_ref());
            }
            if let Some(p) = &record.payload {
                fr = fr.payload(p.as_ref());
            }
            if let Some(p) = record.partition {
                fr = fr.partition(p);
            }
            match self.producer.send_result(fr) {
                Ok(future) => {
                    return Ok(Pending(PendingInner::Kafka {
                        topic: record.topic.clone(),
                        future,
                    }));
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The local queue is full: wait for deliveries to drain it.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    return Err(TransportError::Delivery {
                        topic: record.topic.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    async fn flush(&self, timeout: Duration) -> Result<(), TransportError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| TransportError::Thread(e.to_string()))?
            .map_err(|e| TransportError::Delivery {
                topic: "*".into(),
                reason: format!("flush: {e}"),
            })
    }
}

/// librdkafka's copy of a record's headers, or `None` for a record without
/// any (most records): each list is a C allocation per attempt, which a
/// record without headers needs neither of.
fn owned_headers(headers: &[(String, Bytes)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let owned = headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |owned, (k, v)| {
            owned.insert(Header {
                key: k,
                value: Some(v.as_ref()),
            })
        },
    );
    Some(owned)
}

/// Interns topic names so messages share one allocation per topic.
#[derive(Default)]
pub(crate) struct TopicNames(std::collections::HashMap<String, Arc<str>>);

impl TopicNames {
    pub(crate) fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(t) = self.0.get(name) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(name);
        self.0.insert(name.to_string(), t.clone());
        t
    }
}
