//! What `lap backfill` computes from: the events (the enriched and late
//! topics, the lake's events table, or NDJSON archives) and the reference
//! data (the roster topic, or an export).

use std::time::Duration;

use anyhow::Context;
use lap_aggregate::backfill::read_ndjson;
use lap_aggregate::reference::Reference;
use lap_runtime::config::Config;
use lap_runtime::transport::Message;
use lap_runtime::transport::kafka::TableReader;
use lap_schemas::{EnrichedEvent, RosterRecord, decode};

use super::{BackfillArgs, From};

/// Every message of `topic`, read to its end.
async fn read_topic(cfg: &Config, topic: &str) -> anyhow::Result<Vec<Message>> {
    let (kafka, t) = (cfg.kafka.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Message>> {
        let mut reader = TableReader::open(&kafka, &t, Duration::from_secs(30))
            .with_context(|| format!("reading {t} on {}", kafka.bootstrap_servers))?;
        let mut all = Vec::new();
        reader.catch_up(
            |m| all.push(m),
            |n, behind| eprintln!("reading {t}: {n} records, {behind} partitions to go"),
        )?;
        Ok(all)
    })
    .await?
}

/// The events before `until` (UTC µs) the arguments name.
pub async fn events(
    cfg: &Config,
    args: &BackfillArgs,
    until: i64,
) -> anyhow::Result<Vec<EnrichedEvent>> {
    let mut events = Vec::new();
    if !args.inputs.is_empty() {
        for path in &args.inputs {
            let read = read_ndjson(path)?;
            eprintln!("read {} events from {}", read.len(), path.display());
            events.extend(read);
        }
    } else if args.from == From::Lake {
        let lake = super::super::lake(cfg, args.lake.as_deref())?;
        events = lap_sink::delta::read::events(&lake, until)
            .await
            .with_context(|| format!("reading the events table of the lake at {lake}"))?;
    } else {
        for topic in [&cfg.topics.enriched.name, &cfg.topics.late.name] {
            let mut undecodable = 0;
            for m in read_topic(cfg, topic).await? {
                match m.payload.as_deref().map(decode::<EnrichedEvent>) {
                    Some(Ok(e)) => events.push(e),
                    Some(Err(_)) => undecodable += 1,
                    None => {}
                }
            }
            if undecodable > 0 {
                eprintln!(
                    "warning: skipped {undecodable} records on {topic} that are not enriched events"
                );
            }
        }
    }
    events.retain(|e| e.event_time < until);
    Ok(events)
}

/// Curriculum, questionnaire and class lists: from `roster` (an export)
/// when given, else from the roster topic.
pub async fn reference(
    cfg: &Config,
    roster: Option<&std::path::Path>,
) -> anyhow::Result<Reference> {
    if let Some(path) = roster {
        return super::super::reference_of_export(cfg, path);
    }
    let tenant = &cfg.enrich.tenant;
    let mut reference = Reference::default();
    for m in read_topic(cfg, &cfg.topics.roster.name).await? {
        match (&m.payload, &m.key) {
            (Some(bytes), _) => {
                if let Ok(r) = decode::<RosterRecord>(bytes) {
                    reference.apply(tenant, &r);
                }
            }
            (None, Some(key)) => {
                reference.delete_key(tenant, &String::from_utf8_lossy(key));
            }
            (None, None) => {}
        }
    }
    Ok(reference)
}
