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

use std::collections::BTreeSet;

use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use super::schema::EVENT_DATE;

/// Appends the rows of `batch` (one per key, as [`crate::rows`] leaves
/// them) whose key `table` does not hold yet, in one commit; returns the
/// table at its new version and how many rows. Nothing is committed when
/// every row is already there.
pub(super) async fn insert_new_events(
    mut table: DeltaTable,
    batch: RecordBatch,
) -> Result<(DeltaTable, u64), DeltaTableError> {
    let read = partitions_of(&batch)?;
    let ctx = SessionContext::new();
    ctx.register_batch("source", batch)?;
    ctx.register_table("target", table.table_provider().await?)?;
    let sql = format!(
        "SELECT source.* FROM source LEFT ANTI JOIN \
           (SELECT {EVENT_DATE}, tenant, event_id FROM target WHERE {read}) AS stored \
         ON source.{EVENT_DATE} = stored.{EVENT_DATE} AND source.tenant = stored.tenant \
           AND source.event_id = stored.event_id"
    );
    let new = ctx.sql(&sql).await?.collect().await?;
    let rows: usize = new.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok((table, 0));
    }
    let mut writer = RecordBatchWriter::for_table(&table)?;
    for b in new {
        writer.write(b).await?;
    }
    let adds = writer.flush().await?.into_iter().map(Action::Add).collect();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![EVENT_DATE.to_string()]),
        predicate: Some(read),
    };
    CommitBuilder::default()
        .with_actions(adds)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    table.update_state().await?;
    Ok((table, rows as u64))
}

/// The predicate selecting the date partitions `batch` has rows for.
fn partitions_of(batch: &RecordBatch) -> Result<String, DeltaTableError> {
    let dates = batch
        .column_by_name(EVENT_DATE)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| DeltaTableError::Generic(format!("{EVENT_DATE} is not a text column")))?;
    let dates: BTreeSet<&str> = dates.iter().flatten().collect();
    let listed: Vec<String> = dates
        .iter()
        .map(|d| format!("'{}'", d.replace('\'', "''")))
        .collect();
    Ok(format!("{EVENT_DATE} IN ({})", listed.join(", ")))
}
