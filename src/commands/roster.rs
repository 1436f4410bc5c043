//! `lap roster load PATH`: read a OneRoster export, report its problems,
//! and publish what changed to the compacted roster topic, together with
//! the class lists by pseudonym the aggregate derives learners without
//! activity from (see `lap_enrich::members`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Subcommand;
use futures::future::try_join_all;
use indicatif::{ProgressBar, ProgressStyle};
use lap_enrich::members::class_members;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_enrich::roster::{self, Change, Export, FileMode, Published, Severity, record_key};
use lap_enrich::state::Roster;
use lap_runtime::config::{self, Config};
use lap_runtime::transport::kafka::{KafkaSink, TableReader};
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{RosterEntity, RosterRecord};

/// Roster commands.
#[derive(Debug, Subcommand)]
pub enum RosterAction {
    /// Load an export (a folder or a .zip holding manifest.csv and the
    /// OneRoster CSV files, plus lap-curriculum.csv, lap-questionnaire.csv
    /// and lap-consent.csv when present). Bad rows are reported with file,
    /// line and column and skipped; the good rows are loaded. Only records
    /// that changed are published, so loading the same export again changes
    /// nothing downstream.
    Load {
        /// Folder or zip file of the export.
        path: PathBuf,
        /// School authority the export belongs to (default: enrich.tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Exit with an error when any row was rejected (after loading the rest).
        #[arg(long)]
        strict: bool,
        /// Check the export and print the report without publishing.
        #[arg(long)]
        dry_run: bool,
        /// Also write every problem to this file, one per line.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// Problems printed to the terminal before the rest go only to `--report`.
const SHOWN_ISSUES: usize = 50;

/// Runs a `lap roster` action.
pub async fn run(config_file: Option<&Path>, action: RosterAction) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let RosterAction::Load {
        path,
        tenant,
        strict,
        dry_run,
        report,
    } = action;
    let tenant = tenant.unwrap_or_else(|| cfg.enrich.tenant.clone());
    let export = read_export(&path, &tenant)?;
    print_report(&export, report.as_deref())?;
    if !dry_run {
        let keys = super::pseudonymiser(&cfg)
            .context("lap roster load publishes the class lists by pseudonym, with enrich's key")?;
        publish(&cfg, &export, &tenant, &keys).await?;
    }
    let rejected: u64 = export.files.iter().map(|f| f.rejected).sum();
    if strict && export.has_errors() {
        bail!(
            "{rejected} rows rejected and --strict given; fix the rows listed above and load again"
        );
    }
    Ok(())
}

fn read_export(path: &Path, tenant: &str) -> anyhow::Result<Export> {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let export = roster::load(path, tenant, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(p.file.to_string());
    })
    .with_context(|| format!("loading the roster export {}", path.display()))?;
    bar.finish_and_clear();
    Ok(export)
}

fn print_report(export: &Export, report: Option<&Path>) -> anyhow::Result<()> {
    for issue in export.issues.iter().take(SHOWN_ISSUES) {
        eprintln!("{issue}");
    }
    if export.issues.len() > SHOWN_ISSUES {
        eprintln!(
            "... and {} more problems{}",
            export.issues.len() - SHOWN_ISSUES,
            if report.is_some() {
                " (all in the report file)"
            } else {
                "; use --report FILE to see all"
            }
        );
    }
    if let Some(file) = report {
        let text: String = export.issues.iter().map(|i| format!("{i}\n")).collect();
        std::fs::write(file, text)
            .with_context(|| format!("writing the report to {}", file.display()))?;
    }
    println!("OneRoster {} export", export.spec_version);
    println!(
        "{:24} {:6} {:>8} {:>8} {:>8}",
        "file", "mode", "read", "loaded", "rejected"
    );
    for f in &export.files {
        let mode = match f.mode {
            FileMode::Bulk => "bulk",
            FileMode::Delta => "delta",
        };
        println!(
            "{:24} {mode:6} {:>8} {:>8} {:>8}",
            f.file, f.read, f.loaded, f.rejected
        );
    }
    let warnings = export
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Warning)
        .count();
    println!(
        "{} records to publish; {} errors, {warnings} warnings",
        export.records.len(),
        export.issues.len() - warnings
    );
    Ok(())
}

/// Reads what the roster topic holds for the tenant now, publishes the
/// difference (the class lists derived from the roster as it will be
/// included) and waits until the broker has it (acks=all).
async fn publish(
    cfg: &Config,
    export: &Export,
    tenant: &str,
    keys: &Pseudonymiser,
) -> anyhow::Result<()> {
    let topic = cfg.topics.roster.name.clone();
    let kafka = cfg.kafka.clone();
    let (t, tenant_owned) = (topic.clone(), tenant.to_string());
    let identity = cfg.enrich.identity.clone();
    let (current, mut state) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut reader =
            TableReader::open(&kafka, &t, Duration::from_secs(30)).with_context(|| {
                format!(
                    "reading the roster topic {t} on {}",
                    kafka.bootstrap_servers
                )
            })?;
        let mut published = Published::new(tenant_owned.clone());
        let mut state = Roster::new(tenant_owned, identity);
        let mut unkeyed = 0;
        reader.catch_up(
            |m| match (&m.key, m.payload.as_deref()) {
                (Some(key), payload) => {
                    published.apply(key, payload);
                    match payload {
                        Some(v) => {
                            if let Ok(r) = lap_schemas::decode::<RosterRecord>(v) {
                                state.apply(r);
                            }
                        }
                        None => state.delete(&String::from_utf8_lossy(key)),
                    }
                }
                (None, _) => unkeyed += 1,
            },
            |n, behind| {
                eprintln!("reading the published roster: {n} records, {behind} partitions to go")
            },
        )?;
        if unkeyed > 0 {
            eprintln!(
                "warning: {unkeyed} records on {t} have no key and are ignored in the comparison"
            );
        }
        Ok((published, state))
    })
    .await??;

    let mut changes = roster::plan(&current, export)?;
    changes.iter().for_each(|c| state.apply_change(c));
    let members = class_members(&state, keys);
    let member_changes = roster::plan_derived(&current, RosterEntity::ClassMember, &members)?;
    println!(
        "class lists by pseudonym: {} memberships of learners in classes, {} of them new, changed or gone",
        members.len(),
        member_changes.len()
    );
    changes.extend(member_changes);
    let records = export
        .records
        .iter()
        .filter(|r| r.status == lap_schemas::RosterStatus::Active)
        .count()
        + members.len();
    let sink = KafkaSink::new(&cfg.kafka, "roster-load")?;
    let topic: Arc<str> = Arc::from(topic.as_str());
    let mut pending = Vec::with_capacity(changes.len());
    let (mut upserts, mut deletes) = (0, 0);
    for change in &changes {
        let (key, payload) = match change {
            Change::Upsert(r) => {
                upserts += 1;
                let key = record_key(&r.tenant, r.entity, &r.sourced_id);
                (key, Some(Bytes::from(lap_schemas::encode(r)?)))
            }
            Change::Delete(key) => {
                deletes += 1;
                (key.clone(), None)
            }
        };
        let record = OutRecord {
            topic: topic.clone(),
            key: Some(Bytes::from(key)),
            payload,
            headers: Vec::new(),
            partition: None,
        };
        pending.push(sink.send(record).await?);
    }
    try_join_all(pending).await.with_context(|| {
        format!("publishing to {topic}; nothing was lost: load again when the broker is back")
    })?;
    println!(
        "published to {topic}: {upserts} new or changed, {deletes} deleted, {} unchanged",
        records.saturating_sub(upserts)
    );
    Ok(())
}
