//! Lake upkeep: compaction. Every sink batch adds small Parquet files to
//! each table it touches (a file per partition per commit), which slows
//! every later read and MERGE. Compaction (delta-rs `optimize`) rewrites
//! them into files of a target size in one commit, then `vacuum` deletes
//! the files no version younger than `keep` refers to. Rows do not change;
//! readers holding an older snapshot keep working for `keep`.
//!
//! It may run while a sink writes: a MERGE that conflicts with the
//! compaction's commit fails, and the sink retries its batch (idempotent).

use std::num::NonZeroU64;

use super::{Lake, open_existing, table_error, tables};
use crate::store::StoreError;

/// What compaction did to one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Table name.
    pub table: &'static str,
    /// Small files rewritten (no longer part of the table).
    pub files_removed: u64,
    /// Files written in their place.
    pub files_added: u64,
    /// Files deleted from storage by the vacuum.
    pub files_deleted: usize,
}

/// Compacts every table of `lake` into files of about
/// `target_bytes`, then vacuums files unreferenced for longer than `keep`.
/// Tables not created yet are skipped.
pub async fn compact(
    lake: &Lake,
    target_bytes: u64,
    keep: chrono::Duration,
) -> Result<Vec<Compacted>, StoreError> {
    let target = NonZeroU64::new(target_bytes.max(1)).expect("at least 1");
    let mut done = Vec::new();
    for name in tables() {
        let Some(table) = open_existing(lake, name).await? else {
            continue;
        };
        let failed = table_error(name);
        let (table, optimized) = table
            .optimize()
            .with_target_size(target)
            .await
            .map_err(|e| failed("compact", e))?;
        let (_, vacuumed) = table
            .vacuum()
            .with_retention_period(keep)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| failed("vacuum", e))?;
        done.push(Compacted {
            table: name,
            files_removed: optimized.num_files_removed,
            files_added: optimized.num_files_added,
            files_deleted: vacuumed.files_deleted.len(),
        });
    }
    Ok(done)
}
