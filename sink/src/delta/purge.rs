//! Erasure and retention on the lake. A Delta `DELETE` only writes a new
//! version without the rows; the Parquet files that held them stay for
//! time travel until a vacuum deletes them. So a purge deletes, then
//! vacuums files unreferenced for longer than `keep`: erasure passes zero,
//! so the rows are gone from storage when the command returns.

use deltalake::datafusion::prelude::{Expr, SessionContext, col, lit};
use deltalake::datafusion::scalar::ScalarValue;

use super::{Lake, LineEdit, open_existing, table_error};
use crate::purge::{ErasureAudit, Purge, Removed, RowFilter};
use crate::store::StoreError;

/// Folder under the lake root holding the erasure audit log (not a table:
/// it must outlive any table operation and be readable without lap).
pub const AUDIT_DIR: &str = "_lap_audit";
/// The erasure audit log: one JSON [`ErasureAudit`] per line.
pub const AUDIT_FILE: &str = "erasures.ndjson";

/// Folder under the lake root holding the views service's records (`lap
/// views`): access records and flag actions, one JSON object per line,
/// each naming the learner's `person_key`.
pub const VIEWS_DIR: &str = "_lap_views";
/// The views service's record files in [`VIEWS_DIR`] that name learners,
/// by table name: erasing a learner edits each.
pub const VIEWS_FILES: [(&str, &str); 4] = [
    ("views_access", "access.jsonl"),
    ("views_flag_actions", "flag-actions.jsonl"),
    ("views_groups", "groups.jsonl"),
    ("views_digest_flags", "digest-flags.jsonl"),
];
/// The views service's other record files in [`VIEWS_DIR`], about
/// teachers only: digest preferences and the digests sent.
pub const VIEWS_TEACHER_FILES: [(&str, &str); 2] = [
    ("views_digest_prefs", "digest-prefs.jsonl"),
    ("views_digests", "digests.jsonl"),
];

/// What erasing the learner `person_key` does to one line of the views'
/// records: a record about them goes; a group keeps its other members.
fn erase_from_line(line: &[u8], person_key: &str) -> LineEdit {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(line) else {
        return LineEdit::Keep;
    };
    if v["person_key"] == person_key {
        return LineEdit::Drop;
    }
    let Some(members) = v.get_mut("members").and_then(|m| m.as_array_mut()) else {
        return LineEdit::Keep;
    };
    let before = members.len();
    members.retain(|m| m != person_key);
    if members.len() == before {
        return LineEdit::Keep;
    }
    LineEdit::Replace(serde_json::to_vec(&v).expect("JSON serialises"))
}

/// The filter as a DataFusion expression over the table's columns.
fn expr(f: &RowFilter) -> Expr {
    match f {
        RowFilter::Eq(c, v) => col(*c).eq(lit(v.as_str())),
        RowFilter::AtOrBefore(c, at) => col(*c).lt_eq(lit(ScalarValue::TimestampMicrosecond(
            Some(*at),
            Some("UTC".into()),
        ))),
        RowFilter::All(fs) => fs.iter().map(expr).reduce(Expr::and).unwrap_or(lit(true)),
        RowFilter::Any(fs) => fs.iter().map(expr).reduce(Expr::or).unwrap_or(lit(false)),
    }
}

/// Deletes the purge's rows from every table of `lake` (tables not
/// created yet are skipped) and vacuums what is older than `keep`. With
/// `dry_run` it only counts. Returns the rows deleted (or matching) per table.
pub async fn purge(
    lake: &Lake,
    purge: &Purge,
    keep: chrono::Duration,
    dry_run: bool,
) -> Result<Removed, StoreError> {
    let mut removed = Removed::new();
    for (name, filter) in purge.per_table() {
        let Some(table) = open_existing(lake, name).await? else {
            continue;
        };
        let failed = table_error(name);
        let predicate = expr(&filter);
        let provider = table
            .table_provider()
            .await
            .map_err(|e| failed("read", e.into()))?;
        let matching = SessionContext::new()
            .read_table(provider)
            .and_then(|df| df.filter(predicate.clone()))
            .map_err(|e| failed("plan the purge of", e.into()))?
            .count()
            .await
            .map_err(|e| failed("count the rows to purge in", e.into()))?;
        removed.insert(name, matching as u64);
        if dry_run {
            continue;
        }
        let table = if matching > 0 {
            table
                .delete()
                .with_predicate(predicate)
                .await
                .map_err(|e| failed("delete from", e))?
                .0
        } else {
            table
        };
        // Also when nothing matched now: files of earlier purges may have
        // aged past `keep` since.
        table
            .vacuum()
            .with_retention_period(keep)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| failed("vacuum", e))?;
    }
    if let Purge::Learner { person_key, .. } = purge {
        for (name, file) in VIEWS_FILES {
            let gone = lake
                .edit_lines(VIEWS_DIR, file, dry_run, &|line| {
                    erase_from_line(line, person_key)
                })
                .await?;
            removed.insert(name, gone);
        }
    }
    Ok(removed)
}

/// Appends `audit` to the lake's erasure log (synced to disk in a local
/// lake).
pub async fn append_audit(lake: &Lake, audit: &ErasureAudit) -> Result<(), StoreError> {
    let line = serde_json::to_vec(audit).expect("audit serialises");
    lake.append_line(AUDIT_DIR, AUDIT_FILE, &line).await
}
