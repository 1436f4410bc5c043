//! Event rows inserted without a MERGE.
//!
//! Event rows are only ever inserted, never updated, so the full MERGE
//! (a full outer join of the batch with every column of the target
//! partitions, 62 % of the lake's write time in the end-to-end benchmark)
//! does more than needed. Here only the keys (`event_date`, `tenant`,
//! `event_id`) of the batch's date partitions are read, the batch's rows
//! missing from them are appended, and the commit names those partitions
//! as what it read: when a concurrent writer added files there in the
//! meantime, delta-rs's conflict check fails the commit and the sink
//! retries the batch against the new version. So a replayed or copied
//! event is still inserted exactly once.
//!
//! The keys of the most recent date partitions are kept in memory
//! ([`EventKeys`], up to `sink.lake.cached_event_keys`) for the table version they
//! describe, so an append to today's partition does not read back every
//! key stored there today (a read that grew with the day and was the
//! lake's largest cost at 5,000 events/s), nor one of a device that syncs
//! a few days late the keys of its days. They are trusted only while the table is at that version:
//! any commit not made through them (another sink, a compaction, an
//! erasure) makes the next append read the keys again.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use deltalake::arrow::array::{AsArray, BooleanArray, RecordBatch, StringArray};
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use xxhash_rust::xxh3::xxh3_128;

use super::schema::EVENT_DATE;

/// The stored event keys of recent date partitions, valid at one table
/// version. A key is the 128-bit hash of (`tenant`, `event_id`): 16 bytes
/// a key, where the strings took ten times that, and two different events
/// sharing a hash is as likely as 2^-128 per pair.
#[derive(Debug)]
pub(super) struct EventKeys {
    version: Option<u64>,
    dates: BTreeMap<String, HashSet<u128>>,
    /// Most keys kept (`sink.lake.cached_event_keys`).
    budget: usize,
}

impl EventKeys {
    /// Nothing kept yet; at most `budget` keys will be.
    pub(super) fn with_budget(budget: usize) -> Self {
        EventKeys {
            version: None,
            dates: BTreeMap::new(),
            budget,
        }
    }

    /// Most keys kept.
    #[cfg(test)]
    pub(super) fn budget(&self) -> usize {
        self.budget
    }

    /// Forgets everything (the table moved on without us).
    fn reset(&mut self, version: Option<u64>) {
        self.version = version;
        self.dates.clear();
    }

    /// Drops the oldest dates while more keys than the budget are kept,
    /// keeping at least the newest date however many keys it has.
    fn trim(&mut self) {
        let mut kept: usize = self.dates.values().map(HashSet::len).sum();
        while kept > self.budget && self.dates.len() > 1 {
            kept -= self.dates.pop_first().map_or(0, |(_, keys)| keys.len());
        }
    }
}

fn key_hash(tenant: &str, event_id: &str) -> u128 {
    let mut key = Vec::with_capacity(tenant.len() + event_id.len() + 1);
    key.extend_from_slice(tenant.as_bytes());
    key.push(0);
    key.extend_from_slice(event_id.as_bytes());
    xxh3_128(&key)
}

/// Appends the rows of `batch` (one per key, as [`crate::rows`] leaves
/// them) whose key `table` does not hold yet, in one commit; returns the
/// table at its new version and how many rows. Nothing is committed when
/// every row is already there. `keys` remembers stored keys between calls.
pub(super) async fn insert_new_events(
    mut table: DeltaTable,
    batch: RecordBatch,
    keys: &mut EventKeys,
) -> Result<(DeltaTable, u64), DeltaTableError> {
    let read_version = table.version();
    if keys.version != read_version {
        keys.reset(read_version);
    }
    let dates = text_column(&batch, EVENT_DATE)?;
    let batch_dates: BTreeSet<&str> = dates.iter().flatten().collect();
    let missing: Vec<&str> = batch_dates
        .iter()
        .copied()
        .filter(|d| !keys.dates.contains_key(*d))
        .collect();
    if !missing.is_empty() {
        load_keys(&table, &missing, keys).await?;
    }
    let (tenants, ids) = (
        text_column(&batch, "tenant")?,
        text_column(&batch, "event_id")?,
    );
    let new_keys: Vec<Option<(&str, u128)>> = (0..batch.num_rows())
        .map(|i| {
            let date = dates.value(i);
            let key = key_hash(tenants.value(i), ids.value(i));
            let stored = keys.dates.get(date).is_some_and(|k| k.contains(&key));
            (!stored).then_some((date, key))
        })
        .collect();
    let mask: BooleanArray = new_keys.iter().map(|k| Some(k.is_some())).collect();
    let new = filter_record_batch(&batch, &mask)?;
    let rows = new.num_rows();
    if rows == 0 {
        keys.trim();
        return Ok((table, 0));
    }
    let mut writer = RecordBatchWriter::for_table(&table)?;
    writer.write(new).await?;
    let adds = writer.flush().await?.into_iter().map(Action::Add).collect();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![EVENT_DATE.to_string()]),
        predicate: Some(partitions_predicate(&batch_dates)),
    };
    let committed = CommitBuilder::default()
        .with_actions(adds)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?
        .version();
    table.update_state().await?;
    // Only our commit since the read: the kept keys plus ours are the
    // table's. Anything else committed meanwhile: read again next time.
    if read_version.map(|v| v + 1) == Some(committed) && table.version() == Some(committed) {
        for (date, key) in new_keys.into_iter().flatten() {
            keys.dates.entry(date.to_string()).or_default().insert(key);
        }
        keys.version = Some(committed);
        keys.trim();
    } else {
        keys.reset(None);
    }
    Ok((table, rows as u64))
}

/// Reads the stored keys of `dates` from `table` into `keys`.
async fn load_keys(
    table: &DeltaTable,
    dates: &[&str],
    keys: &mut EventKeys,
) -> Result<(), DeltaTableError> {
    for date in dates {
        keys.dates.entry(date.to_string()).or_default();
    }
    // A table without a commit has no rows to read.
    if table.version().is_none() {
        return Ok(());
    }
    let ctx = SessionContext::new();
    ctx.register_table("target", table.table_provider().await?)?;
    let sql = format!(
        "SELECT {EVENT_DATE}, tenant, event_id FROM target WHERE {}",
        partitions_predicate(&dates.iter().copied().collect())
    );
    for stored in ctx.sql(&sql).await?.collect().await? {
        let (d, t, e) = (
            text_column(&stored, EVENT_DATE)?,
            text_column(&stored, "tenant")?,
            text_column(&stored, "event_id")?,
        );
        for i in 0..stored.num_rows() {
            let key = key_hash(t.value(i), e.value(i));
            keys.dates
                .entry(d.value(i).to_string())
                .or_default()
                .insert(key);
        }
    }
    Ok(())
}

/// A text column of `batch` as plain UTF-8 (a table read gives partition
/// columns dictionary-encoded and strings possibly as views).
fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray, DeltaTableError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DeltaTableError::Generic(format!("no column {name}")))?;
    let text = cast(column, &DataType::Utf8)?;
    text.as_string_opt::<i32>()
        .cloned()
        .ok_or_else(|| DeltaTableError::Generic(format!("{name} is not a text column")))
}

/// The predicate selecting the date partitions `dates`.
fn partitions_predicate(dates: &BTreeSet<&str>) -> String {
    let listed: Vec<String> = dates
        .iter()
        .map(|d| format!("'{}'", d.replace('\'', "''")))
        .collect();
    format!("{EVENT_DATE} IN ({})", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(keys: &EventKeys) -> Vec<&str> {
        keys.dates.keys().map(String::as_str).collect()
    }

    #[test]
    fn trim_keeps_the_newest_dates_within_the_budget() {
        let mut keys = EventKeys::with_budget(5);
        for (date, n) in [("2026-09-01", 3), ("2026-09-02", 2), ("2026-09-07", 2)] {
            keys.dates.insert(date.into(), (0..n).collect());
        }
        keys.trim();
        assert_eq!(dates(&keys), ["2026-09-02", "2026-09-07"]);
        // Many dates within the budget all stay, however old.
        keys.budget = 4;
        keys.trim();
        assert_eq!(dates(&keys), ["2026-09-02", "2026-09-07"]);
        // The newest date stays even when it alone is over the budget.
        keys.dates.insert("2026-09-08".into(), (0..9).collect());
        keys.trim();
        assert_eq!(dates(&keys), ["2026-09-08"]);
    }
}
