//! Topic administration for `lap topics create`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::client_config;
use crate::config::{KafkaConfig, TopicSpec};
use crate::transport::TransportError;

/// What happened to one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicReport {
    /// The topic was created with these settings.
    Created(String),
    /// The topic already existed; it was left unchanged.
    Existed(String),
}

/// Creates every topic in `topics` that does not exist yet. Existing topics
/// are reported and left alone, so running it twice is harmless.
pub async fn ensure_topics(
    cfg: &KafkaConfig,
    topics: &[TopicSpec],
    replication_factor: i32,
) -> Result<Vec<TopicReport>, TransportError> {
    let admin: AdminClient<DefaultClientContext> = client_config(cfg, "admin")?
        .create()
        .map_err(|e| TransportError::Setup(e.to_string()))?;
    let settings: Vec<(String, String)> = topics
        .iter()
        .map(|t| {
            let policy = if t.compact { "compact" } else { "delete" };
            (policy.to_string(), t.retention_ms.to_string())
        })
        .collect();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&settings)
        .map(|(t, (policy, retention))| {
            NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(replication_factor),
            )
            .set("cleanup.policy", policy)
            .set("retention.ms", retention)
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|e| TransportError::Admin(e.to_string()))?;
    results
        .into_iter()
        .map(|r| match r {
            Ok(name) => Ok(TopicReport::Created(name)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(TopicReport::Existed(name)),
            Err((name, code)) => Err(TransportError::Admin(format!("creating {name}: {code}"))),
        })
        .collect()
}
