//! `lap erase --learner ID`: the right to erasure. Finds the learner in the
//! roster, publishes tombstones for their roster records and aggregate
//! history and rewrites the class histories that name them (compaction
//! then removes the old records from the topics), deletes their
//! rows from every table of both stores, vacuums the lake so the files
//! that held them are gone, and writes an audit record with no personal
//! data in each store. Running it again finds nothing and changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use futures::future::try_join_all;
use lap_aggregate::history::ClassHistory;
use lap_enrich::erase::{Directory, Subject};
use lap_runtime::config::{self, Config};
use lap_runtime::transport::kafka::{KafkaSink, TableReader};
use lap_runtime::transport::{Message, OutRecord, RecordSink};
use lap_schemas::RosterRecord;
use lap_sink::delta::purge::{append_audit, purge};
use lap_sink::purge::{ErasureAudit, Purge, Removed};

/// Arguments of `lap erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The learner: their roster sourcedId, or an actor identifier (email
    /// or mailto: IRI, account name, mbox_sha1sum, actor IRI) looked up in
    /// the roster with the identity rules enrich uses.
    #[arg(long)]
    pub learner: String,
    /// The request's reference for the audit record, e.g. a ticket number.
    /// Never a name: the audit record must hold no personal data.
    #[arg(long)]
    pub reference: String,
    /// School authority (default: enrich.tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// No broker (embedded mode): resolve the learner with `--roster` (or
    /// take ID as the sourcedId) and publish no tombstones.
    #[arg(long)]
    pub offline: bool,
    /// OneRoster export to resolve the learner from in `--offline` mode.
    #[arg(long, requires = "offline")]
    pub roster: Option<PathBuf>,
    /// Lake directory or object-store URL (default: sink.lake.path of the
    /// config).
    #[arg(long)]
    pub lake: Option<String>,
    /// Count the learner's rows and records; delete and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `lap erase`.
pub async fn run(config_file: Option<&Path>, args: EraseArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let tenant = args.tenant.clone().unwrap_or(cfg.enrich.tenant.clone());
    let keys = super::pseudonymiser(&cfg)?;
    let mut directory = Directory::new(&tenant, cfg.enrich.identity.clone());
    if !args.offline {
        read_roster_topic(&cfg, &mut directory).await?;
    } else if let Some(path) = &args.roster {
        let export = lap_enrich::roster::load(path, &tenant, &mut |_| {})
            .with_context(|| format!("loading the roster export {}", path.display()))?;
        export.records.into_iter().for_each(|r| directory.apply(r));
    }
    let mut subject = directory.resolve(&args.learner)?;
    let person_key = keys.key(&tenant, &subject.sourced_id);
    let memberships = directory.membership_keys(&person_key);
    eprintln!(
        "learner found by {}; {} roster records, {} class memberships",
        subject.resolved_by,
        subject.roster_keys.len(),
        memberships.len()
    );
    subject.roster_keys.extend(memberships);
    // Someone else's event about this learner keys them by the identifier
    // the event used; the one given here is the one we know.
    let target = Purge::Learner {
        person_key: person_key.clone(),
        object_keys: vec![keys.key(&tenant, &args.learner)],
    };

    let tombstones = if args.offline {
        BTreeMap::new()
    } else {
        publish_tombstones(&cfg, &subject, &person_key, args.dry_run).await?
    };
    let mut rows_deleted: BTreeMap<&'static str, Removed> = BTreeMap::new();
    let lake = if !(cfg.sink.lake.enabled || args.lake.is_some()) {
        None
    } else if args.dry_run {
        Some(super::lake(&cfg, args.lake.as_deref())?)
    } else {
        Some(super::writable_lake(&cfg, args.lake.as_deref()).await?)
    };
    if let Some(lake) = &lake {
        let removed = purge(lake, &target, chrono::Duration::zero(), args.dry_run)
            .await
            .with_context(|| format!("erasing from the lake at {lake}"))?;
        rows_deleted.insert("lake", removed);
    }
    let mut postgres = super::postgres_store(&cfg)?;
    if let Some(pg) = postgres.as_mut() {
        let removed = pg
            .purge(&target, args.dry_run)
            .await
            .context("erasing from PostgreSQL; nothing was deleted there, run lap erase again")?;
        rows_deleted.insert("postgres", removed);
    }

    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for (store, removed) in &rows_deleted {
        for (table, n) in removed {
            println!("{store:9} {table:16} {verb} {n} rows");
        }
    }
    let publish = if args.dry_run {
        "would publish"
    } else {
        "published"
    };
    for (topic, n) in &tombstones {
        match topic.strip_suffix(" rewritten") {
            Some(topic) => println!(
                "{:9} {topic:16} {publish} {n} class histories without the learner",
                "kafka"
            ),
            None => println!("{:9} {topic:16} {publish} {n} tombstones", "kafka"),
        }
    }
    if args.dry_run {
        return Ok(());
    }
    let audit = ErasureAudit {
        erasure_id: uuid::Uuid::new_v4().to_string(),
        erased_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tenant,
        reference: args.reference,
        resolved_by: subject.resolved_by.to_string(),
        rows_deleted,
        tombstones,
    };
    // A lake directory that does not exist holds nothing to account for.
    if let Some(lake) = lake.as_ref().filter(|l| l.exists()) {
        append_audit(lake, &audit).await?;
    }
    if let Some(pg) = postgres.as_mut() {
        pg.record_erasure(&audit).await?;
    }
    println!(
        "erasure {} recorded (reference {})",
        audit.erasure_id, audit.reference
    );
    Ok(())
}

/// Reads the roster topic into `directory`. A record that is not a roster
/// record is skipped with a warning, as enrich skips it: junk on the topic
/// must not block an erasure.
async fn read_roster_topic(cfg: &Config, directory: &mut Directory) -> anyhow::Result<()> {
    let topic = cfg.topics.roster.name.clone();
    let mut skipped = 0;
    for m in read_table(cfg, &topic).await? {
        match (&m.key, &m.payload) {
            (_, Some(value)) => match lap_schemas::decode::<RosterRecord>(value) {
                Ok(record) => directory.apply(record),
                Err(_) => skipped += 1,
            },
            (Some(key), None) => directory.delete(&String::from_utf8_lossy(key)),
            (None, None) => {}
        }
    }
    if skipped > 0 {
        eprintln!("warning: skipped {skipped} records on {topic} that are not roster records");
    }
    Ok(())
}

/// Every message of a (compacted) topic, read to its end.
async fn read_table(cfg: &Config, topic: &str) -> anyhow::Result<Vec<Message>> {
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

/// Tombstones for the learner's roster records and their aggregate history
/// (state keys `learner:{…"<pseudonym>"…}`), and each class history that
/// names them rewritten without them (a class's history holds all its
/// learners under one key); waits for acks=all. Returns the records
/// published per topic, rewrites counted under `<state topic> rewritten`.
async fn publish_tombstones(
    cfg: &Config,
    subject: &Subject,
    person_key: &str,
    dry_run: bool,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let state = &cfg.topics.aggregate_state.name;
    let quoted = format!("\"{person_key}\"");
    // A task's history lives in the changelog partition of its input
    // partition: each record goes where its key was found. A rewrite
    // carries the partition's highest epoch so that restoring the
    // changelog takes it as the current owner's.
    let mut history: BTreeMap<String, i32> = BTreeMap::new();
    let mut classes: BTreeMap<String, (i32, String)> = BTreeMap::new();
    let mut epochs: BTreeMap<i32, i64> = BTreeMap::new();
    for m in read_table(cfg, state).await? {
        let Some(key) = m
            .key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
        else {
            continue;
        };
        let value = m.payload.as_ref().map(|v| String::from_utf8_lossy(v));
        if let Some(epoch) = value.as_ref().and_then(|v| v.split_once(' '))
            && let Ok(epoch) = epoch.0.parse::<i64>()
        {
            let max = epochs.entry(m.partition).or_insert(epoch);
            *max = (*max).max(epoch);
        }
        if key.starts_with("class:") {
            match value {
                Some(v) => classes.insert(key, (m.partition, v.into_owned())),
                None => classes.remove(&key),
            };
        } else if key.starts_with("learner:") && key.contains(&quoted) {
            match value {
                Some(_) => history.insert(key, m.partition),
                None => history.remove(&key),
            };
        }
    }
    let rewritten: Vec<OutRecord> = classes
        .into_iter()
        .filter_map(|(key, (partition, value))| {
            let epoch = epochs.get(&partition).copied().unwrap_or_default();
            let value = ClassHistory::erase_from_value(&value, person_key, epoch)?;
            Some(
                OutRecord::new(
                    state.as_str().into(),
                    Some(Bytes::from(key)),
                    Bytes::from(value),
                )
                .to_partition(partition),
            )
        })
        .collect();
    let roster_keys = subject.roster_keys.iter().map(|k| (k.clone(), None));
    let mut planned = vec![(
        cfg.topics.roster.name.clone(),
        roster_keys.collect::<Vec<_>>(),
    )];
    planned.push((
        state.clone(),
        history.into_iter().map(|(k, p)| (k, Some(p))).collect(),
    ));
    let mut counts = BTreeMap::new();
    let sink = KafkaSink::new(&cfg.kafka, "erase")?;
    let mut pending = Vec::new();
    for (topic, keys) in planned {
        counts.insert(topic.clone(), keys.len() as u64);
        if dry_run {
            continue;
        }
        let topic: Arc<str> = Arc::from(topic.as_str());
        for (key, partition) in keys {
            pending.push(
                sink.send(OutRecord {
                    topic: topic.clone(),
                    key: Some(Bytes::from(key)),
                    payload: None,
                    headers: Vec::new(),
                    partition,
                })
                .await?,
            );
        }
    }
    counts.insert(format!("{state} rewritten"), rewritten.len() as u64);
    if !dry_run {
        for record in rewritten {
            pending.push(sink.send(record).await?);
        }
    }
    try_join_all(pending)
        .await
        .context("publishing tombstones; nothing was deleted from the stores yet: run lap erase again when the broker is back")?;
    Ok(counts)
}
