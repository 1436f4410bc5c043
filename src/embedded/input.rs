//! Activity files into the raw topics, in the order given, then sealed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use bytes::Bytes;
use lap_runtime::config::Config;
use lap_runtime::transport::memory::MemoryBroker;
use lap_runtime::transport::{OutRecord, RecordSink};
use tokio::task::JoinHandle;

/// The activity files under `paths` (files as given, folders' `.ndjson`
/// and `.json` files by name), in that order. Files named by arrival day,
/// as `lap gen` writes them, are thereby read in the order they arrived.
pub fn activity_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "ndjson" || x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{} is neither a file nor a folder", p.display());
        }
    }
    if files.is_empty() {
        bail!("no activity files (.ndjson) found in {paths:?}; generate some with `lap gen`");
    }
    Ok(files)
}

/// Whether a file holds Caliper envelopes (its name says `caliper`).
fn is_caliper(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().to_lowercase().contains("caliper"))
}

/// Reads every line of `files` into the raw topics on a blocking thread and
/// seals them when done. Blank lines are skipped; every other line is one
/// message, exactly as read (ingest judges it). The counter tells how many
/// lines were read so far.
pub fn feed(
    broker: &MemoryBroker,
    cfg: &Config,
    files: &[PathBuf],
) -> (JoinHandle<anyhow::Result<()>>, Arc<AtomicU64>) {
    let (broker, files) = (broker.clone(), files.to_vec());
    let xapi: Arc<str> = Arc::from(cfg.topics.raw_xapi.name.as_str());
    let caliper: Arc<str> = Arc::from(cfg.topics.raw_caliper.name.as_str());
    let runtime = tokio::runtime::Handle::current();
    let lines = Arc::new(AtomicU64::new(0));
    let read = lines.clone();
    let handle = tokio::task::spawn_blocking(move || {
        let sink = broker.sink();
        for path in &files {
            let topic = if is_caliper(path) { &caliper } else { &xapi };
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            for line in BufReader::new(file).split(b'\n') {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let record = OutRecord {
                    topic: topic.clone(),
                    key: None,
                    payload: Some(Bytes::from(line)),
                    headers: Vec::new(),
                    partition: None,
                };
                // The in-memory sink stores at once; awaiting is immediate.
                runtime.block_on(async { sink.send(record).await?.await })?;
                read.fetch_add(1, Ordering::Relaxed);
            }
        }
        broker.seal(&xapi);
        broker.seal(&caliper);
        Ok(())
    });
    (handle, lines)
}
