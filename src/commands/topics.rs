//! `lap topics create`: create the pipeline's topics from config.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use lap_runtime::config;
use lap_runtime::transport::kafka::{TopicReport, ensure_topics};

/// Topic administration.
#[derive(Debug, Subcommand)]
pub enum TopicsAction {
    /// Create every topic of the pipeline that does not exist yet (partitions,
    /// replication, retention and compaction from the [topics] config).
    /// Existing topics are reported and left unchanged.
    Create,
}

/// Runs a `lap topics` action.
pub async fn run(config_file: Option<&Path>, action: TopicsAction) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    match action {
        TopicsAction::Create => {
            let specs = cfg.topics.all();
            let reports = ensure_topics(&cfg.kafka, &specs, cfg.topics.replication_factor)
                .await
                .with_context(|| format!("creating topics on {}", cfg.kafka.bootstrap_servers))?;
            for (spec, report) in specs.iter().zip(&reports) {
                let retention = if spec.retention_ms < 0 {
                    "forever".to_string()
                } else {
                    format!("{} h", spec.retention_ms / 3_600_000)
                };
                let policy = if spec.compact { "compact" } else { "delete" };
                let what = match report {
                    TopicReport::Created(_) => "created",
                    TopicReport::Existed(_) => "existed",
                };
                println!(
                    "{what:8} {:16} partitions={:<3} policy={policy:7} retention={retention:9} {}",
                    spec.name, spec.partitions, spec.description
                );
            }
            let created = reports
                .iter()
                .filter(|r| matches!(r, TopicReport::Created(_)))
                .count();
            println!(
                "{created} created, {} already existed",
                reports.len() - created
            );
            Ok(())
        }
    }
}
